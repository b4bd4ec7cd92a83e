"""What question analysis and the answerability decision hand to answerers, UI, CLI and eval.

The analysis itself lives in ``rag/analysis.py``; the decision in ``rag/answerability.py``.
These are plain data, so answerers can depend on them without importing either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# What the question asks for, from its wording alone: "single" asks for one thing ("Which method
# ...", "Is there a way to ..."), "about" is about what it names.
Form = Literal["comparison", "survey", "single", "about", "open"]
# How an answer should be composed, once retrieval has been seen: about one paper (named, or
# one paper clearly ahead of the rest), a survey of a technique, a comparison of named items,
# or an open question.
Shape = Literal["one_paper", "survey", "comparison", "open"]
Coverage = Literal["answered", "partial", "declined"]


@dataclass
class NamedItem:
    """A name the question uses (KIVI, Scissorhands, Mistral 7B), resolved against the corpus."""

    text: str  # as written in the question
    defined_by: list[str] = field(default_factory=list)  # paper ids whose title/acronym is it
    mentioned_by: list[str] = field(default_factory=list)  # paper ids that only mention it

    @property
    def known(self) -> bool:
        return bool(self.defined_by or self.mentioned_by)

    @property
    def papers(self) -> list[str]:
        """Papers to answer about this name from: those that define it, else those that mention
        it."""
        return self.defined_by or self.mentioned_by


@dataclass
class Detail:
    """A specific detail the question asks for ("learning rate", "how many GPUs")."""

    kind: str  # e.g. "hyperparameters", "gpu count", "dataset"; "asked": any other thing
    words: str  # how the answer talks about it: "its training hyperparameters"
    term: str = ""  # kind "asked": the stem an abstract that gives it holds ("error")
    # kind "asked" of "how many" / "how much": the abstract must give a number with the term
    # ("12 annotators"), not merely use the word ("annotations")
    counted: bool = False
    # kind "choice" ("is X written in Python or Java"): the options; given when one is named
    options: tuple[str, ...] = ()
    # the question asks what a method saves ("how much training time does X save"): a
    # percentage or factor in the abstract gives it
    relative: bool = False


@dataclass
class QuestionAnalysis:
    """Names, salient terms, the detail asked for and the form of a question."""

    question: str
    names: list[NamedItem] = field(default_factory=list)
    salient: list[tuple[str, float]] = field(default_factory=list)  # (term, idf), rarest first
    unknown_terms: list[str] = field(default_factory=list)  # salient terms no paper contains
    detail: Detail | None = None  # the first of ``details``
    details: list[Detail] = field(default_factory=list)  # every detail asked for
    form: Form = "open"

    @property
    def known_names(self) -> list[NamedItem]:
        return [n for n in self.names if n.known]

    @property
    def unknown_names(self) -> list[NamedItem]:
        return [n for n in self.names if not n.known]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Decision:
    """Whether and how to answer: the outcome, what the corpus lacks, and why."""

    coverage: Coverage
    shape: Shape
    missing: list[str] = field(default_factory=list)  # what the corpus lacks, in words
    reason: str = ""  # one sentence for the user, e.g. "No paper in the corpus mentions X."
    probability: float = 1.0  # calibrated P(the corpus covers the question)
    features: dict[str, float] = field(default_factory=dict)
    pinned: list[str] = field(default_factory=list)  # paper ids the answer must cover (named)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
