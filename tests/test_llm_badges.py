"""How a checked LLM answer looks in the chat: each sentence followed by its verdict badge, which
links to the source entry whose passage supports it; nothing from the answer becomes markup."""

from __future__ import annotations

import re

from paperchat.rag.types import Answer, CheckedSentence, Citation
from paperchat.ui import render

KIVI_PASSAGE = ("KIVI can enable Llama (Llama-2), Falcon, and Mistral models to maintain almost "
                "the same quality while using 2.6times less peak memory usage.")
SCISSORS_PASSAGE = ("We validate that Scissorhands reduces the inference memory usage of the KV "
                    "cache by up to 5X without compromising model quality.")


def checked_answer() -> Answer:
    text = ("- KIVI uses 2.6x less peak memory [1].\n"
            "- Scissorhands reduces KV cache memory by up to 5X [2].\n"
            "- KIVI beats Scissorhands by 2.6x <b>always</b> [1].")
    return Answer(
        question="Compare KIVI and Scissorhands", text=text, answerer="llamacpp",
        citations=[Citation(1, "p1", "KIVI", [], KIVI_PASSAGE),
                   Citation(2, "p2", "Scissorhands", [], SCISSORS_PASSAGE)],
        sentences=[
            CheckedSentence("KIVI uses 2.6x less peak memory.", [1], "supported", 0.71,
                            KIVI_PASSAGE, written=[1]),
            CheckedSentence("Scissorhands reduces KV cache memory by up to 5X.", [2], "corrected",
                            0.88, SCISSORS_PASSAGE, written=[1], reason="[2] supports it"),
            CheckedSentence("KIVI beats Scissorhands by 2.6x <b>always</b>.", [1], "unsupported",
                            0.52, KIVI_PASSAGE, written=[1],
                            reason="[1]: the paper does not mention Scissorhands"),
        ],
    )


def test_each_sentence_is_followed_by_its_verdict_badge() -> None:
    html = render.chat_message(checked_answer(), turn=2)
    lines = html.split("\n")
    assert [re.findall(r'class="verdict v-(\w+)"', line) for line in lines[:3]] == [
        ["supported"], ["corrected"], ["unsupported"]]
    # The badge comes right after the sentence and its citation, before the next sentence.
    assert re.search(r'memory <a href="#src-2-1" class="cite" data-n="1">\[1\]</a>\. '
                     r'<a href="#src-2-1" class="verdict v-supported"', lines[0])


def test_a_badge_links_to_the_supporting_source_with_the_passage_as_its_tooltip() -> None:
    html = render.chat_message(checked_answer(), turn=2)
    corrected = re.search(r'<a href="(#src-2-\d)" class="verdict v-corrected" title="([^"]*)"',
                          html)
    assert corrected and corrected.group(1) == "#src-2-2"
    assert "Scissorhands reduces the inference memory" in corrected.group(2)
    unsupported = re.search(r'class="verdict v-unsupported" title="([^"]*)"', html)
    assert unsupported and "does not mention Scissorhands" in unsupported.group(1)
    # The panel entry a badge opens marks the passage that supports the sentence.
    panel = render.sources_panel([checked_answer()], {"p2": "Intro. " + SCISSORS_PASSAGE})
    assert '<mark class="passage">We validate that Scissorhands' in panel


def test_answer_text_in_a_checked_answer_stays_text() -> None:
    html = render.chat_message(checked_answer(), turn=1)
    assert "<b>" not in html and "&lt;b&gt;always&lt;/b&gt;" in html
    assert "Check these sentences" not in html  # the badges say it; no second list


def test_an_answer_without_verdicts_renders_as_before() -> None:
    plain = Answer(question="q", text="KIVI quantizes the cache [1].",
                   citations=[Citation(1, "p1", "KIVI", [], "x")])
    assert "verdict" not in render.chat_message(plain, turn=1)
