"""Starting the web UI: load the engine once, refuse unsafe exposure, launch Gradio.

When the store is missing or empty the server still starts, with a page that says how to build
the store, rather than a traceback.
"""

from __future__ import annotations

import atexit
import ipaddress
import logging
import threading
from typing import TYPE_CHECKING, Any

import gradio as gr

from paperchat.errors import PaperchatError, StoreMissing
from paperchat.ui.render import CSS, escape_markdown

if TYPE_CHECKING:
    from paperchat.settings import Settings

log = logging.getLogger(__name__)

_LOOPBACK_NAMES = {"localhost", "ip6-localhost"}
BUILD_HINT = (
    "Build the store from the bundled corpus with `paperchat ingest` (or from your own papers "
    "with `paperchat ingest FOLDER`), then restart `paperchat serve`."
)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the UI on this machine."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, share: bool) -> tuple[str, str] | None:
    """The (user, password) to require, or None on loopback without auth.

    Binding beyond loopback or sharing without auth is refused: the UI reads the whole corpus
    and may spend an LLM's tokens for whoever reaches it.
    """
    auth = settings.ui.auth.get_secret_value() if settings.ui.auth else ""
    exposed = share or not is_loopback(settings.ui.host)
    if not auth:
        if exposed:
            where = "a public share link" if share else f"{settings.ui.host}"
            raise PaperchatError(
                f"Refusing to serve on {where} without authentication. Set "
                "PAPERCHAT_UI__AUTH='user:password' (or ui.auth in the config file), or bind "
                "127.0.0.1."
            )
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise PaperchatError("ui.auth must be 'user:password' (both parts non-empty).")
    return user, password


def build(settings: Settings) -> gr.Blocks:
    """The app around a warmed-up engine, or the page explaining why there is none."""
    from paperchat.rag.engine import Engine
    from paperchat.ui.app import create_app

    try:
        engine = Engine(settings)
        if not engine.papers():
            return unavailable_app(f"The paper store at {settings.home} is empty.", BUILD_HINT)
        engine.search("warm up the models", k=1)  # load the embedder and BM25 before users come
        # Sentence vectors of every abstract (kept on disk under home) make every answer fast,
        # not only those about papers seen before; fill them without delaying start-up.
        _start_warming(engine)
        return create_app(engine, settings)
    except StoreMissing as exc:
        return unavailable_app(str(exc), BUILD_HINT)
    except PaperchatError as exc:
        return unavailable_app(str(exc), "Fix the problem above and restart `paperchat serve`.")


def _start_warming(engine: Any) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=_warm_sentences, args=(engine, stop), daemon=True,
                              name="warm-sentences")
    thread.start()

    def finish() -> None:
        # A daemon thread still inside torch when the interpreter finalises aborts the process
        # ("terminate called without an active exception"): stop between batches, then wait.
        stop.set()
        thread.join(timeout=60)

    atexit.register(finish)


def _warm_sentences(engine: Any, stop: threading.Event) -> None:
    try:
        done = engine.warm(sentences=True, stop=stop)
        log.info("sentence vectors ready (%d papers embedded now)", done)
    except Exception:  # the answer path embeds on demand instead; never take the UI down
        log.exception("warming sentence vectors failed; answers embed them on demand")


def unavailable_app(problem: str, hint: str) -> gr.Blocks:
    """A page that says what is wrong and how to fix it; the server stays up."""
    with gr.Blocks(title="paperchat: no store", analytics_enabled=False) as app:
        gr.Markdown("# paperchat")
        gr.Markdown(f"**{escape_markdown(problem)}**\n\n{escape_markdown(hint)}",
                    elem_id="problem")
    return app


def launch(
    app: gr.Blocks, settings: Settings, *, share: bool = False, block: bool = True,
    port: int | None = None, quiet: bool = False,
) -> tuple[Any, str, str]:
    """Launch ``app`` on settings.ui.host:port; returns Gradio's (app, local url, share url).

    ``block=False`` returns once the server listens (tests); ``app.close()`` stops it. The API's
    ``ask`` and ``search`` are also MCP tools, at ``<url>/gradio_api/mcp/`` (streamable HTTP),
    unless a login is required: Gradio's MCP endpoint has none, and its tool calls fail behind
    one. ``allowed_paths`` lets Gradio serve the eval folder's files (the report's plots).
    """
    from paperchat.ui.app import eval_folder

    auth = check_exposure(settings, share)
    if auth:
        log.info("MCP server off: Gradio's MCP endpoint cannot sign in")
    return app.launch(
        server_name=settings.ui.host,
        server_port=port or settings.ui.port,
        share=share,
        auth=auth,
        auth_message="paperchat: sign in" if auth else None,
        mcp_server=auth is None,
        allowed_paths=[str(eval_folder(settings).resolve())],
        prevent_thread_lock=not block,
        ssr_mode=False,
        footer_links=["api"],
        css=CSS,
        quiet=quiet,
    )


def serve(settings: Settings, *, share: bool = False) -> None:
    """Check exposure, load the engine, serve until interrupted (``paperchat serve``)."""
    check_exposure(settings, share)  # fail before minutes of model loading
    launch(build(settings), settings, share=share)
