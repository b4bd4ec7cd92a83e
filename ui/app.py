"""The web UI: chat with cited, streamed answers; a Papers tab; an Eval tab; the API and MCP tools.

``create_app(engine, settings)`` builds the Blocks around an engine that is already open; it holds
no global state: each browser session keeps its own conversation in ``gr.State``. Launching, auth
and the page shown when there is no store live in ``ui.serve``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import gradio as gr

from paperchat.errors import PaperchatError
from paperchat.rag.types import Answer, Filters
from paperchat.ui import render

if TYPE_CHECKING:
    from paperchat.ingest.store import StoredPaper
    from paperchat.rag.engine import Engine
    from paperchat.settings import Settings

log = logging.getLogger(__name__)

N_EXAMPLES = 5
# "Name: what it is" titles give example questions that the corpus can answer.
_NAMED_TITLE = re.compile(r"^([A-Z][\w\-.]{1,24}): \S")

# Clicking a citation scrolls its entry into view in the panel and marks it. One delegated
# listener on the document, so it also catches links in the chat, which re-renders often.
_CITE_JS = """
if (!window.__paperchatCites) {
  window.__paperchatCites = true;
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a.cite, a.verdict[href]');
    if (!link) return;
    const target = document.getElementById(link.getAttribute('href').slice(1));
    if (!target) return;
    event.preventDefault();
    event.stopPropagation();
    document.querySelectorAll('.src.active').forEach((el) => el.classList.remove('active'));
    target.classList.add('active');
    target.scrollIntoView({behavior: 'smooth', block: 'nearest'});
  }, true);
}
"""


@dataclass
class Conversation:
    """One browser session's chat: what the engine needs for follow-ups and what the panel shows."""

    history: list[tuple[str, str]] = field(default_factory=list)  # (role, text) for the engine
    answers: list[Answer] = field(default_factory=list)
    abstracts: dict[str, str] = field(default_factory=dict)  # paper id -> abstract, for the panel


def create_app(engine: Engine, settings: Settings) -> gr.Blocks:
    """The paperchat UI around an open engine. Call ``.launch()`` on it (see ``ui.serve``)."""
    papers = engine.papers()
    with gr.Blocks(title="paperchat", analytics_enabled=False, fill_width=True) as app:
        gr.Markdown(
            f"# paperchat\nCited answers from {len(papers)} research-paper abstracts. "
            "Each answer links its claims to the passages that support them."
        )
        with gr.Tab("Chat"):
            chat = _chat_tab(settings, papers)
        with gr.Tab("Papers"):
            search = _papers_tab(settings)
        with gr.Tab("Eval"):
            report = _eval_tab()
        _wire_chat(engine, chat)
        _wire_papers(engine, papers, search)
        _wire_eval(app, settings, report)
        _api_tools(engine)
    app.queue(default_concurrency_limit=settings.ui.concurrency)
    return app


# -- the Chat tab -------------------------------------------------------------------------------


@dataclass
class ChatTab:
    """The Chat tab's components, for the event wiring."""

    conversation: gr.State
    chatbot: gr.Chatbot
    question: gr.Textbox
    ask: gr.Button
    clear: gr.Button
    examples: list[gr.Button]
    k: gr.Slider
    answerer: gr.Dropdown
    sources: gr.Dropdown
    has_code: gr.Checkbox
    panel: gr.HTML

    def inputs(self, text: gr.components.Component) -> list[Any]:
        """What ``respond`` reads; ``text`` is the question box or an example button."""
        return [text, self.chatbot, self.conversation, self.k, self.answerer, self.sources,
                self.has_code]

    def outputs(self) -> list[Any]:
        return [self.question, self.chatbot, self.panel, self.conversation]


