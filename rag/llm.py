"""The LLM answerer: sources numbered and fenced in the prompt, citations checked afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from ingest.errors import ProviderUnavailable
from rag.answerer import Answerer, Context
from rag.citations import check
from rag.prompts import NO_ANSWER, answer_messages
from rag.providers import describe, is_connection_error, make_llm
from rag.types import Answer

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

    from ingest.settings import Settings
    from rag.sentences import SentenceBank

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

    def stream(self, ctx: Context) -> Iterator[str | Answer]:
        messages = answer_messages(ctx.question, ctx.papers, ctx.history)
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
        threshold = self.settings.answer.support_threshold
        checked = check("".join(parts), ctx.papers, self.bank, threshold)
        said_no = NO_ANSWER.rstrip(".").casefold() in checked.text.casefold()
        refused = said_no and not checked.citations
        yield Answer(
            question=ctx.question,
            text=checked.text,
            citations=checked.citations,
            refused=refused,
            closest=ctx.papers[:3] if refused else [],
            flags=checked.flags,
            answerer=self.name,
        )
