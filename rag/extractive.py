"""The offline answerer: sentences of the retrieved abstracts, chosen, ordered and cited.

It states nothing that is not a sentence of a cited abstract (or that sentence without a
leading "However," and the like). Sentences are chosen by similarity to the question with
maximal marginal relevance (so two sentences saying the same thing are not both taken), grouped
by paper in the order of their relevance, kept in the abstract's own order within a paper, and
each paper's point opens with the name of its technique.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rag.answerer import Answerer, Context
from rag.sentences import SentenceBank, shorten
from rag.types import Answer, Citation, RetrievedPaper

if TYPE_CHECKING:
    from ingest.settings import Settings

# Questions that want one point per paper across several papers.
_SURVEY = re.compile(
    r"\b(summari[sz]e|summary|overview|approaches|methods|techniques|which papers|what papers|"
    r"which (?:works|methods|models|approaches)|list|compare|survey|papers (?:on|about|that))\b",
    re.IGNORECASE,
)
_HOW = re.compile(r"\b(how|approach(?:es)?|methods?|techniques?|ways?)\b", re.IGNORECASE)
# Sentences that say what a paper does, rather than the background it starts from.
_METHOD = re.compile(
    r"\b(we (?:propos|introduc|present|develop|design|build|devis)\w*|"
    r"our (?:method|approach|framework|model|system|technique)|(?:named|called|dubbed) |"
    r"this (?:paper|work) (?:propos|introduc|present)\w*)",
    re.IGNORECASE,
)
_ACRONYM = re.compile(r"\(([A-Z][A-Za-z0-9\-]*[A-Z0-9][A-Za-z0-9\-]*)\)")
_NAMING = re.compile(r"\b(?:we (?:propos|introduc|present|develop|design|call|nam|dub)\w*|"
                     r"named|called|dubbed|termed)\b", re.IGNORECASE)
# Acronyms that name a field or a device, never a paper's technique.
_GENERIC = frozenset(
    "AI ML NLP LLM LLMS LM LMS VLM VLMS MLLM MLLMS GPU GPUS CPU CPUS TPU DNN DNNS CNN CNNS RNN "
    "RNNS GNN GNNS RL KV QA IR RAG MOE NAS SOTA API APIS IOT VIT VITS".split()
)
# Tuned on the bundled corpus: a sentence that says how, when the question asks how, gets a small
# lift; sentences far below the best one are off topic.
METHOD_BONUS = 0.04
SENTENCE_MARGIN = 0.2
_LINK_ONLY = re.compile(r"^(?:code|data|models?|project|our code)[^.]*(?:available|released)", re.I)


@dataclass
class _Candidate:
    paper: int  # index into ctx.papers
    index: int  # sentence index in the abstract
    text: str
    vector: np.ndarray
    relevance: float
    method: bool = False  # says what the paper does (we propose ..., names its technique)


def technique_name(paper: RetrievedPaper) -> str:
    """A short name for a paper's technique: "KIVI" from "KIVI: A Tuning-Free ...", or an
    acronym the abstract defines, or else the title."""
    head, sep, _ = paper.title.partition(":")
    if sep and len(head.split()) <= 4 and len(head) <= 40:
        return head.strip()
    from rag.sentences import split_sentences

    for sentence in split_sentences(paper.abstract):
        if not _NAMING.search(sentence):
            continue
        for found in _ACRONYM.finditer(sentence):
            if found.group(1).upper() not in _GENERIC:
                return found.group(1)
    return paper.title


def is_survey(question: str) -> bool:
    return bool(_SURVEY.search(question))


class ExtractiveAnswerer(Answerer):
    """Grounded extractive synthesis; needs no LLM."""

    name = "extractive"

    def __init__(self, settings: Settings, bank: SentenceBank) -> None:
        self.settings = settings
        self.bank = bank

    def stream(self, ctx: Context) -> Iterator[str | Answer]:
        chosen = self.choose(ctx)
        lines, citations = self.render(ctx, chosen)
        yield from lines
        yield Answer(question=ctx.question, text="".join(lines).rstrip("\n"),
                     citations=citations, answerer=self.name)

    # -- choosing -----------------------------------------------------------------------------

    def choose(self, ctx: Context) -> list[_Candidate]:
        a = self.settings.answer
        banks = self.bank.get([(p.paper_id, p.abstract) for p in ctx.papers])
        how = bool(_HOW.search(ctx.query))
        candidates: list[_Candidate] = []
        for i, paper in enumerate(ctx.papers):
            sents = banks[paper.paper_id]
            if not sents.sentences:
                continue
            name = technique_name(paper)
            sims = sents.vectors @ ctx.query_vector
            rows = zip(sents.sentences, sents.vectors, sims, strict=True)
            for j, (text, vec, sim) in enumerate(rows):
                if len(text.split()) < 5 or _LINK_ONLY.search(text):
                    continue
                method = bool(_METHOD.search(text)) or (name != paper.title and name in text)
                bonus = METHOD_BONUS if how and method else 0.0
                candidates.append(_Candidate(i, j, text, vec, float(sim) + bonus, method))
        if not candidates:
            return []
        best = max(c.relevance for c in candidates)
        floor = max(a.sentence_floor, best - SENTENCE_MARGIN)
        kept = [c for c in candidates if c.relevance >= floor]
        if is_survey(ctx.query):
            chosen = self._one_point_per_paper(kept, candidates, how)
        else:
            chosen = _mmr(kept, a.max_sentences, a.sentences_per_paper, a.mmr_lambda)
        return _with_named(chosen, candidates, ctx)

    def _one_point_per_paper(self, kept: list[_Candidate], every: list[_Candidate],
                             how: bool) -> list[_Candidate]:
        """A survey: each relevant paper's best sentence and, for a "how", its method sentence."""
        best: dict[int, _Candidate] = {}
        for c in kept:
            if c.paper not in best or c.relevance > best[c.paper].relevance:
                best[c.paper] = c
        chosen: list[_Candidate] = []
        for seed in sorted(best.values(), key=lambda c: -c.relevance):
            chosen.append(seed)
            if how and not seed.method:
                methods = [c for c in every if c.paper == seed.paper and c.method
                           and c.relevance >= self.settings.answer.sentence_floor]
                if methods:
                    chosen.append(max(methods, key=lambda c: c.relevance))
        return chosen

    # -- writing ------------------------------------------------------------------------------

    def render(self, ctx: Context, chosen: list[_Candidate]) -> tuple[list[str], list[Citation]]:
        order: list[int] = []  # papers in the order their first sentence was chosen
        for c in chosen:
            if c.paper not in order:
                order.append(c.paper)
        lines: list[str] = []
        citations: list[Citation] = []
        for n, pi in enumerate(order, start=1):
            paper = ctx.papers[pi]
            mine = sorted((c for c in chosen if c.paper == pi), key=lambda c: c.index)
            body = " ".join(shorten(c.text) for c in mine)
            bullet = "- " if len(order) > 1 else ""
            lines.append(f"{bullet}**{technique_name(paper)}** [{n}]: {body}\n")
            passage = " ".join(c.text for c in mine)
            citations.append(Citation(n=n, paper_id=paper.paper_id, title=paper.title,
                                      urls=list(paper.urls), passage=passage))
        return lines, citations


