"""The web UI: chat with cited, streamed answers; a Papers tab; an Eval tab; the API and MCP tools.

``create_app(engine, settings)`` builds the Blocks around an engine that is already open; it holds
no global state: each browser session keeps its own conversation in ``gr.State``. Launching, auth
and the page shown when there is no store live in ``ui.serve``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    source_files = sorted({s for p in papers.values() for s in p.sources})

    with gr.Blocks(title="paperchat", analytics_enabled=False, fill_width=True) as app:
        gr.Markdown(
            f"# paperchat\nCited answers from {len(papers)} research-paper abstracts. "
            "Each answer links its claims to the passages that support them."
        )
        with gr.Tab("Chat"):
            conversation = gr.State(Conversation())
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Chat",
                        elem_id="chat",
                        height=520,
                        sanitize_html=True,
                        allow_tags=False,
                        feedback_options=None,
                        buttons=["copy"],
                        placeholder="Ask a question about the papers. Each [n] links to its "
                        "source on the right.",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            show_label=False,
                            placeholder="What limits the speed of LLM inference on edge devices?",
                            elem_id="question",
                            scale=6,
                            max_lines=4,
                        )
                        ask_button = gr.Button("Ask", variant="primary", elem_id="ask", scale=1)
                        clear_button = gr.Button("Clear chat", elem_id="clear", scale=1)
                    with gr.Row(elem_id="examples"):
                        gr.Markdown("**Try:**")
                        example_buttons = [
                            (gr.Button(text, size="sm", elem_classes=["example"]), text)
                            for text in example_questions(papers)]
                    with gr.Accordion("Settings", open=False):
                        k = gr.Slider(1, 20, value=settings.retrieval.top_k, step=1,
                                      label="Papers to retrieve")
                        answerers = answerer_choices(settings)
                        answerer = gr.Dropdown(answerers, value=answerers[0], label="Answerer",
                                               interactive=len(answerers) > 1)
                        sources = gr.Dropdown(source_files, multiselect=True, value=[],
                                              label="Only papers from these source files")
                        has_code = gr.Checkbox(label="Only papers with a code or project link")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    panel = gr.HTML(render.sources_panel([], {}), elem_id="sources",
                                    js_on_load=_CITE_JS, max_height=640)

        with gr.Tab("Papers"):
            with gr.Row():
                query = gr.Textbox(label="Search the corpus", scale=4, elem_id="paper-query",
                                   placeholder="empty lists every paper")
                mode = gr.Radio(["hybrid", "dense", "bm25"], value=settings.retrieval.mode,
                                label="Retriever", scale=2)
                n_results = gr.Slider(1, 50, value=10, step=1, label="Results", scale=2)
            search_button = gr.Button("Search", variant="primary")
            found_ids = gr.State([])
            results = gr.Dataframe(
                headers=["#", "Title", "Score", "Dense", "BM25", "Code"],
                datatype=["number", "str", "number", "number", "number", "str"],
                interactive=False,
                wrap=True,
                elem_id="results",
            )
            opened = gr.HTML(elem_id="paper")

        with gr.Tab("Eval"):
            eval_report = gr.Markdown()
            eval_plots = gr.Gallery(label="Plots", columns=2, height="auto")
            eval_refresh = gr.Button("Reload the latest report")

        # -- chat ------------------------------------------------------------------------------

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
                yield gr.skip(), [*asked, _assistant("**No answer came back.**")], gr.skip(), \
                    gr.skip()
                return
            conv = _remember(engine, conv, text, final)
            yield (gr.skip(), [*asked, _assistant(render.chat_message(final, turn))],
                   render.sources_panel(conv.answers, conv.abstracts), conv)

        def clear() -> tuple[Any, ...]:
            return "", [], render.sources_panel([], {}), Conversation()

        chat_inputs = [question, chatbot, conversation, k, answerer, sources, has_code]
        chat_outputs = [question, chatbot, panel, conversation]
        for trigger in (question.submit, ask_button.click):
            trigger(respond, chat_inputs, chat_outputs, api_visibility="private")
        for button, text in example_buttons:  # one click asks
            button.click(lambda t=text: t, None, question, api_visibility="private").then(
                respond, chat_inputs, chat_outputs, api_visibility="private")
        clear_button.click(clear, None, chat_outputs, api_visibility="private")
        chatbot.clear(clear, None, chat_outputs, api_visibility="private")

        # -- papers ------------------------------------------------------------------------------

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

        for trigger in (query.submit, search_button.click):
            trigger(search_papers, [query, mode, n_results], [results, found_ids, opened],
                    api_visibility="private")
        results.select(open_paper, [found_ids], opened, api_visibility="private")

        # -- eval ------------------------------------------------------------------------------

        def latest_eval() -> tuple[str, list[str]]:
            return eval_report_for(settings.home / "eval" / "latest")

        eval_refresh.click(latest_eval, None, [eval_report, eval_plots], api_visibility="private")
        app.load(latest_eval, None, [eval_report, eval_plots], api_visibility="private")

        # -- API and MCP tools -----------------------------------------------------------------

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

    app.queue(default_concurrency_limit=settings.ui.concurrency)
    return app


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


def eval_report_for(folder: Path) -> tuple[str, list[tuple[Any, str]]]:
    """The eval report's markdown and its plots, or a hint when no eval has been run.

    Plots are handed over as images, not paths: Gradio serves only files under its allowed
    folders, and the home may be anywhere.
    """
    from PIL import Image

    report = folder / "report.md"
    if not report.is_file():
        return ("No eval report yet. Run `paperchat eval` (it writes "
                f"`{folder}/report.md` and its plots), then reload.", [])
    plots = []
    for path in sorted(folder.glob("*.png")):
        with Image.open(path) as image:
            plots.append((image.copy(), path.stem))
    return report.read_text(encoding="utf-8"), plots
