"""The few errors paperchat raises on purpose. The CLI and UI turn each into one clear sentence."""

from __future__ import annotations


class PaperchatError(Exception):
    """Base class: the message is written for the user, and is shown as it is."""

    exit_code = 1


class SourceNotFound(PaperchatError):
    """An input path does not exist."""

    exit_code = 2


class StoreMissing(PaperchatError):
    """No store has been built yet where the settings point."""

    def __init__(self, where: str) -> None:
        super().__init__(
            f"No paper store at {where}. Build it with `paperchat ingest` (the bundled corpus) "
            "or `paperchat ingest PATH...` (your own papers)."
        )


class StoreUnavailable(PaperchatError):
    """The store exists but cannot be reached right now (a Chroma server down, say)."""


class ModelMismatch(PaperchatError):
    """The store was built with another embedding model or chunking than the settings ask for."""


class ProviderUnavailable(PaperchatError):
    """An LLM provider cannot be reached or is not installed."""


class BadQuestion(PaperchatError):
    """A question that cannot be answered as it is (empty, say)."""

    exit_code = 2