def _with_named(chosen: list[_Candidate], every: list[_Candidate],
                ctx: Context) -> list[_Candidate]:
    """Every paper the question names gets at least its most relevant sentence, first."""
    pinned = ctx.decision.pinned if ctx.decision is not None else []
    index = {p.paper_id: i for i, p in enumerate(ctx.papers)}
    named = [index[pid] for pid in pinned if pid in index]
    extra = []
    for i in named:
        if not any(c.paper == i for c in chosen):
            own = [c for c in every if c.paper == i]
            if own:
                extra.append(max(own, key=lambda c: c.relevance))
    return extra + chosen


def _mmr(candidates: list[_Candidate], limit: int, per_paper: int, lam: float) -> list[_Candidate]:
    """Maximal marginal relevance, at most ``per_paper`` sentences from one paper."""
    chosen: list[_Candidate] = []
    taken: dict[int, int] = {}
    pool = sorted(candidates, key=lambda c: -c.relevance)
    while pool and len(chosen) < limit:
        best_i, best_score = -1, -np.inf
        for i, c in enumerate(pool):
            if taken.get(c.paper, 0) >= per_paper:
                continue
            redundancy = max((float(c.vector @ s.vector) for s in chosen), default=0.0)
            score = lam * c.relevance - (1 - lam) * redundancy
            if score > best_score:
                best_i, best_score = i, score
        if best_i < 0:
            break
        pick = pool.pop(best_i)
        chosen.append(pick)
        taken[pick.paper] = taken.get(pick.paper, 0) + 1
    return chosen
