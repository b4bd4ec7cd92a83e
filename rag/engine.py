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
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.errors import BadQuestion, ProviderUnavailable
from ingest.records import clean_text
from rag.answerer import Answerer, Context, History
from rag.extractive import ExtractiveAnswerer
from rag.followup import Rewrite, llm_rewrite, offline_rewrite
from rag.providers import PROVIDERS, is_connection_error
from rag.refusal import should_refuse
from rag.retrieve import Retrieval, Retriever
from rag.sentences import SentenceBank
from rag.types import Answer, Filters, RetrievedPaper

if TYPE_CHECKING:
    from ingest.settings import Settings
    from ingest.store import PaperStore, StoredPaper

ANSWERERS = ("extractive", *PROVIDERS)
CLOSEST = 3


class Engine:
    """Questions in, cited answers out. Heavy parts (store, models) load on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: PaperStore | None = None
        self._retriever: Retriever | None = None
        self._bank: SentenceBank | None = None
        self._answerers: dict[str, Answerer] = {}
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
                    from rag.llm import LLMAnswerer

                    self._answerers[name] = LLMAnswerer(self.settings, name, self._bank_unlocked())
            return self._answerers[name]

    def _bank_unlocked(self) -> SentenceBank:
        if self._bank is None:
            self._bank = SentenceBank(self.settings.embedder, self.settings.sentences_dir,
                                      stored=self._stored_sentences)
        return self._bank

    def _stored_sentences(self, paper_ids: list[str]) -> dict[str, Any]:
        return self.retriever.store.sentences_of(paper_ids)

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
        start = time.perf_counter()
        question, notices = self._clean(question)
        turns = _history(history)
        chosen = self.answerer(answerer)
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

        share = found.lexical.document_share if found.lexical else (lambda _name: 1.0)
        if should_refuse(question, found.papers, found.best_dense,
                         self.settings.answer.refuse_below, share, best_bm25=found.best_bm25,
                         bm25_threshold=self.settings.answer.refuse_bm25_below):
            answer = self._refusal(question, found, chosen.name, filters)
            answer.notices[:0] = notices
            answer.timings = {**timings, "total": time.perf_counter() - start}
            yield answer.text
            yield answer
            return

        vector = found.vector
        if rewrite.previous is not None:
            # Retrieval needed the earlier terms; choosing what to say needs the new aspect too.
            own = self.settings.embedder.embed_query(question)
            vector = (vector + own) / max(float(np.linalg.norm(vector + own)), 1e-9)
        ctx = Context(question, rewrite.query, found.papers, vector, turns)
        t0 = time.perf_counter()
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
        timings["answer"] = time.perf_counter() - t0
        final.notices[:0] = notices
        final.timings = {**timings, "total": time.perf_counter() - start}
        yield final

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

    def _refusal(self, question: str, found: Retrieval, answerer: str,
                 filters: Filters | None) -> Answer:
        closest = found.papers[:CLOSEST]
        narrowed = "" if filters is None or filters.empty else " that passes the filters"
        lines = [f"The corpus has no paper{narrowed} on this question."]
        if closest:
            lines.append("The closest matches are:")
            lines += [f"- *{p.title}*" for p in closest]
        return Answer(question=question, text="\n".join(lines), refused=True, closest=closest,
                      answerer=answerer)


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
