"""Abstract sentences with their roles and embeddings, kept in an LRU in front of the store.

The extractive answerer and the citation checks both compare a question or a claim with the
sentences of a few retrieved abstracts. Ingest stores every sentence's vector and role
(``ingest/sentence_index.py``), so an answer reads them with one store call and keeps them in
memory while the paper keeps being retrieved. Stores built before that have no sentences: their
papers' sentences are embedded on first use (with a notice), saved beside the store keyed by
the model and the abstract's text, so that later processes need not embed them again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paperchat.rag.text import split_sentences

if TYPE_CHECKING:
    from paperchat.ingest.embedder import Embedder
    from paperchat.ingest.sentence_index import StoredSentences

# Reads stored sentences: (paper ids, each paper's number of sentences) -> what the store holds.
Stored = Callable[[list[str], dict[str, int]], "dict[str, StoredSentences]"]
FALLBACK_NOTICE = ("This store was built before sentence vectors were stored at ingest, so this "
                   "answer embedded its papers' sentences first; run `paperchat ingest` again "
                   "once to store them.")

_log = logging.getLogger(__name__)

# Discourse openers that can be dropped without changing what a sentence claims.
_OPENERS = re.compile(
    r"^(?:however|moreover|furthermore|additionally|in addition|specifically|to this end|"
    r"nevertheless|nonetheless|yet|instead|in contrast|on the other hand|"
    r"finally|consequently|therefore|thus|hence|notably|importantly|in particular|"
    r"in essence|in short|in summary|concretely|intuitively|technically|empirically|"
    r"in this (?:paper|work|study)|in this regard|as a result|overall|besides|meanwhile|"
    r"to address (?:this|these)(?: issues?| challenges?| limitations?| problems?| gaps?)?|"
    r"to tackle (?:this|these)(?: issues?| challenges?)?|building on this)\s*,\s*",
    re.IGNORECASE,
)


def capitalise(text: str) -> str:
    """``text`` with a capital first letter, unless its first word is a name written in mixed
    case ("vAttention", "vLLM", "iPhone"), which keeps its own spelling."""
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    if any(c.isupper() for c in first[1:]):
        return text
    return text[:1].upper() + text[1:]


def shorten(sentence: str) -> str:
    """A faithful shortening: the sentence without a leading discourse opener ("However, ")."""
    short = _OPENERS.sub("", sentence, count=1)
    if short != sentence and short:
        short = capitalise(short)
    return short


@dataclass(frozen=True)
class PaperSentences:
    paper_id: str
    sentences: list[str]
    vectors: np.ndarray  # (len(sentences), dim), unit length
    roles: list[str] = field(default_factory=list)  # problem | method | result | other

    def __post_init__(self) -> None:
        if len(self.roles) != len(self.sentences):
            from paperchat.ingest.roles import tag_roles

            object.__setattr__(self, "roles", list(tag_roles(self.sentences)))


class SentenceBank:
    """Per-paper sentence splits and embeddings: computed on first use, kept in a bounded LRU
    and, when given a folder, on disk (so the next process starts warm)."""

    def __init__(
        self, embedder: Embedder, folder: Path | None = None, capacity: int = 4096,
        stored: Stored | None = None,
    ) -> None:
        self.embedder = embedder
        self.folder = folder
        self.capacity = capacity
        self.stored = stored  # reads sentences the ingest stored: the usual source
        self._cache: OrderedDict[str, PaperSentences] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, paper_id: str, abstract: str) -> str:
        digest = hashlib.sha1(f"{self.embedder.name}\n{abstract}".encode()).hexdigest()[:16]
        return f"{paper_id}-{digest}"

    def get(self, papers: Sequence[tuple[str, str]],
            notices: list[str] | None = None) -> dict[str, PaperSentences]:
        """Sentences of each (paper_id, abstract): from memory, else from the store (one read
        for all), else embedded in one batch (``notices`` then gets a line saying so)."""
        out: dict[str, PaperSentences] = {}
        unseen: list[tuple[str, str, str]] = []
        for pid, abstract in papers:
            key = self.key(pid, abstract)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
            if hit is None:
                unseen.append((pid, abstract, key))
            else:
                out[pid] = hit
        splits = {pid: split_sentences(abstract) for pid, abstract, _ in unseen}
        stored = self.stored([pid for pid, _, _ in unseen],
                             {pid: len(s) for pid, s in splits.items()}) \
            if unseen and self.stored else {}
        missing: list[tuple[str, str, str]] = []
        for pid, abstract, key in unseen:
            held = stored.get(pid)
            hit = None
            if held is not None and held.sentences == splits[pid]:
                hit = PaperSentences(pid, held.sentences, held.vectors, list(held.roles))
            if hit is None:
                hit = self._load(key, pid)
            if hit is None:
                missing.append((pid, abstract, key))
            else:
                self._remember(key, hit)
                out[pid] = hit
        if missing and notices is not None and self.stored is not None:
            notices.append(FALLBACK_NOTICE)
        if missing:
            splits = [split_sentences(abstract) for _, abstract, _ in missing]
            vectors = self.embedder.embed([s for sents in splits for s in sents])
            start = 0
            for (pid, _, key), sents in zip(missing, splits, strict=True):
                entry = PaperSentences(pid, sents, vectors[start:start + len(sents)])
                start += len(sents)
                self._remember(key, entry)
                self._save(key, entry)
                out[pid] = entry
        return out

    def warm(self, papers: Sequence[tuple[str, str]], batch: int = 64,
             stop: threading.Event | None = None) -> int:
        """Embed every paper not cached yet, in batches, until done or ``stop`` is set; returns
        how many papers were embedded."""
        todo = [(pid, abstract) for pid, abstract in papers
                if not self._has(self.key(pid, abstract))]
        done = 0
        for start in range(0, len(todo), batch):
            if stop is not None and stop.is_set():
                break
            self.get(todo[start:start + batch])
            done += len(todo[start:start + batch])
        return done

    def _has(self, key: str) -> bool:
        with self._lock:
            if key in self._cache:
                return True
        return self.folder is not None and (self.folder / f"{key}.npz").is_file()

    def _remember(self, key: str, entry: PaperSentences) -> None:
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)

    def _load(self, key: str, paper_id: str) -> PaperSentences | None:
        if self.folder is None:
            return None
        try:
            with np.load(self.folder / f"{key}.npz") as data:
                return PaperSentences(paper_id, [str(s) for s in data["sentences"]],
                                      np.asarray(data["vectors"], dtype=np.float32))
        except (OSError, ValueError, KeyError):  # absent, or half-written by a killed process
            return None

    def _save(self, key: str, entry: PaperSentences) -> None:
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{key}.{os.getpid()}.{threading.get_ident()}.npz"
            np.savez(tmp, sentences=np.array(entry.sentences, dtype=str), vectors=entry.vectors)
            os.replace(tmp, self.folder / f"{key}.npz")  # readers never see half a file
        except OSError as exc:  # a read-only home only costs speed: the LRU holds the entry
            _log.warning("cannot save sentence vectors in %s: %s", self.folder, exc)


# -- shortening at clause boundaries -----------------------------------------------------------

_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=--\s)|(?<=\s--)\s+|(?<= that)\s+")
# "that" ends a clause only after a verb of showing ("results show that | X is faster").
_SHOW_THAT = re.compile(r"\b(?:show|shows|showing|demonstrate|demonstrates|demonstrating|"
                        r"reveal|reveals|indicate|indicates|confirm|confirms|find|finds|found) "
                        r"that$", re.IGNORECASE)
# A span that starts inside a phrase ("including X,", "such as Y,") does not read on its own.
_MID_PHRASE = re.compile(r"^(?:including|such as|such that|so that|e\.g|i\.e|especially|"
                         r"particularly|like|respectively|and|or|as well as|with|without|where|"
                         r"when|whereas|while|as|by|for|from|to|in|on|at|of|via|than|[a-z]+ing)\b")
# A first clause that sets the scene for the sentence's subject ("Inspired by X, we ..."): what
# a shortened sentence drops first. ("By using X, we ..." is the method itself and stays.)
_FRAME = re.compile(r"(?i)^(?:inspired|motivated|guided|driven) by\b|^(?:building|drawing) "
                    r"(?:on|upon|from)\b|^(?:based on|unlike|in contrast to|compared (?:to|with)|"
                    r"similar to|as opposed to|following|in line with)\b")
# A trailing purpose clause that points back ("..., to address this challenge.").
_BACK_TAIL = re.compile(
    r",?\s+(?:in order )?to (?:address|tackle|overcome|solve|mitigate|alleviate|remedy|fill|"
    r"bridge|resolve|meet|handle) (?:this|these|that|those|such|the above)(?: \w+){0,2}"
    r"(?=[.;]?$)",
    re.IGNORECASE,
)
_LEADING_JOINER = re.compile(r"^(?:(?:and|but|or|while|whereas|which|thereby|thus|so|then|"
                             r"respectively)\b\s*,?\s*|(?:show|shows|showing|demonstrate|"
                             r"demonstrates|demonstrating|reveal|reveals|indicate|indicates|"
                             r"confirm|confirms|find|finds|found) that\s+)+", re.IGNORECASE)
# A connective that points back ("To address this issue,", "Based on these findings,"): cut
# with its comma, the rest of the sentence stands alone.
_BACK_CONNECTIVE = re.compile(
    r"^(?:(?:to|in order to) (?:address|tackle|overcome|solve|fill|bridge|close|mitigate|"
    r"remedy|alleviate|resolve|handle|meet|fix)\b[^,]{0,80}?\b(?:this|these|that|those|such|"
    r"the (?:gap|issue|problem|challenge|limitation)s?)\b[^,]{0,60}|"
    r"(?:based on|motivated by|inspired by|given|building on|despite|with|following|from|"
    r"guided by|driven by) (?:this|these|that|those|such)\b[^,]{0,60}|"
    r"to (?:this|that) end|in this way|by doing so|as such|for this (?:reason|purpose)|"
    r"in light of (?:this|these)[^,]{0,60}|to (?:do|achieve) (?:this|so)|"
    r"to fill (?:this|the) gap[^,]{0,40}),\s*",
    re.IGNORECASE,
)
# A sentence that opens pointing back at the one before it ("This results in ...",
# "These models enable ..."), unless it points at the paper itself ("This paper ...").
_POINTS_BACK = re.compile(
    r"^(?:(?:this|these|those|that|such)\b(?!\s+(?:paper|work|study|article|survey|report|"
    r"thesis)\b)|(?:it|its|they|their|them|both|the latter|the former|the resulting|"
    r"the above|as a result|consequently|accordingly|then|second(?:ly)?|third(?:ly)?|"
    r"next|finally|also|further|thus|hence|therefore|in turn|together)\b|"
    r"(?:first(?:ly)?,|\(1\)|1\)|\(i\)))",
    re.IGNORECASE,
)


def cut_back_connective(sentence: str) -> str:
    """The sentence without an opener that points back ("To address this, we ..." -> "We
    ..."), and without a leading discourse opener ("However, ...")."""
    short = _BACK_CONNECTIVE.sub("", sentence, count=1)
    short = _OPENERS.sub("", short, count=1)
    short = _BACK_TAIL.sub("", short, count=1)
    if short != sentence and short:
        short = capitalise(short)
    return short


# Openers that relate a sentence to the one before it, so that it means little without it.
_RELATES_BACK = re.compile(r"^(?:in contrast|by contrast|conversely|on the other hand|similarly|"
                           r"likewise|instead|in comparison|unlike (?:this|these|that|them|it))\b",
                           re.IGNORECASE)


def points_back(sentence: str) -> bool:
    """True when the sentence, once its connective is cut, still needs the one before it."""
    return bool(_RELATES_BACK.match(sentence.strip())
                or _POINTS_BACK.match(cut_back_connective(sentence)))


# A sentence that announces what the next one lists ("we introduce two principal techniques.",
# "The key insights are two folds.", "... as follows:").
_POINTS_AHEAD = re.compile(
    r"(?:\b(?:two|three|four|five|several)\s+(?:[\w-]+\s+){0,2}(?:techniques|innovations|"
    r"contributions|components|steps|stages|phases|parts|ideas|insights|strategies|mechanisms|"
    r"modules|observations|findings|challenges|questions|problems|folds?|aspects|designs|"
    r"principles|optimi[sz]ations|methods|approaches|lessons)|"
    r"as follows|the following)\s*[.:]$|:$", re.IGNORECASE)


def points_ahead(sentence: str) -> bool:
    """True when the sentence announces a list the next sentence gives."""
    return bool(_POINTS_AHEAD.search(sentence.strip()))


def clauses(sentence: str) -> list[str]:
    """The sentence cut at clause boundaries (after ",", ";", ":", around "--"); joined with
    single spaces they give the sentence back."""
    parts: list[str] = []
    for piece in _CLAUSE_END.split(" ".join(sentence.split())):
        if not piece:
            continue
        # "..., named MobileQuant, that extends ...": a "that" left alone by the comma before
        # it opens the next clause and stays with it.
        if parts and (parts[-1].endswith(" that") or parts[-1].casefold() == "that") \
                and not _SHOW_THAT.search(parts[-1]):
            parts[-1] += " " + piece
        else:
            parts.append(piece)
    return parts


def _in_list(parts: list[str], i: int) -> bool:
    """Whether the cut before ``parts[i]`` falls inside a list ("Llama, Falcon, and Mistral")
    rather than between clauses."""
    def item(k: int) -> bool:  # "Falcon," in "Llama, Falcon, and Mistral"
        return 0 < k < len(parts) and len(parts[k].split()) <= 2 and parts[k].endswith(",")

    return item(i - 1) or item(i) or (
        parts[i - 1].endswith(",") and bool(re.match(r"(?i)(?:and|or)\b", parts[i])))


def clip(sentence: str, max_words: int, prefer: Callable[[str], float] | None = None,
         *, keep_start: bool = False) -> str:
    """A shortening of ``sentence`` to at most ``max_words`` words that keeps a run of whole
    clauses: the run ``prefer`` scores highest (longer wins ties); with ``keep_start``, a run
    from the sentence's start (its subject stays; for prose). Only words of the sentence remain;
    a clause longer than the limit is kept whole rather than cut mid-clause."""
    text = " ".join(sentence.split()) if keep_start else cut_back_connective(
        " ".join(sentence.split()))
    if len(text.split()) <= max_words:
        return text
    parts = clauses(text)
    if keep_start and len(parts) > 1 and _FRAME.match(parts[0]) \
            and not _MID_PHRASE.match(parts[1]):
        # "Inspired by the classical robust-PCA algorithm, we propose Scatterbrain, a way to
        # ...": the sentence's subject is in its second clause; the first only sets the scene.
        return clip(capitalise(" ".join(parts[1:])), max_words, prefer, keep_start=True)
    best, best_score = parts[0], -float("inf")
    for i in range(1 if keep_start else len(parts)):
        if i > 0 and _in_list(parts, i):
            continue
        for j in range(i + 1, len(parts) + 1):
            if j < len(parts) and _in_list(parts, j):
                continue
            span = " ".join(parts[i:j])
            n = len(span.split())
            score = (prefer(span) if prefer else 0.0) + 0.01 * min(n, max_words) \
                - 0.03 * max(0, n - max_words) - (0.3 if re.match(r"(?i)to |in order", span)
                                                     else 0.0) \
                - (0.6 if i > 0 and _MID_PHRASE.match(span) else 0.0)
            if score > best_score:
                best, best_score = span, score
            if n > max_words:
                break
    best = _LEADING_JOINER.sub("", best.strip()).rstrip(",;: -")
    if best and best[-1].isalnum() and text.rstrip().endswith(".") and \
            text.rstrip().endswith(best + "."):
        best += "."
    return capitalise(best) if best else text
