"""The two text units answers are made of: sentences and citation marks. One of each.

Chunking at ingest, the sentence index, the answerers, the citation checker, the UI's renderer
and the eval metrics all split and read text with these, so a sentence or a ``[1, 2]`` means the
same thing everywhere. Written here rather than taken from llama-index or nltk: abstracts are
full of decimals ("2.6x"), "e.g." and "et al." that a generic splitter breaks on, and no library
knows our citation marks.
"""

from __future__ import annotations

import re

# Abbreviations whose full stop does not end a sentence.
_ABBREVIATIONS = re.compile(
    r"\b(e\.g|i\.e|et al|etc|vs|cf|Fig|Figs|Eq|Eqs|Sec|Tab|approx|resp|No|Dr|Mr|Ms|St)\.",
    re.IGNORECASE,
)
_DOT = "\u2024"  # one-dot leader: stands in for a protected full stop while splitting
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")

# A citation mark: "[1]", "[1, 2]" or "[1; 3]". Adjacent marks ("[1][4]") are two matches.
CITATION_MARK = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
# The same mark with the space before it, for removing marks from a sentence.
_SPACED_MARK = re.compile(r"\s*" + CITATION_MARK.pattern)
# Marks that open a piece of text ("[2] This..." after a split): they belong to the text before.
LEADING_MARKS = re.compile(r"^((?:\s*" + CITATION_MARK.pattern + r")+)[\s.,;:]*")
# A label that cites for the sentences after it: "KIVI [1]: ..." or "**KIVI** [1]: ...".
CITED_LABEL = re.compile(r"^([^\[\]]{1,120}?)((?:\s*" + CITATION_MARK.pattern + r")+)\s*:\s*")


def split_sentences(text: str) -> list[str]:
    """Sentences of an abstract, in order; abbreviations and decimals do not split."""
    text = " ".join(text.split())
    if not text:
        return []
    protected = _ABBREVIATIONS.sub(lambda m: m.group(0)[:-1] + _DOT, text)
    protected = re.sub(r"(?<=\d)\.(?=\d)", _DOT, protected)
    parts = _BOUNDARY.split(protected)
    return [p.replace(_DOT, ".").strip() for p in parts if p.strip()]


def mark_numbers(group: str) -> list[int]:
    """The numbers inside one mark's brackets: "1, 2" -> [1, 2]."""
    return [int(n) for n in re.split(r"\s*[,;]\s*", group.strip())]


def cited_numbers(text: str) -> list[int]:
    """Every number cited in ``text``, in order, repeats included.

    "A [1]. B [2, 3][1]" gives [1, 2, 3, 1].
    """
    return [n for group in CITATION_MARK.findall(text) for n in mark_numbers(group)]


def strip_marks(text: str) -> str:
    """``text`` without its citation marks (and the space before each)."""
    return _SPACED_MARK.sub("", text).strip()
