"""What the answer engine hands back: one shape for every answerer, UI, CLI and eval."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Narrow retrieval to some papers. Empty fields filter nothing."""

    sources: tuple[str, ...] = ()  # source file names (e.g. "000_6576179ae93507a9.txt")
    has_code: bool | None = None  # True: only papers with a code/project link
    date_from: str = ""  # ISO date prefix, inclusive, where the source has dates
    date_to: str = ""
    author: str = ""  # case-insensitive substring of an author name
    category: str = ""  # exact category, e.g. "cs.CL"

    @property
    def empty(self) -> bool:
        return self == Filters()


@dataclass
class RetrievedPaper:
    """A paper found for a query, with the evidence that found it."""

    rank: int
    paper_id: str
    title: str
    score: float  # fused score (higher is better)
    dense: float | None = None  # best chunk's cosine similarity to the query
    bm25: float | None = None  # BM25 score of the paper
    passages: list[str] = field(default_factory=list)  # best-matching chunk texts, best first
    abstract: str = ""
    urls: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Citation:
    """Source ``[n]`` of an answer: a retrieved paper and the passage that supports the claim."""

    n: int
    paper_id: str
    title: str
    urls: list[str]
    passage: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TableRow:
    """One row of an answer's table: a paper (source ``[n]``) or a named item that is missing
    (``n`` 0, no paper). ``cells`` by column: paper, problem, approach, result, code."""

    paper_id: str
    n: int
    cells: dict[str, str]


@dataclass
class Flag:
    """A sentence of an LLM answer that failed a citation check."""

    sentence: str
    reason: str  # "no citation" | "unsupported by [n]" | "cited a source that does not exist"


@dataclass
class CheckedSentence:
    """One sentence of an LLM answer and the verdict of the support check (``rag.support``)."""

    text: str  # the sentence without its citation marks
    cites: list[int]  # sources it cites after the check (corrected or added ones included)
    verdict: str  # "supported" | "corrected" | "added" | "unsupported"
    support: float  # support score of the best passage (calibrated: see rag.support)
    passage: str  # the supporting passage (for "unsupported": the nearest one, for context)
    written: list[int] = field(default_factory=list)  # the citations the model wrote
    reason: str = ""  # why it is unsupported or was corrected, in words

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """An answer: markdown with ``[n]`` citations that all resolve to ``citations``."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    query: str = ""  # what was searched: a follow-up condensed with the conversation
    refused: bool = False  # coverage == "declined"
    coverage: str = "answered"  # "answered" | "partial" | "declined"
    missing: list[str] = field(default_factory=list)  # what the corpus lacks, in words
    reason: str = ""  # why the answer is partial or declined, one sentence
    probability: float | None = None  # calibrated P(the corpus covers the question)
    closest: list[RetrievedPaper] = field(default_factory=list)  # shown when refused
    flags: list[Flag] = field(default_factory=list)
    table: list[TableRow] = field(default_factory=list)  # rows of the answer's table, if any
    notices: list[str] = field(default_factory=list)  # e.g. "question truncated", "LLM down"
    answerer: str = "extractive"
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, and "total"
    sentences: list[CheckedSentence] = field(default_factory=list)  # LLM answers: verdicts
    # The layout the answer took: "one_paper" | "survey" | "comparison" | "open" (the
    # extractive answerer's composition; an LLM answer's is the decision's); "" when declined.
    shape: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The CLI's ``--json`` shape (plus a few extra fields)."""
        return {
            "answer": self.text,
            "query": self.query,
            "citations": [c.as_dict() for c in self.citations],
            "refused": self.refused,
            "coverage": self.coverage,
            "missing": self.missing,
            "reason": self.reason,
            "probability": self.probability,
            "timings": self.timings,
            "closest": [{"paper_id": p.paper_id, "title": p.title, "score": p.score}
                        for p in self.closest],
            "flags": [asdict(f) for f in self.flags],
            "table": [asdict(r) for r in self.table],
            "notices": self.notices,
            "answerer": self.answerer,
            "shape": self.shape,
            "sentences": [s.as_dict() for s in self.sentences],
        }
