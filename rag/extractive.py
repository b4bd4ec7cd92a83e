"""The offline answerer: sentences of the retrieved abstracts, chosen by the answer's shape and
cited.

It states nothing that is not a sentence of a cited abstract, or a shortening of one at clause
boundaries (a leading "However," or "To address this," cut). How the sentences are chosen and
laid out (one paper, survey, comparison, open) is ``rag/compose.py``; each sentence's role
(problem, method, result) and vector come from the store, written at ingest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from paperchat.rag.answerer import Answerer, Context
from paperchat.rag.compose import compose
from paperchat.rag.sentences import SentenceBank
from paperchat.rag.shapes import SURVEY
from paperchat.rag.types import Answer, RetrievedPaper

if TYPE_CHECKING:
    from paperchat.settings import Settings

_ACRONYM = re.compile(r"\(([A-Z][A-Za-z0-9\-]*[A-Z0-9][A-Za-z0-9\-]*)\)")
_NAMING = re.compile(r"\b(?:we (?:propos|introduc|present|develop|design|call|nam|dub)\w*|"
                     r"named|called|dubbed|termed)\b", re.IGNORECASE)
# Acronyms that name a field or a device, never a paper's technique.
_GENERIC = frozenset(
    "AI ML NLP LLM LLMS LM LMS VLM VLMS MLLM MLLMS GPU GPUS CPU CPUS TPU DNN DNNS CNN CNNS RNN "
    "RNNS GNN GNNS RL KV QA IR RAG MOE NAS SOTA API APIS IOT VIT VITS".split()
)


def technique_name(paper: RetrievedPaper) -> str:
    """A short name for a paper's technique: "KIVI" from "KIVI: A Tuning-Free ...", an
    acronym the abstract defines, a name-shaped title word the abstract introduces
    ("PagedAttention" in "Efficient Memory Management ... with PagedAttention"), or else the
    title."""
    head, sep, _ = paper.title.partition(":")
    if sep and len(head.split()) <= 4 and len(head) <= 40:
        return head.strip()
    from paperchat.rag.text import split_sentences

    naming = [s for s in split_sentences(paper.abstract) if _NAMING.search(s)]
    for sentence in naming:
        for found in _ACRONYM.finditer(sentence):
            if found.group(1).upper() not in _GENERIC:
                return found.group(1)
    shaped = [w.strip(",.;()") for w in paper.title.split()
              if any(c.isupper() for c in w.strip(",.;()")[1:])
              and any(c.islower() for c in w)]  # "PagedAttention", not "LLM" or "Model"
    for word in shaped:
        if any(re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", s) for s in naming):
            return word
    return paper.title


def is_survey(question: str) -> bool:
    return bool(SURVEY.search(question))


class ExtractiveAnswerer(Answerer):
    """Grounded extractive synthesis; needs no LLM."""

    name = "extractive"

    def __init__(self, settings: Settings, bank: SentenceBank) -> None:
        self.settings = settings
        self.bank = bank

    def stream(self, ctx: Context) -> Iterator[str | Answer]:
        notices: list[str] = []
        banks = self.bank.get([(p.paper_id, p.abstract) for p in ctx.papers], notices)
        composed = compose(ctx, banks, self.settings.answer)
        yield from composed.lines
        yield Answer(question=ctx.question, text="".join(composed.lines).strip("\n"),
                     citations=composed.citations, table=composed.table, notices=notices,
                     answerer=self.name, shape=composed.shape)
