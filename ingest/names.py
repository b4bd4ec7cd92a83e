"""The names a paper defines, found at ingest, and the index of them that questions resolve against.

A paper *defines* a name when its title opens with it ("Scissorhands: Exploiting ..."), when its
abstract introduces it ("... which we call KIVI", "Hydragen, a hardware-aware ...", "a method
named LoRA-GA", "Segment Anything Model (SAM)") or when its title holds a name-shaped word
(inner capitals or digits: "TinySAM", "FlashAttention-2"). The names are computed per paper at
ingest and kept in the paper's chunk-0 metadata, so they are written, replaced and deleted with
the paper, in whichever Chroma (embedded or a server) holds it. :class:`NameIndex` gathers them
when the store's revision changes, like the BM25 index; a question never rescans the corpus.

A name that many papers define ("LLMs", "LoRA", "RAG") is vocabulary, not one paper's name: the
index keeps a definition only when at most ``max_definers`` papers make it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# Bump when the extraction changes: it is part of every paper's metadata hash, so the next
# ingest rewrites the names of a store built before (metadata only, no re-embedding).
NAMES_VERSION = 1
WEAK = "~"  # prefix of a name taken from a name-shaped title word
ABBREVIATION = "="  # prefix of a name the abstract introduces or an acronym it defines
_KINDS = WEAK + ABBREVIATION

_HEAD_MAX_WORDS = 4
_HEAD_MAX_CHARS = 40
_ACRONYM = re.compile(r"\(\s*([A-Z][A-Za-z0-9\-^]*[A-Z0-9][A-Za-z0-9\-^]*)\s*[,;)]")
_INTRODUCED = re.compile(
    r"\b(?:named|called|dubbed|termed|coined|call (?:it|this|our \w+)|name (?:it|this))\s+"
    r"[\"'“]?([A-Z][A-Za-z0-9^]*(?:[-_][A-Za-z0-9^]+)*)"
)
# "We propose Hydragen, a ...", "We present TinySAM, ...", "... introduce KIVI: ..."
_PROPOSED = re.compile(
    r"\b(?:propose|present|introduce|develop|design|release|build)s?\s+"
    r"([A-Z][A-Za-z0-9^]*(?:[-_][A-Za-z0-9^]+)*)\s*[,:(]"
)
# How names and questions are split into words (rag/analysis.py uses it too).
TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9^]*(?:[-_.][A-Za-z0-9^]+)*")
_KEY = re.compile(r"[^0-9a-z]+")
# Words that open a title head without being a name.
_NOT_NAMES = frozenset(
    "a an the on of in to for and towards toward beyond rethinking revisiting understanding "
    "we our this these it".split()
)


def name_key(text: str) -> str:
    """How names are compared: case-folded, separators dropped ("TPI-LLM" -> "tpillm")."""
    return _KEY.sub("", text.casefold())


def is_name_shaped(word: str) -> bool:
    """Written like a name: a capital inside a word part, or a digit (KIVI, LoRA, GPT-4,
    TinySAM, T3, TPI-LLM); title-case compounds ("High-Throughput") are not."""
    if len(word) < 2 or not any(c.isalpha() for c in word):
        return False
    parts = re.split(r"[-_.]", word)
    return any(c.isdigit() for c in word) or any(
        len(p) >= 2 and any(c.isupper() for c in p[1:]) for p in parts)


def title_head(title: str) -> str:
    """The name before a title's colon ("KIVI" from "KIVI: A Tuning-Free ..."), or ""."""
    head, sep, _ = title.partition(":")
    head = head.strip()
    if not sep or not head or len(head) > _HEAD_MAX_CHARS:
        return ""
    if len(head.split()) > _HEAD_MAX_WORDS or head.split()[0].casefold() in _NOT_NAMES:
        return ""
    return head