def _chat_tab(settings: Settings, papers: dict[str, StoredPaper]) -> ChatTab:
    conversation = gr.State(Conversation())
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(
                label="Chat", elem_id="chat", height=520, sanitize_html=True, allow_tags=False,
                feedback_options=None, buttons=["copy"],
                placeholder="Ask a question about the papers. Each [n] links to its source on "
                "the right.",
            )
            with gr.Row():
                question = gr.Textbox(
                    show_label=False, elem_id="question", scale=6, max_lines=4,
                    placeholder="What limits the speed of LLM inference on edge devices?",
                )
                ask = gr.Button("Ask", variant="primary", elem_id="ask", scale=1)
                clear = gr.Button("Clear chat", elem_id="clear", scale=1)
            with gr.Row(elem_id="examples"):
                gr.Markdown("**Try:**")
                examples = [gr.Button(text, size="sm", elem_classes=["example"])
                            for text in example_questions(papers)]
            with gr.Accordion("Settings", open=False):
                k, answerer, sources, has_code = _chat_settings(settings, papers)
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            panel = gr.HTML(render.sources_panel([], {}), elem_id="sources", js_on_load=_CITE_JS,
                            max_height=640)
    return ChatTab(conversation, chatbot, question, ask, clear, examples, k, answerer, sources,
                   has_code, panel)


def _chat_settings(settings: Settings, papers: dict[str, StoredPaper]) -> tuple[Any, ...]:
    """The Settings accordion: papers to retrieve, answerer, filters."""
    k = gr.Slider(1, 20, value=settings.retrieval.top_k, step=1, label="Papers to retrieve")
    answerers = answerer_choices(settings)
    answerer = gr.Dropdown(answerers, value=answerers[0], label="Answerer",
                           interactive=len(answerers) > 1)
    source_files = sorted({s for p in papers.values() for s in p.sources})
    sources = gr.Dropdown(source_files, multiselect=True, value=[],
                          label="Only papers from these source files")
    has_code = gr.Checkbox(label="Only papers with a code or project link")
    return k, answerer, sources, has_code


def _responder(engine: Engine) -> Callable[..., Iterator[tuple[Any, ...]]]:
    """The chat's answer function: streams the answer into the chat, then fills the panel."""

    def respond(
        text: str, messages: list[dict[str, Any]], conv: Conversation, k: float,
        answerer: str, sources: list[str] | None, has_code: bool,
    ) -> Iterator[tuple[Any, ...]]:
        text = (text or "").strip()
        if not text:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        turn = len(conv.answers) + 1
        asked = [*messages, {"role": "user", "content": render.escape_markdown(text)}]
        yield "", [*asked, _assistant("…")], gr.skip(), gr.skip()
        filters = Filters(sources=tuple(sources or ()), has_code=True if has_code else None)
        final: Answer | None = None
        written = ""
        try:
            for piece in engine.stream(text, history=list(conv.history), filters=filters,
                                       k=int(k), answerer=answerer):
                if isinstance(piece, Answer):
                    final = piece
                    break
                written += piece
                yield gr.skip(), [*asked, _assistant(render.answer_markdown(written, turn))], \
                    gr.skip(), gr.skip()
        except PaperchatError as exc:
            yield gr.skip(), [*asked, _assistant(f"**{render.escape_markdown(str(exc))}**")], \
                gr.skip(), gr.skip()
            return
        if final is None:  # the engine broke its contract; say so rather than hang
            log.error("engine.stream ended without an Answer for %r", text)
            yield gr.skip(), [*asked, _assistant("**No answer came back.**")], gr.skip(), gr.skip()
            return
        conv = _remember(engine, conv, text, final)
        yield (gr.skip(), [*asked, _assistant(render.chat_message(final, turn))],
               render.sources_panel(conv.answers, conv.abstracts), conv)

    return respond


def _wire_chat(engine: Engine, chat: ChatTab) -> None:
    respond = _responder(engine)

    def clear() -> tuple[Any, ...]:
        return "", [], render.sources_panel([], {}), Conversation()

    private = {"api_visibility": "private"}
    for trigger in (chat.question.submit, chat.ask.click):
        trigger(respond, chat.inputs(chat.question), chat.outputs(), **private)
    for button in chat.examples:  # one click asks: the button's label is the question
        button.click(respond, chat.inputs(button), chat.outputs(), **private)
    chat.clear.click(clear, None, chat.outputs(), **private)
    chat.chatbot.clear(clear, None, chat.outputs(), **private)


# -- the Papers tab -----------------------------------------------------------------------------


@dataclass
class PapersTab:
    query: gr.Textbox
    mode: gr.Radio
    n_results: gr.Slider
    search: gr.Button
    found_ids: gr.State
    results: gr.Dataframe
    opened: gr.HTML


