"""The one interface every answerer (extractive or LLM) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from paperchat.rag.analysis_types import Decision, QuestionAnalysis
from paperchat.rag.types import Answer, RetrievedPaper

History = list[tuple[str, str]]


@dataclass
class Context:
    """What an answerer is given: the question, the standalone query and the retrieved papers."""

    question: str  # as the user asked it (after truncation)
    query: str  # standalone form (follow-ups rewritten); what retrieval and scoring use
    papers: list[RetrievedPaper]
    query_vector: np.ndarray
    history: History = field(default_factory=list)
    # The question analysis and the answerability decision (shape, pinned named papers).
    analysis: QuestionAnalysis | None = None
    decision: Decision | None = None


class Answerer(ABC):
    """Writes an answer from retrieved papers. ``stream`` yields text pieces, then the Answer."""

    name: str = "answerer"

    @abstractmethod
    def stream(self, ctx: Context) -> Iterator[str | Answer]:
        """Text as it is produced, then the final :class:`Answer` (always last, always once)."""
