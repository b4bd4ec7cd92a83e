"""The real UI server on the real corpus: its API through gradio_client, and the page through a
headless Chromium (Debian's, driven by playwright; playwright's own browsers are not used)."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paperchat.rag.text import cited_numbers
from paperchat.settings import Settings
from paperchat.ui.serve import build, launch

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUESTION = "What limits the speed of LLM inference on edge devices?"
EVIL = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


@dataclass
class Server:
    url: str
    titles: dict[str, str]  # title -> abstract, of every paper in the store
    home: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(settings: Settings) -> tuple[Any, Server]:
    app = build(settings)
    _, url, _ = launch(app, settings, block=False, port=free_port(), quiet=True)
    papers = settings.store().papers()
    return app, Server(url, {p.title: p.abstract for p in papers.values()}, settings.home)


@pytest.fixture(scope="module")
def server(corpus_home: Path) -> Iterator[Server]:
    """The UI on the real corpus, with an eval report (a short real run) for its Eval tab."""
    from typer.testing import CliRunner

    from paperchat.cli import app as cli

    ran = CliRunner().invoke(cli, ["eval", "--limit", "6", "--systems", "bm25", "--quiet"],
                             env={"PAPERCHAT_HOME": str(corpus_home)})
    assert ran.exit_code == 0 and ran.exception is None, ran.output
    app, running = start(Settings(home=corpus_home))
    yield running
    app.close()


@pytest.fixture(scope="module")
def evil_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A store whose one paper tries to inject markup and script through every field."""
    from paperchat.ingest.pipeline import run_ingest

    folder = tmp_path_factory.mktemp("evil")
    record = {
        "id": "evil-1",
        "title": f"FlashSparse {EVIL} attention",
        "abstract": "FlashSparse is a sparse attention kernel that speeds up long-context LLM "
        f"inference by three times on a single GPU. {EVIL} It skips blocks of the attention "
        "matrix whose scores are small. [click](javascript:window.__xss=3) ${window.__xss=4} "
        "{{constructor.constructor('window.__xss=5')()}} Code: https://github.com/evil/flash.",
    }
    source = folder / "evil.jsonl"
    source.write_text(json.dumps(record) + "\n", encoding="utf-8")
    settings = Settings(home=folder / "home")
    run_ingest(settings, [source])
    app, running = start(settings)
    yield running
    app.close()


def cited_sources(markdown: str) -> dict[int, str]:
    """The numbered sources of an API answer: n -> title."""
    _, _, listing = markdown.partition("\n\nSources:\n")
    return {int(m.group(1)): m.group(2).strip()
            for m in re.finditer(r"^\[(\d+)\] (.+?)(?: <[^>]+>)?$", listing, re.MULTILINE)}


# -- API ---------------------------------------------------------------------------------------


def test_ask_returns_a_cited_answer_whose_sources_are_corpus_papers(server: Server) -> None:
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    started = time.perf_counter()
    answer = client.predict(QUESTION, api_name="/ask")
    seconds = time.perf_counter() - started

    sources = cited_sources(answer)
    cited = set(cited_numbers(answer.partition("\n\nSources:")[0]))
    assert sources and cited and cited <= set(sources)
    assert set(sources.values()) <= set(server.titles)
    assert any("Edge" in title for title in sources.values())
    print(f"ask via gradio_client: {seconds:.2f} s")


def test_search_returns_ranked_corpus_papers_with_scores(server: Server) -> None:
    from gradio_client import Client

    found = Client(server.url, verbose=False).predict("KV cache compression", 5,
                                                       api_name="/search")
    assert [p["rank"] for p in found] == [1, 2, 3, 4, 5]
    assert all(p["title"] in server.titles for p in found)
    assert [p["score"] for p in found] == sorted((p["score"] for p in found), reverse=True)
    assert any("KV" in p["title"] for p in found[:3])


def test_a_question_the_corpus_cannot_answer_is_refused_with_the_closest_papers(
    server: Server,
) -> None:
    from gradio_client import Client

    answer = Client(server.url, verbose=False).predict(
        "What is the best recipe for chocolate cake?", api_name="/ask")
    assert answer.startswith("No paper in the corpus")  # the reason comes first
    assert "The closest papers are:" in answer and "Sources:" not in answer
    assert sum(title in answer for title in server.titles) >= 1