def paper_names(title: str, abstract: str) -> list[str]:
    """Names the paper defines, strongest first: its own name (the title head), then names it
    introduces, acronyms it defines and their expansions (prefixed ``=``), then name-shaped title
    words (prefixed ``~``). The prefixed kinds count as the paper's names only when the corpus
    rarely mentions them (see :meth:`NameIndex.build`)."""
    strong: list[str] = []
    head = title_head(title)
    if head:
        strong.append(head)
    defined: list[str] = []
    for pattern in (_INTRODUCED, _PROPOSED):
        for found in pattern.finditer(abstract):
            word = found.group(1).rstrip("-_")
            if is_name_shaped(word) or name_key(word) in name_key(title):
                defined.append(ABBREVIATION + word)
    for found in _ACRONYM.finditer(abstract):
        acronym = found.group(1)
        defined.append(ABBREVIATION + acronym)
        expansion = _expansion(abstract[: found.start()], acronym)
        if expansion:
            defined.append(ABBREVIATION + expansion)
    weak = [WEAK + w for w in TOKEN.findall(title.partition(":")[2] if head else title)
            if is_name_shaped(w)]
    out: dict[str, str] = {}
    for name in strong + defined + weak:
        key = name_key(name.lstrip(_KINDS))
        if len(key) >= 2 and key not in out:
            out[key] = name
    return list(out.values())


def spellings(name: str) -> list[str]:
    """The ways a name may be written in running text: as it is, and with its camel-case parts
    apart ("KVCache" -> "KV Cache"), so that counting mentions sees both."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", name)
    split = " ".join(parts)
    return [name] if not parts or name_key(split) != name_key(name) or split == name \
        else [name, split]


def _expansion(before: str, acronym: str) -> str:
    """The words an acronym abbreviates, when their initials spell it: "Segment Anything Model"
    before "(SAM)"."""
    letters = [c for c in acronym if c.isupper()]
    if len(letters) < 2:
        return ""
    words = re.findall(r"[A-Za-z][A-Za-z0-9\-]*", before)[-len(letters):]
    if len(words) != len(letters):
        return ""
    initials = "".join(w[0].upper() for w in words)
    return " ".join(words) if initials == "".join(letters) else ""


@dataclass
class NameIndex:
    """Names the corpus defines, by :func:`name_key`, to the papers that define them."""

    defined: dict[str, list[str]] = field(default_factory=dict)
    display: dict[str, str] = field(default_factory=dict)  # key -> the name as a paper writes it
    max_words: int = 1  # longest name, in words
    first_words: frozenset[str] = frozenset()  # keys of the first word of multi-word names

    @classmethod
    def build(
        cls,
        names_by_paper: Iterable[tuple[str, list[str]]],
        mentions: Callable[[str], int],
        *,
        max_definers: int = 3,
        max_mentions: int = 3,
    ) -> NameIndex:
        """``mentions(name)`` is the number of papers whose text holds the name. A paper's own
        names count when at most ``max_definers`` papers claim them; an acronym or a title word
        counts only when, besides, at most ``max_mentions`` papers mention it at all ("LLMs",
        "KD" and "3D" are vocabulary, "KIVI" and "TinySAM" are names)."""
        claims: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        display: dict[str, str] = {}
        for pid, names in names_by_paper:
            for name in names:
                kind = name[0] if name[:1] in (WEAK, ABBREVIATION) else ""
                plain = name.lstrip(_KINDS)
                key = name_key(plain)
                if key:
                    claims[key][kind].add(pid)
                    display.setdefault(key, plain)
        defined: dict[str, list[str]] = {}
        for key, by_kind in claims.items():
            own = by_kind.get("", set())
            if own:
                if len(own) <= max_definers:
                    defined[key] = sorted(own)
                continue
            others = set().union(*by_kind.values())
            mentioned = max(mentions(s) for s in spellings(display[key]))
            if len(others) <= max_definers and mentioned <= max_mentions:
                defined[key] = sorted(others)
        # In words as questions are split into them (rag/analysis.py uses the same pattern):
        # "Computation-Efficient Era" is two, "Mélange" is "M" + "lange".
        split = {k: TOKEN.findall(display[k]) for k in defined}
        words = max((len(w) for w in split.values()), default=1)
        firsts = frozenset(name_key(w[0]) for w in split.values() if len(w) > 1)
        return cls(defined, {k: display[k] for k in defined}, words, firsts)

    def lookup(self, text: str) -> list[str]:
        """Ids of the papers that define ``text`` as a name (empty when none does)."""
        return self.defined.get(name_key(text), [])

    def __len__(self) -> int:
        return len(self.defined)
