"""The LLM answerer: sources numbered and fenced in the prompt, citations checked afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from paperchat.errors import ProviderUnavailable, is_connection_error
from paperchat.rag.answerer import Answerer, Context
from paperchat.rag.citations import check, renumber
from paperchat.rag.prompts import NO_ANSWER, answer_messages
from paperchat.rag.providers import describe, make_llm
from paperchat.rag.types import Answer, RetrievedPaper

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from paperchat.rag.sentences import SentenceBank
    from paperchat.settings import Settings

# Sentences that say what a paper proposes or found (a method's name, a number) beat background
# sentences of the same topic when an abstract is trimmed for the prompt.
_FINDING = re.compile(r"\b(?:we (?:propose|introduce|present|develop)\w*|named|called|\d)",
                      re.IGNORECASE)

# Errors of these SDKs mean the provider failed us (down, wrong model, refused key), not a bug.
_SDK_MODULES = ("openai", "httpx", "httpcore", "ollama", "llama_cpp")


class LLMAnswerer(Answerer):
    """Answers with a llama-index LLM; the model is built on first use and kept."""

    def __init__(self, settings: Settings, provider: str, bank: SentenceBank) -> None:
        self.settings = settings
        self.name = provider
        self.bank = bank
        self._llm: LLM | None = None

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            self._llm = make_llm(self.settings, self.name)
        return self._llm

    @llm.setter
    def llm(self, llm: LLM) -> None:
        """Use this llama-index LLM (one built with options the settings do not name)."""
        self._llm = llm

    def unavailable(self, exc: BaseException) -> ProviderUnavailable:
        where = describe(self.settings, self.name)
        if is_connection_error(exc):
            return ProviderUnavailable(
                f"Cannot reach the LLM server at {where} ({self.name}): {exc}"
            )
        return ProviderUnavailable(
            f"The LLM provider {self.name} at {where} failed: {type(exc).__name__}: {exc}"
        )

    def prompt_sources(self, ctx: Context) -> tuple[list[RetrievedPaper], list[str]]:
        """The papers the prompt shows, in retrieval order: the first ``llm_papers``, papers a
        comparison names first; and their texts: the abstract sentences most similar to the
        question, in the abstract's order (``llm_abstract_sentences``), or whole abstracts."""
        a = self.settings.answer
        pinned = set(ctx.decision.pinned) if ctx.decision is not None else set()
        ranked = [p for p in ctx.papers if p.paper_id in pinned] + \
            [p for p in ctx.papers if p.paper_id not in pinned]
        shown = sorted(ranked[: a.llm_papers], key=lambda p: ctx.papers.index(p))
        if not a.llm_abstract_sentences:
            return shown, [p.abstract for p in shown]
        banks = self.bank.get([(p.paper_id, p.abstract) for p in shown])
        texts = []
        for paper in shown:
            sentences = banks[paper.paper_id]
            if len(sentences.sentences) <= a.llm_abstract_sentences:
                texts.append(paper.abstract)
                continue
            sims = sentences.vectors @ ctx.query_vector + np.array(
                [a.llm_finding_bonus if _FINDING.search(t) else 0.0 for t in sentences.sentences])
            best = sorted(np.argsort(-sims)[: a.llm_abstract_sentences].tolist())
            texts.append(" ".join(sentences.sentences[i] for i in best))
        return shown, texts

    def stream(self, ctx: Context) -> Iterator[str | Answer]:
        shown, texts = self.prompt_sources(ctx)
        messages = answer_messages(ctx.question, shown, ctx.history,
                                   self.settings.answer.llm_prompt, texts)
        parts: list[str] = []
        try:
            for chunk in self.llm.stream_chat(messages):
                delta = chunk.delta or ""
                if delta:
                    parts.append(delta)
                    yield delta
        except ProviderUnavailable:
            raise
        except Exception as exc:
            if is_connection_error(exc) or type(exc).__module__.split(".")[0] in _SDK_MODULES:
                raise self.unavailable(exc) from exc
            raise
        a = self.settings.answer
        # The prompt numbers its sources 1..len(shown); the answer numbers retrieved papers.
        numbering = {i: ctx.papers.index(p) + 1 for i, p in enumerate(shown, start=1)}
        written = renumber("".join(parts), numbering, len(ctx.papers))
        checked = check(written, ctx.papers, self.bank, a.support_threshold,
                        a.support_number_margin)
        said_no = NO_ANSWER.rstrip(".").casefold() in checked.text.casefold()
        refused = said_no and not any(s.verdict != "unsupported" for s in checked.sentences)
        yield Answer(
            question=ctx.question,
            text=checked.text,
            citations=checked.citations,
            refused=refused,
            closest=ctx.papers[:3] if refused else [],
            flags=checked.flags,
            answerer=self.name,
            sentences=checked.sentences,
            shape=ctx.decision.shape if ctx.decision is not None and not refused else "",
        )