def test_ten_users_at_once_all_get_answers(server: Server) -> None:
    from gradio_client import Client

    questions = [QUESTION, "How can KV cache memory be reduced?", "What is speculative decoding?",
                 "How are small language models trained?", "What does RE-Bench measure?"] * 2

    def ask(question: str) -> str:
        return Client(server.url, verbose=False).predict(question, api_name="/ask")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(ask, questions))
    print(f"10 concurrent asks: {time.perf_counter() - started:.2f} s")
    for question, answer in zip(questions, answers, strict=True):
        assert cited_sources(answer) and "[1]" in answer, (question, answer)


# -- the page ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make setup-dev` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def ask_in_page(page: Any, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()


def results_cell(page: Any, text: str) -> Any:
    # The table keeps hidden copies of its cells for measuring; the visible one is clicked.
    return page.locator("#results").get_by_text(text).locator("visible=true").first


def test_a_streamed_answer_links_each_citation_to_its_highlighted_passage(
    server: Server, page: Any
) -> None:
    from playwright.sync_api import expect

    page.goto(server.url)
    ask_in_page(page, QUESTION)
    page.locator("#chat a.cite").first.wait_for()
    page.locator("#sources .src").first.wait_for()

    citation = page.locator("#chat a.cite").last
    target = citation.get_attribute("href")
    assert target and target.startswith("#src-1-")
    citation.click()
    entry = page.locator(target)
    passage = entry.locator("mark.passage").first
    expect(passage).to_be_in_viewport()  # the panel scrolled to it
    expect(entry).to_have_class(re.compile(r"\bactive\b"))
    title = re.sub(r"^\[\d+\]\s*", "", entry.locator(".src-title").inner_text()).strip()
    assert title in server.titles
    assert " ".join(passage.inner_text().split()) in " ".join(server.titles[title].split())

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui.png"))


def test_each_example_button_asks_in_one_click_and_gets_a_cited_answer(
    server: Server, page: Any
) -> None:
    page.goto(server.url)
    buttons = page.locator("#examples button.example")
    buttons.first.wait_for()
    examples = [buttons.nth(i).inner_text() for i in range(buttons.count())]
    assert len(examples) >= 5
    for turn, example in enumerate(examples, start=1):
        page.locator("#examples button.example").get_by_text(example, exact=True).click()
        section = page.locator(f"#sources .turn[data-turn='{turn}']")
        section.wait_for()  # that one click asked: the answer's sources are in the panel
        assert example in section.locator(".turn-q").inner_text()
        assert section.locator(".refused").count() == 0, section.inner_text()
        assert section.locator(".src").count() >= 1
        # and the answer came into the chat: its citations link to this turn's sources
        assert page.locator(f"#chat a.cite[href^='#src-{turn}-']").count() >= 1


def test_a_declined_question_shows_its_reason_and_the_closest_papers(
    server: Server, page: Any
) -> None:
    page.goto(server.url)
    ask_in_page(page, "How long should a sourdough starter ferment before baking bread?")
    refused = page.locator("#sources .turn[data-turn='1'] .refused")
    refused.wait_for()
    assert "No paper in the corpus mentions 'sourdough'" in refused.inner_text()
    assert page.locator("#sources .turn[data-turn='1'] .src.closest").count() >= 1
    ask_in_page(page, "Splitwise vs Mooncake")
    partial = page.locator("#sources .turn[data-turn='2'] .partial")
    partial.wait_for()
    assert "Mooncake" in partial.inner_text()
    assert "Mooncake is not in the corpus" in page.locator("#chat").inner_text()


def test_a_survey_answer_renders_its_table_with_a_linked_citation_in_each_row(
    server: Server, page: Any
) -> None:
    from playwright.sync_api import expect

    page.goto(server.url)
    ask_in_page(page, "Summarize the techniques for speculative decoding")
    page.locator("#chat table a.cite").first.wait_for()
    rows = page.locator("#chat table tbody tr")
    assert rows.count() >= 3
    assert page.locator("#chat table thead").inner_text().split() == \
        ["paper", "approach", "reported", "result", "code"]
    for i in range(rows.count()):
        assert rows.nth(i).locator("a.cite").count() == 1
    link = rows.nth(1).locator("a.cite")
    link.click()
    expect(page.locator(link.get_attribute("href") or "")).to_be_in_viewport()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-table.png"))


