"""LLM providers, all as llama-index LLMs: an OpenAI-compatible server, Ollama, or a local GGUF.

Each SDK is imported when its provider is built, never at import time. A local GGUF model is
loaded once per process and path.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from paperchat.errors import ProviderUnavailable

if TYPE_CHECKING:
    from llama_index.core.llms import LLM, ChatMessage

    from paperchat.settings import Settings

PROVIDERS = ("openai", "ollama", "llamacpp")
_LOCAL: dict[tuple[str, int, int], LLM] = {}
_LOCAL_LOCK = threading.Lock()


def make_llm(settings: Settings, provider: str) -> LLM:
    """The llama-index LLM for ``provider`` as the settings describe it."""
    a = settings.answer
    if provider == "openai":
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            model=a.llm_model or "local-model",
            api_base=a.llm_base_url,
            api_key=a.llm_api_key.get_secret_value(),
            is_chat_model=True,
            context_window=a.llm_context_window,
            max_tokens=a.llm_max_tokens,
            temperature=a.llm_temperature,
            timeout=a.llm_timeout,
            max_retries=0,  # an unreachable server should fail fast and fall back
        )
    if provider == "ollama":
        from llama_index.llms.ollama import Ollama

        if not a.llm_model:
            raise ProviderUnavailable("Set the Ollama model: PAPERCHAT_ANSWER__LLM_MODEL=llama3.2")
        return Ollama(
            model=a.llm_model,
            base_url=ollama_url(a.llm_base_url),
            request_timeout=a.llm_timeout,
            temperature=a.llm_temperature,
            context_window=a.llm_context_window,
            additional_kwargs={"num_predict": a.llm_max_tokens},
        )
    if provider == "llamacpp":
        return _local_gguf(settings)
    raise ProviderUnavailable(
        f"Unknown LLM provider {provider!r}; use one of {', '.join(PROVIDERS)}."
    )


def describe(settings: Settings, provider: str) -> str:
    """Where the provider's model is, for error messages."""
    a = settings.answer
    if provider == "llamacpp":
        return a.llm_gguf_path or "(no GGUF path set)"  # a path, or a packaged model's name
    if provider == "ollama":
        return ollama_url(a.llm_base_url)
    return a.llm_base_url


def ollama_url(url: str) -> str:
    # The default base URL names an OpenAI-compatible /v1 endpoint; Ollama's own API is at the root.
    return url.rstrip("/").removesuffix("/v1")


def _local_gguf(settings: Settings) -> LLM:
    a = settings.answer
    try:
        from llama_index.llms.llama_cpp import LlamaCPP
    except ImportError as exc:
        raise ProviderUnavailable(
            f"The llamacpp answerer needs llama-cpp-python ({exc}): "
            "pip install 'paperchat[llamacpp]'"
        ) from exc
    if not a.llm_gguf_path:
        raise ProviderUnavailable(
            "Set the GGUF model file for the llamacpp answerer: PAPERCHAT_ANSWER__LLM_GGUF_PATH=..."
        )
    from paperchat.ingest.embedder import default_cache_dir
    from paperchat.rag.models import resolve

    path = resolve(a.llm_gguf_path, settings.ingest.cache_dir or default_cache_dir())
    if not path.is_file():
        raise ProviderUnavailable(f"No GGUF model file at {path}")
    threads = a.llm_threads or os.cpu_count() or 1
    key = (str(path.resolve()), a.llm_context_window, a.llm_max_tokens)
    with _LOCAL_LOCK:
        if not _LOCAL:
            atexit.register(_close_local)
        if key not in _LOCAL:
            llm = LlamaCPP(
                model_path=str(path),
                temperature=a.llm_temperature,
                max_new_tokens=a.llm_max_tokens,
                context_window=a.llm_context_window,
                model_kwargs={"n_threads": threads, "n_threads_batch": threads, "seed": 7},
                verbose=False,
            )
            template = chat_template(llm._model)
            if template is not None:  # a base model has none: llama-index's plain prompt
                llm.messages_to_prompt = template
            _LOCAL[key] = llm
        return _LOCAL[key]


def chat_template(model: Any) -> Callable[[Sequence[ChatMessage]], str] | None:
    """Messages to a prompt with the chat template the GGUF carries (ChatML for Qwen), as a
    llama.cpp server would use it; llama-index's generic template confuses instruct models.
    None for a GGUF without one (a base model)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = model.metadata.get("tokenizer.chat_template")
    if not template:
        return None

    def text(token: int) -> str:
        return model._model.token_get_text(token) if token != -1 else ""

    formatter = Jinja2ChatFormatter(template, eos_token=text(model.token_eos()),
                                    bos_token=text(model.token_bos()))

    def to_prompt(messages: Sequence[ChatMessage]) -> str:
        turns = [{"role": m.role.value, "content": m.content or ""} for m in messages]
        return formatter(messages=turns).prompt

    return to_prompt


def _close_local() -> None:
    """Free local GGUF models before the interpreter finalises: llama.cpp's threads and buffers
    torn down during garbage collection at exit can abort the process."""
    with _LOCAL_LOCK:
        for llm in _LOCAL.values():
            model = getattr(llm, "_model", None)
            if model is not None and hasattr(model, "close"):
                model.close()
        _LOCAL.clear()