def _papers_tab(settings: Settings) -> PapersTab:
    with gr.Row():
        query = gr.Textbox(label="Search the corpus", scale=4, elem_id="paper-query",
                           placeholder="empty lists every paper")
        mode = gr.Radio(["hybrid", "dense", "bm25"], value=settings.retrieval.mode,
                        label="Retriever", scale=2)
        n_results = gr.Slider(1, 50, value=10, step=1, label="Results", scale=2)
    search = gr.Button("Search", variant="primary")
    found_ids = gr.State([])
    results = gr.Dataframe(
        headers=["#", "Title", "Score", "Dense", "BM25", "Code"],
        datatype=["number", "str", "number", "number", "number", "str"],
        interactive=False, wrap=True, elem_id="results",
    )
    opened = gr.HTML(elem_id="paper")
    return PapersTab(query, mode, n_results, search, found_ids, results, opened)


def _wire_papers(engine: Engine, papers: dict[str, StoredPaper], tab: PapersTab) -> None:
    def search_papers(text: str, mode: str, n: float) -> tuple[Any, ...]:
        try:
            rows, ids = _paper_rows(engine, papers, (text or "").strip(), mode, int(n))
        except PaperchatError as exc:
            return [], [], render.message(str(exc))
        first = render.message("Click a row to read its abstract.", "hint") if ids else \
            render.message("Nothing found.", "hint")
        return rows, ids, first

    def open_paper(ids: list[str], evt: gr.SelectData) -> str:
        row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        if not isinstance(row, int) or not 0 <= row < len(ids):
            return gr.skip()
        paper = engine.paper(ids[row])
        if paper is None:
            return render.message("That paper is no longer in the store.")
        return _paper_page(paper)

    for trigger in (tab.query.submit, tab.search.click):
        trigger(search_papers, [tab.query, tab.mode, tab.n_results],
                [tab.results, tab.found_ids, tab.opened], api_visibility="private")
    tab.results.select(open_paper, [tab.found_ids], tab.opened, api_visibility="private")


# -- the Eval tab -------------------------------------------------------------------------------


@dataclass
class EvalTab:
    plots: gr.Gallery
    report: gr.Markdown
    refresh: gr.Button


def _eval_tab() -> EvalTab:
    refresh = gr.Button("Reload the latest report")
    plots = gr.Gallery(label="Plots", columns=3, height="auto", object_fit="contain",
                       elem_id="eval-plots")
    report = gr.Markdown(elem_id="eval-report")
    return EvalTab(plots, report, refresh)


def _wire_eval(app: gr.Blocks, settings: Settings, tab: EvalTab) -> None:
    def latest_eval() -> tuple[str, list[tuple[str, str]]]:
        return eval_report_for(eval_folder(settings) / "latest")

    outputs = [tab.report, tab.plots]
    tab.refresh.click(latest_eval, None, outputs, api_visibility="private")
    app.load(latest_eval, None, outputs, api_visibility="private")


# -- the API and MCP tools ----------------------------------------------------------------------


def _api_tools(engine: Engine) -> None:
    """``ask`` and ``search``: named API endpoints for gradio_client, and MCP tools (their
    docstrings and typed arguments are the tools' descriptions and schemas)."""

    def ask(question: str) -> str:
        """Answer a question from the research-paper abstracts, citing the papers used.

        Args:
            question: a question about the research covered by the corpus.

        Returns:
            The answer in markdown, each claim followed by [n], then the numbered sources
            (title and code or project link); when the corpus cannot support an answer, a
            refusal and the closest papers.
        """
        try:
            return render.api_markdown(engine.answer(question))
        except PaperchatError as exc:
            raise gr.Error(str(exc)) from exc

    def search(query: str, k: int = 5) -> list[dict[str, Any]]:
        """Search the research-paper abstracts by meaning and keywords (hybrid retrieval).

        Args:
            query: what to look for.
            k: how many papers to return (1 to 50).

        Returns:
            The best papers first: paper_id, title, score, the best matching passage and
            the paper's code or project links.
        """
        try:
            found = engine.search(query, k=max(1, min(int(k), 50)))
        except PaperchatError as exc:
            raise gr.Error(str(exc)) from exc
        return [
            {"rank": p.rank, "paper_id": p.paper_id, "title": p.title,
             "score": round(p.score, 4), "passage": p.passages[0] if p.passages else "",
             "urls": p.urls}
            for p in found
        ]

    gr.api(ask, api_name="ask")
    gr.api(search, api_name="search")