def test_follow_ups_use_the_conversation_and_clear_starts_over(server: Server, page: Any) -> None:
    page.goto(server.url)
    ask_in_page(page, "What does TPI-LLM do?")
    page.locator("#sources .turn[data-turn='1']").wait_for()
    ask_in_page(page, "How does it manage memory?")
    page.locator("#sources .turn[data-turn='2']").wait_for()
    second = page.locator("#sources .turn[data-turn='2']").inner_text()
    assert "TPI-LLM" in second  # "it" was read as TPI-LLM, from the conversation

    page.locator("#clear").click()
    page.get_by_text("Sources of the answers appear here").wait_for()
    assert page.locator("#chat a.cite").count() == 0


def test_the_settings_filter_cites_only_papers_with_code(server: Server, page: Any) -> None:
    page.goto(server.url)
    page.get_by_text("Settings", exact=True).click()
    page.get_by_label("Only papers with a code or project link").check()
    ask_in_page(page, QUESTION)
    page.locator("#sources .turn[data-turn='1']").wait_for()
    assert page.locator("#sources .refused").count() == 0
    entries = page.locator("#sources .src")
    assert entries.count() >= 1
    for i in range(entries.count()):
        assert entries.nth(i).locator(".src-links a").count() >= 1


def test_the_papers_tab_searches_with_scores_and_opens_a_paper(server: Server, page: Any) -> None:
    page.goto(server.url)
    page.get_by_role("tab", name="Papers").click()
    page.locator("#paper-query textarea, #paper-query input").first.fill("tensor parallel edge")
    page.locator("#paper-query textarea, #paper-query input").first.press("Enter")
    cell = results_cell(page, "TPI-LLM")
    cell.wait_for()
    assert re.search(r"\d\.\d{3}", page.locator("#results").inner_text())  # fused scores
    cell.click()
    paper = page.locator("#paper article.paper")
    paper.wait_for()
    title = paper.locator("h3").inner_text()
    assert title in server.titles and "TPI-LLM" in title
    assert server.titles[title][:80] in paper.locator(".src-abstract").inner_text()


def test_corpus_text_cannot_run_script_in_the_page(evil_server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(evil_server.url)
    ask_in_page(page, "How does FlashSparse speed up long-context inference?")
    page.locator("#sources .src").first.wait_for()
    page.locator("#chat a.cite").first.click()
    page.get_by_role("tab", name="Papers").click()
    page.locator("#paper-query textarea, #paper-query input").first.press("Enter")
    results_cell(page, "FlashSparse").click()
    # Everything the payload reached has rendered, as text: the chat's answer, the panel's
    # source, the opened paper.
    expect(page.locator("#paper h3")).to_contain_text("<script>window.__xss=2</script>")
    expect(page.locator("#sources .src-abstract").first).to_contain_text("<img src=x onerror=")
    expect(page.locator("#chat")).to_contain_text("FlashSparse")
    # None of its elements exist, so none of its handlers can run later.
    assert page.locator("img[src='x'], #sources script, #paper script, #chat script").count() == 0
    # A control: an image of the same kind, put in the page on purpose, runs its handler; by
    # then an injected one would have run too.
    page.evaluate("""() => document.body.insertAdjacentHTML('beforeend',
        '<img id="control" src="x" onerror="window.__control = 1">')""")
    page.wait_for_function("window.__control === 1")
    assert page.evaluate("window.__xss") is None



def test_the_eval_tab_shows_the_reports_plots_loaded(server: Server, page: Any) -> None:
    page.goto(server.url)
    page.get_by_role("tab", name="Eval").click()
    report = page.locator("#eval-report")
    report.get_by_text("Per question").first.wait_for()
    images = page.locator("#eval-report img, #eval-plots img")
    # The report shows its plots where it names them, and the gallery shows each plot once.
    expected = len(list((server.home / "eval" / "latest").glob("*.png")))
    assert expected >= 3
    page.wait_for_function(
        """n => document.querySelectorAll('#eval-report img').length === n""", arg=expected)
    for i in range(images.count()):
        image = images.nth(i)
        image.scroll_into_view_if_needed()
        image.evaluate("img => img.complete || new Promise(done => { img.onload = done; "
                       "img.onerror = done; })")
        width = image.evaluate("img => img.naturalWidth")
        assert width > 0, image.get_attribute("src")
    assert page.locator("#eval-plots img").count() >= expected
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui-eval.png"), full_page=True)
