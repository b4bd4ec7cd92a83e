"""What the UI renders: linked citations, a sources panel with the passage marked, and nothing
from the corpus or an answer that can become markup or script."""

from __future__ import annotations

import re

from paperchat.rag.types import Answer, Citation, Flag, RetrievedPaper
from paperchat.ui import render

TPI = (
    "Large model inference is shifting from cloud to edge. However, edge devices often  struggle "
    "with limited computing power, memory, and bandwidth. We present TPI-LLM."
)
EVIL = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def tpi_answer(text: str = "Edge devices lack compute and memory [1]. See also [2].") -> Answer:
    return Answer(
        question="What limits LLM inference on edge devices?",
        text=text,
        citations=[
            Citation(1, "p1", "TPI-LLM: Serving 70B-scale LLMs", ["https://github.com/x/tpi"],
                     "Edge devices often struggle with limited computing power, memory, and "
                     "bandwidth."),
        ],
    )


def test_each_citation_links_to_its_entry_in_the_sources_panel() -> None:
    answer = tpi_answer()
    chat = render.chat_message(answer, turn=2)
    panel = render.sources_panel([tpi_answer(), answer], {"p1": TPI})

    hrefs = re.findall(r'<a href="#([\w-]+)" class="cite"', chat)
    assert hrefs == ["src-2-1"]
    assert 'id="src-2-1"' in panel and 'id="src-1-1"' in panel
    assert r"\[2\]" in chat and "#src-2-2" not in chat  # a source that does not exist is not a link


def test_the_panel_shows_title_abstract_with_the_passage_marked_and_code_links() -> None:
    panel = render.sources_panel([tpi_answer()], {"p1": TPI})

    assert "TPI-LLM: Serving 70B-scale LLMs" in panel
    marked = re.findall(r'<mark class="passage">(.*?)</mark>', panel)
    assert marked == ["edge devices often  struggle with limited computing power, memory, and "
                      "bandwidth."]
    assert "Large model inference is shifting from cloud to edge." in panel
    assert '<a href="https://github.com/x/tpi" target="_blank"' in panel


def test_a_passage_of_several_sentences_or_a_shortened_one_is_still_found() -> None:
    passage = "TPI-LLM: Serving. Edge devices often struggle with limited computing power, " \
        "memory, and bandwidth. We present TPI-LLM."
    html = render.highlight(TPI, passage)

    assert re.findall(r"<mark[^>]*>(.*?)</mark>", html) == [
        "edge devices often  struggle with limited computing power, memory, and bandwidth.",
        "We present TPI-LLM.",
    ]
    assert render.highlight(TPI, "Something the abstract never says at all.") == TPI


def test_corpus_text_cannot_inject_markup_or_script_anywhere() -> None:
    answer = Answer(
        question=EVIL,
        text=f"{EVIL} [1] [click](javascript:alert(1)) ![t](http://tracker/x.png)",
        citations=[Citation(1, "p1", EVIL, ["javascript:alert(1)", EVIL], EVIL)],
        notices=[EVIL],
        flags=[Flag(EVIL, "no citation")],
    )
    closest = RetrievedPaper(1, "p2", EVIL, 0.1, passages=[EVIL], abstract=EVIL, urls=[EVIL])
    refused = Answer(question=EVIL, text=EVIL, refused=True, closest=[closest])
    outputs = [
        render.chat_message(answer, 1),
        render.answer_markdown(EVIL, 1),
        render.sources_panel([answer, refused], {"p1": EVIL + " " + EVIL}),
        render.paper_html(EVIL, EVIL, [EVIL, "javascript:alert(1)"], [EVIL]),
        render.message(EVIL),
    ]
    for out in outputs:
        assert "<img" not in out and "<script" not in out
        assert 'href="javascript' not in out
        assert "&lt;script&gt;" in out
    chat = outputs[0]
    # markdown links and images stay text: their brackets are escaped
    assert r"\[click\](javascript" in chat and r"!\[t\](http://tracker" in chat
    assert re.search(r"(?<!\\)[\[\]]", chat.replace('[1]</a>', '')) is None


def test_template_syntax_from_the_corpus_stays_text() -> None:
    html = render.paper_html("${alert(1)} {{x}} `y`", "abstract", [])
    assert "${" not in html and "{{" not in html and "`" not in html
    assert "&#36;&#123;alert(1)&#125;" in html


def test_a_refused_answer_shows_the_closest_papers() -> None:
    closest = [RetrievedPaper(1, "p9", "Chocolate-Free Transformers", 0.0312,
                              passages=["We remove chocolate."],
                              abstract="Intro. We remove chocolate. More.")]
    refused = Answer(question="Best cake?", text="The corpus has no paper on this question.",
                     refused=True, closest=closest)

    panel = render.sources_panel([refused], {})
    assert "Closest matches" in panel and "Chocolate-Free Transformers" in panel
    assert '<mark class="passage">We remove chocolate.</mark>' in panel
    assert "closest papers" in render.chat_message(refused, 1)
    api = render.api_markdown(refused)
    assert api.startswith("The corpus has no paper") and "- Chocolate-Free Transformers" in api


def test_the_api_answer_lists_numbered_sources_with_their_links() -> None:
    api = render.api_markdown(tpi_answer("Edge devices lack memory [1]."))
    assert api == (
        "Edge devices lack memory [1].\n\nSources:\n"
        "[1] TPI-LLM: Serving 70B-scale LLMs <https://github.com/x/tpi>"
    )


def test_the_empty_panel_says_what_will_appear() -> None:
    assert "Sources of the answers appear here" in render.sources_panel([], {})


def test_an_answer_table_stays_a_markdown_table_with_linked_citations_in_its_rows() -> None:
    text = ("| paper | approach | reported result | code |\n| --- | --- | --- | --- |\n"
            "| **TPI-LLM** [1] | serves 70B models on edge devices | 80% less latency |  |")
    chat = render.chat_message(tpi_answer(text), turn=1)
    lines = chat.splitlines()
    assert lines[:2] == ["| paper | approach | reported result | code |",
                         "| --- | --- | --- | --- |"]
    link = '<a href="#src-1-1" class="cite" data-n="1">[1]</a>'
    assert lines[2].startswith(f"| **TPI-LLM** {link} |")


def test_a_mark_citing_several_sources_links_each_number() -> None:
    two = Answer(question="q", text="Both shrink the cache [1, 2]; one also quantizes it [1; 3].",
                 citations=[Citation(1, "p1", "KIVI", [], "x"),
                            Citation(2, "p2", "Scissorhands", [], "y")])
    chat = render.chat_message(two, turn=3)
    assert re.findall(r'<a href="#(src-3-\d)" class="cite" data-n="\d">', chat) == [
        "src-3-1", "src-3-2", "src-3-1"]  # [3] is no source of this answer: it stays text
    assert (r'cache \[<a href="#src-3-1" class="cite" data-n="1">1</a>, '
            r'<a href="#src-3-2" class="cite" data-n="2">2</a>\];') in chat
    assert r'data-n="1">1</a>; 3\]' in chat
    # While streaming, every number of a mark is a link.
    streamed = render.answer_markdown("Both [1, 2]", turn=1)
    assert streamed.count('class="cite"') == 2