def _assistant(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def _remember(engine: Engine, conv: Conversation, question: str, answer: Answer) -> Conversation:
    """The conversation with this exchange added (a new object: gr.State is per session)."""
    abstracts = dict(conv.abstracts)
    for citation in answer.citations:
        if citation.paper_id not in abstracts:
            paper = engine.paper(citation.paper_id)
            abstracts[citation.paper_id] = paper.abstract if paper else ""
    return Conversation(
        history=[*conv.history, ("user", question), ("assistant", answer.text)],
        answers=[*conv.answers, answer],
        abstracts=abstracts,
    )


def _paper_rows(
    engine: Engine, papers: dict[str, StoredPaper], text: str, mode: str, n: int
) -> tuple[list[list[Any]], list[str]]:
    if not text:  # browse: every paper, by title
        listed = sorted(papers.values(), key=lambda p: p.title.lower())
        rows = [[i, p.title, None, None, None, "yes" if p.links else ""]
                for i, p in enumerate(listed, start=1)]
        return rows, [p.paper_id for p in listed]
    found = engine.search(text, k=n, mode=mode)
    rows = [[p.rank, p.title, round(p.score, 4), _round(p.dense), _round(p.bm25),
             "yes" if p.urls else ""] for p in found]
    return rows, [p.paper_id for p in found]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _paper_page(paper: StoredPaper) -> str:
    authors = ", ".join(paper.authors[:6]) + (" et al." if len(paper.authors) > 6 else "")
    meta = [paper.date, authors, ", ".join(paper.categories), "from " + ", ".join(paper.sources)]
    return render.paper_html(paper.title, paper.abstract, paper.links, meta)


def example_questions(papers: dict[str, StoredPaper], n: int = N_EXAMPLES) -> list[str]:
    """Questions the corpus can answer, made from "Name: description" titles, same every run."""
    names: list[str] = []
    for paper in sorted(papers.values(), key=lambda p: p.paper_id):
        match = _NAMED_TITLE.match(paper.title)
        if match and match.group(1) not in names:
            names.append(match.group(1))
        if len(names) == n:
            break
    questions = [f"What does {name} do?" for name in names]
    if len(names) >= 2:
        questions.append(f"Compare {names[0]} and {names[1]}")
    return questions


def answerer_choices(settings: Settings) -> list[str]:
    """The configured answerer first, then the others that need no more configuration."""
    choices = [settings.answer.answerer]
    if settings.answer.llm_gguf_path:
        choices.append("llamacpp")
    choices.append("extractive")
    return list(dict.fromkeys(choices))


def eval_folder(settings: Settings) -> Path:
    """Where ``paperchat eval`` writes its runs; the UI serves the plots under it."""
    return settings.home / "eval"


def eval_report_for(folder: Path) -> tuple[str, list[tuple[str, str]]]:
    """The eval report's markdown and its plots (path, caption), or a hint when there is none.

    The report's relative image links (``![x](metrics.png)``) would resolve against the page,
    not the folder: they become links to Gradio's file route, which serves them because
    ``ui.serve.launch`` allows the eval folder. The plots also fill the gallery, as real paths.
    """
    report = folder / "report.md"
    if not report.is_file():
        return ("No eval report yet. Run `paperchat eval` (it writes "
                f"`{folder}/report.md` and its plots), then reload.", [])
    plots = [(str(path), path.stem) for path in sorted(folder.glob("*.png"))]
    return _IMAGE_LINK.sub(lambda m: _served_image(folder, m), report.read_text("utf-8")), plots


# ![alt](file.png): a relative link to a file of the report's folder.
_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([\w.-]+\.png)\)")


def _served_image(folder: Path, match: re.Match[str]) -> str:
    path = (folder / match.group(2)).resolve()
    if not path.is_file():
        return match.group(0)
    # Relative to the page, so it also works under a proxy's root path; the version makes the
    # browser fetch a report's new plot instead of the one it cached.
    url = f"gradio_api/file={quote(str(path))}?v={path.stat().st_mtime_ns}"
    return f"![{match.group(1)}]({url})"
