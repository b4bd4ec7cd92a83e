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


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from or while handling, means a server
    (Chroma, an LLM) could not be reached or stopped answering. Chroma's client turns
    ``httpx.ConnectError`` into a ``ValueError`` raised while handling it: the chain shows it."""
    kinds = _connection_error_types()
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _connection_error_types() -> tuple[type[BaseException], ...]:
    import socket
    import sys

    kinds: list[type[BaseException]] = [ConnectionError, TimeoutError, socket.gaierror]
    # Only libraries already imported can have raised: look them up rather than import them.
    httpx = sys.modules.get("httpx")
    if httpx is not None:
        kinds += [httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError]
    httpcore = sys.modules.get("httpcore")
    if httpcore is not None:
        kinds += [httpcore.NetworkError, httpcore.TimeoutException, httpcore.RemoteProtocolError]
    requests = sys.modules.get("requests")
    if requests is not None:
        kinds += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    openai = sys.modules.get("openai")
    if openai is not None:
        kinds.append(openai.APIConnectionError)  # APITimeoutError included
    return tuple(kinds)
