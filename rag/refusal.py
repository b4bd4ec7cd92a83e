"""When to say "the corpus has no paper on this": weak dense evidence and no named match.

Dense similarity alone misjudges terse questions about a named method: "what is MiniCPM?" sits
at 0.39 against the MiniCPM paper, below questions about topics the corpus lacks. A name the
question spells the way names are spelled (an acronym or a word with inner capitals or digits:
MiniCPM, RAG, PC-DARTS, LoRA, GPT-4) that the top paper's title or abstract contains is evidence
that dense similarity cannot see, as long as the name is rare in the corpus ("LLM" is in a
quarter of the abstracts and says nothing about any one of them).

Questions in a user's own words sit low too (0.40-0.47 on the dev split's paraphrase questions,
where near-miss unanswerable ones also sit), but several of their words still co-occur in the
one paper that answers them, so its BM25 score is high (6.8-8.3 there, against at most 5.7 for
every unanswerable dev question under 0.45). Strong lexical evidence therefore also vetoes a
refusal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from rag.types import RetrievedPaper

# A name held by more than this share of the papers is vocabulary, not a name.
RARE_SHARE = 0.05

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*")


def named_terms(question: str) -> list[str]:
    """Tokens written like names: inner capitals or digits (MiniCPM, RAG, GPT-4, LoRA)."""
    out = []
    for token in _TOKEN.findall(question):
        body = token[1:]
        if len(token) >= 2 and (any(c.isupper() for c in body) or any(c.isdigit() for c in token)):
            out.append(token)
    return out


def names_match(question: str, paper: RetrievedPaper, share: Callable[[str], float]) -> bool:
    """Whether a rare name in the question appears, as a whole word, in the paper's title or
    abstract. ``share(name)`` is the share of the corpus's papers that hold the name."""
    text = f"{paper.title}\n{paper.abstract}"
    return any(
        re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text)
        and share(name) <= RARE_SHARE
        for name in named_terms(question)
    )


def should_refuse(
    question: str,
    papers: list[RetrievedPaper],
    best_dense: float,
    threshold: float,
    share: Callable[[str], float],
    *,
    best_bm25: float = 0.0,
    bm25_threshold: float = math.inf,
) -> bool:
    """Refuse when nothing was found, or when the dense evidence is weak, the lexical evidence
    is weak too (best BM25 score below ``bm25_threshold``) and no rare name matches."""
    if not papers:
        return True
    return (
        best_dense < threshold
        and best_bm25 < bm25_threshold
        and not names_match(question, papers[0], share)
    )
