"""The answer engine: the one object the CLI, UI and eval talk to.

    engine = Engine(settings)                      # opens the store lazily; loads models once
    engine.search(query, k=None, filters=None, mode=None) -> list[RetrievedPaper]
    engine.answer(question, history=None, filters=None, k=None, answerer=None) -> Answer
    engine.stream(question, history=None, filters=None, k=None, answerer=None)
        -> Iterator[str | Answer]   # text pieces as produced, then the final Answer
    engine.paper(paper_id) -> StoredPaper | None
    engine.papers() -> dict[str, StoredPaper]

``history`` is a list of (role, text) pairs, role "user" or "assistant". ``mode`` is
"hybrid" | "dense" | "bm25" (default: settings.retrieval.mode). ``answerer`` is "extractive" or
an LLM provider name (default: settings.answer.answerer).

One engine serves many threads: the store, the BM25 index and the sentence cache are shared and
guarded; nothing per conversation is kept here (the caller holds the history).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from paperchat.errors import BadQuestion, ProviderUnavailable, is_connection_error
from paperchat.ingest.records import clean_text
from paperchat.rag.analysis import Analyzer
from paperchat.rag.analysis_types import Decision, QuestionAnalysis
from paperchat.rag.answerability import CoverageModel, Evidence, decide, features
from paperchat.rag.answerer import Answerer, Context, History
from paperchat.rag.extractive import ExtractiveAnswerer
from paperchat.rag.followup import Rewrite, llm_rewrite, offline_rewrite
from paperchat.rag.providers import PROVIDERS
from paperchat.rag.retrieve import Retrieval, Retriever
from paperchat.rag.sentences import SentenceBank
from paperchat.rag.types import Answer, Filters, RetrievedPaper

if TYPE_CHECKING:
    from paperchat.ingest.store import PaperStore, StoredPaper
    from paperchat.settings import Settings

ANSWERERS = ("extractive", *PROVIDERS)


@dataclass
class _Turn:
    """One question on its way to an answer: what was asked, found and decided."""

    question: str
    turns: History
    rewrite: Rewrite
    found: Retrieval
    analysis: QuestionAnalysis
    decision: Decision
    notices: list[str]
    timings: dict[str, float]


class Engine:
    """Questions in, cited answers out. Heavy parts (store, models) load on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: PaperStore | None = None
        self._retriever: Retriever | None = None
        self._bank: SentenceBank | None = None
        self._answerers: dict[str, Answerer] = {}
        self._coverage_model: CoverageModel | None = None
        self._lock = threading.Lock()

    # -- lazily built parts -------------------------------------------------------------------

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                self._store = self.settings.store()
                self._retriever = Retriever(self.settings, self._store)
            return self._retriever

    @property
    def bank(self) -> SentenceBank:
        with self._lock:
            return self._bank_unlocked()

    def warm(self, sentences: bool = False, stop: threading.Event | None = None) -> int:
        """Load the models, store and BM25 index now; with ``sentences``, also embed every
        abstract's sentences not cached yet, until done or ``stop`` is set (returns how many
        papers that took)."""
        self.settings.embedder.embed_query("warm up")
        papers = self.papers()
        if not sentences:
            return 0
        return self.bank.warm([(pid, p.abstract) for pid, p in sorted(papers.items())],
                              stop=stop)

    def answerer(self, name: str | None = None) -> Answerer:
        name = name or self.settings.answer.answerer
        if name not in ANSWERERS:
            raise BadQuestion(f"Unknown answerer {name!r}; use one of {', '.join(ANSWERERS)}.")
        with self._lock:
            if name not in self._answerers:
                if name == "extractive":
                    self._answerers[name] = ExtractiveAnswerer(self.settings, self._bank_unlocked())
                else:
                    from paperchat.rag.llm import LLMAnswerer

                    self._answerers[name] = LLMAnswerer(self.settings, name, self._bank_unlocked())
            return self._answerers[name]

    def _bank_unlocked(self) -> SentenceBank:
        if self._bank is None:
            self._bank = SentenceBank(self.settings.embedder, self.settings.sentences_dir,
                                      stored=self._stored_sentences)
        return self._bank

    def _stored_sentences(self, paper_ids: list[str],
                          counts: dict[str, int] | None = None) -> dict[str, Any]:
        return self.retriever.store.sentences_of(paper_ids, counts)

    # -- the API ------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        mode: str | None = None,
    ) -> list[RetrievedPaper]:
        """Papers ranked for ``query``, best first."""
        query, _ = self._clean(query)
        return self._retrieve(query, k, filters, mode).papers

    def answer(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        answerer: str | None = None,
    ) -> Answer:
        final: Answer | None = None
        for item in self.stream(question, history, filters, k, answerer):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        history: Sequence[Any] | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        answerer: str | None = None,
    ) -> Iterator[str | Answer]:
        """The answer's text as it is written, then the finished ``Answer``."""
        start = time.perf_counter()
        chosen = self.answerer(answerer)
        turn = self._prepare(question, history, filters, k, chosen)
        decision = turn.decision
        if decision.coverage == "declined":
            answer = self._declined(turn.question, turn.found, decision, chosen.name, filters)
            yield answer.text
            yield self._finished(answer, turn, start)
            return
        note = f"_{decision.reason}_\n\n" if decision.coverage == "partial" else ""
        if note:
            yield note
        t0 = time.perf_counter()
        final = yield from self._generate(chosen, self._context(turn, k), turn.notices)
        turn.timings["answer"] = time.perf_counter() - t0
        if not final.text.strip() or (final.answerer == "extractive" and not final.citations):
            # Never an empty answer: nothing in the closest abstracts says anything to this.
            decision.coverage, decision.reason = "declined", (
                "None of the closest abstracts has a sentence that answers this question.")
            final = self._declined(turn.question, turn.found, decision, chosen.name, filters)
            yield final.text
        else:
            final.text = note + final.text
            final.coverage, final.missing = decision.coverage, list(decision.missing)
            final.reason = decision.reason
        yield self._finished(final, turn, start)

    def _prepare(self, question: str, history: Sequence[Any] | None, filters: Filters | None,
                 k: int | None, chosen: Answerer) -> _Turn:
        """Clean the question, condense a follow-up, retrieve, and decide whether to answer."""
        question, notices = self._clean(question)
        turns = _history(history)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        rewrite = self._rewrite(chosen, question, turns, notices)
        timings["condense"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        only = None
        if rewrite.restrict and rewrite.previous:
            only = [p.paper_id for p in self._retrieve(rewrite.previous, k, filters, None).papers]
        found = self._retrieve(rewrite.query, k, filters, None, only=only)
        timings["retrieve"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        analysis, decision = self._decide(rewrite.query, found, filters, only)
        timings["analyze"] = time.perf_counter() - t0
        return _Turn(question, turns, rewrite, found, analysis, decision, notices, timings)

    def _context(self, turn: _Turn, k: int | None) -> Context:
        """What the answerer is given: the papers to answer from, pinned ones first."""
        decision = turn.decision
        papers = self._pinned_first(turn.found.papers, decision.pinned, k)
        if decision.shape == "comparison" and decision.pinned:
            papers = papers[:len(decision.pinned)]  # compare what was named, nothing else
        vector = turn.found.vector
        if turn.rewrite.previous is not None:
            # Retrieval needed the earlier terms; choosing what to say needs the new aspect too.
            own = self.settings.embedder.embed_query(turn.question)
            vector = (vector + own) / max(float(np.linalg.norm(vector + own)), 1e-9)
        return Context(turn.question, turn.rewrite.query, papers, vector, turn.turns,
                       turn.analysis, decision)

    def _generate(self, chosen: Answerer, ctx: Context,
                  notices: list[str]) -> Generator[str, None, Answer]:
        """Stream ``chosen``'s answer; when its LLM is unreachable, the extractive one instead
        (with a notice), if the settings allow it."""
        streamed = False
        final: Answer | None = None
        try:
            for item in chosen.stream(ctx):
                if isinstance(item, Answer):
                    final = item
                else:
                    streamed = True
                    yield item
        except ProviderUnavailable as exc:
            if not self.settings.answer.fallback_to_extractive or chosen.name == "extractive":
                raise
            notice = f"{exc} Answered without the LLM instead (extractive)."
            notices.append(notice)
            if streamed:
                yield f"\n\n_{notice}_\n\n"
            for item in self.answerer("extractive").stream(ctx):
                if isinstance(item, Answer):
                    final = item
                else:
                    yield item
        assert final is not None
        return final

    @staticmethod
    def _finished(answer: Answer, turn: _Turn, start: float) -> Answer:
        answer.query = turn.rewrite.query
        answer.probability = turn.decision.probability
        answer.notices[:0] = turn.notices
        answer.timings = {**turn.timings, "total": time.perf_counter() - start}
        return answer

    def assess(self, question: str, filters: Filters | None = None,
               k: int | None = None) -> tuple[QuestionAnalysis, Decision]:
        """The question analysis and the answer/partial/decline decision, without answering
        (what ``paperchat eval calibrate`` fits the coverage model on)."""
        question, _ = self._clean(question)
        found = self._retrieve(question, k, filters, None)
        return self._decide(question, found, filters, None)

    def analyzer(self) -> Analyzer:
        """The question analyser for the store's current revision (its name index included)."""
        retriever = self.retriever
        lexical = retriever.store.lexical()
        retriever.catalog.refresh(retriever.store, lexical.revision)
        return retriever.catalog.analyzer(lexical)

    def paper(self, paper_id: str) -> StoredPaper | None:
        return self.papers().get(paper_id)

    def papers(self) -> dict[str, StoredPaper]:
        retriever = self.retriever
        retriever.catalog.refresh(retriever.store, retriever.store.lexical().revision)
        return dict(retriever.catalog.papers)

    # -- steps --------------------------------------------------------------------------------

    def _clean(self, question: str) -> tuple[str, list[str]]:
        question = clean_text(str(question or ""))  # control characters and whitespace runs go
        if not question:
            raise BadQuestion("The question is empty. Ask something about the papers, e.g. "
                              "\"Which papers reduce the memory of the KV cache?\"")
        limit = self.settings.answer.max_question_chars
        notices = []
        if len(question) > limit:
            cut = question[:limit]
            cut = cut.rsplit(" ", 1)[0] if " " in cut[limit // 2:] else cut
            notices.append(f"The question was {len(question):,} characters long; only the first "
                           f"{len(cut):,} were used (answer.max_question_chars = {limit}).")
            question = cut
        return question, notices

    def _retrieve(self, query: str, k: int | None, filters: Filters | None, mode: str | None,
                  only: Sequence[str] | None = None) -> Retrieval:
        k = k or self.settings.retrieval.top_k
        mode = mode or self.settings.retrieval.mode
        return self.retriever.search(query, k, filters, mode, only=only)

    def _rewrite(self, chosen: Answerer, question: str, history: History,
                 notices: list[str]) -> Rewrite:
        if not history or chosen.name == "extractive":
            return offline_rewrite(question, history)
        try:
            return llm_rewrite(chosen.llm, question, history)  # type: ignore[attr-defined]
        except Exception as exc:
            if isinstance(exc, ProviderUnavailable) or is_connection_error(exc) or \
                    type(exc).__module__.split(".")[0] in {"openai", "httpx", "ollama"}:
                # The answer step reports the provider; here the offline rewrite will do.
                return offline_rewrite(question, history)
            raise

    def _decide(self, query: str, found: Retrieval, filters: Filters | None,
                only: Sequence[str] | None) -> tuple[QuestionAnalysis, Decision]:
        """Analyse the question against the store and decide whether and how to answer it."""
        catalog = self.retriever.catalog
        assert found.lexical is not None
        analysis = catalog.analyzer(found.lexical).analyze(query)
        if (filters is not None and not filters.empty) or only is not None:
            # Named papers outside the filters (or the earlier answer) are not answered from.
            allowed = set(catalog.allowed(filters or Filters()))
            allowed &= set(only) if only is not None else allowed
            for item in analysis.names:
                item.defined_by = [pid for pid in item.defined_by if pid in allowed]
        evidence = Evidence(found.papers, found.best_dense, found.best_bm25)
        tuned = self.settings.analysis
        values = features(analysis, evidence, found.lexical, catalog.papers, tuned.rare_in_english)
        model = self.coverage_model
        below = self.settings.answer.decline_below
        hedge = self.settings.answer.hedge_below
        decision = decide(analysis, evidence, values, model,
                          model.threshold if below is None else below, catalog.papers,
                          model.hedge if hedge is None else hedge, tuned.clear_lead)
        return analysis, decision

    @property
    def coverage_model(self) -> CoverageModel:
        with self._lock:
            if self._coverage_model is None:
                self._coverage_model = CoverageModel.load(
                    str(self.settings.answer.coverage_model) if self.settings.answer.coverage_model
                    else None)
            return self._coverage_model

    def _pinned_first(self, papers: list[RetrievedPaper], pinned: list[str],
                      k: int | None) -> list[RetrievedPaper]:
        """The papers the question names come first (fetched when retrieval missed them), then
        the rest of the retrieved ones, ``k`` in all but never fewer than the named ones."""
        if not pinned:
            return papers
        by_id = {p.paper_id: p for p in papers}
        catalog = self.retriever.catalog.papers
        first: list[RetrievedPaper] = []
        for pid in pinned:
            if pid in by_id:
                first.append(by_id[pid])
            elif pid in catalog:
                stored = catalog[pid]
                first.append(RetrievedPaper(rank=0, paper_id=pid, title=stored.title, score=0.0,
                                            passages=[stored.abstract], abstract=stored.abstract,
                                            urls=stored.links))
        rest = [p for p in papers if p.paper_id not in set(pinned)]
        limit = max(k or self.settings.retrieval.top_k, len(first))
        out = (first + rest)[:limit]
        for rank, paper in enumerate(out, start=1):
            paper.rank = rank
        return out

    def _declined(self, question: str, found: Retrieval, decision: Decision, answerer: str,
                  filters: Filters | None) -> Answer:
        closest = found.papers[:self.settings.answer.closest_papers]
        reason = decision.reason or "The corpus has no paper on this question."
        if filters is not None and not filters.empty:
            reason += " (Only papers that pass the filters were searched.)"
        lines = [reason]
        if closest:
            lines.append("The closest papers are:")
            lines += [f"- *{p.title}*" for p in closest]
        return Answer(question=question, text="\n".join(lines), refused=True, closest=closest,
                      answerer=answerer, coverage="declined", missing=list(decision.missing),
                      reason=reason, probability=decision.probability)


def _history(history: Sequence[Any] | None) -> History:
    """(role, text) pairs; also accepts {"role", "content"} dicts (Gradio's messages format)."""
    turns: History = []
    for turn in history or []:
        if isinstance(turn, dict):
            role, text = turn.get("role", ""), turn.get("content", "")
        else:
            role, text = turn
        if isinstance(text, str) and role in ("user", "assistant"):
            turns.append((role, text))
    return turns
