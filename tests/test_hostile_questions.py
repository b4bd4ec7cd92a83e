"""Hostile questions: control characters, a megabyte of text, markup and script payloads."""

from __future__ import annotations

import pytest

from paperchat.rag.engine import Engine
from paperchat.settings import Settings
from paperchat.ui import render

pytestmark = pytest.mark.slow
SCRIPT = "<script>alert('x')</script><img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def engine(corpus_home) -> Engine:  # type: ignore[no-untyped-def]
    return Engine(Settings(home=corpus_home))


def test_control_characters_are_dropped_and_the_question_answered(engine: Engine) -> None:
    answer = engine.answer("\x00\x07How do papers \x1b[31mcompress\x1b[0m the KV\u200b cache?\x7f")
    assert not answer.refused and answer.citations
    assert not any(ch in answer.question for ch in "\x00\x07\x1b\x7f")


def test_a_megabyte_question_is_truncated_with_a_notice(engine: Engine) -> None:
    question = "Which papers shrink the KV cache? " + "x" * 1_000_000
    answer = engine.answer(question)
    assert any("characters long" in n for n in answer.notices)
    assert len(answer.question) <= engine.settings.answer.max_question_chars


def test_script_in_a_question_is_never_rendered_as_markup(engine: Engine) -> None:
    answer = engine.answer(f"{SCRIPT} How is the KV cache quantized?")
    html = render.chat_message(answer, turn=1) + render.sources_panel(
        [answer], {c.paper_id: engine.paper(c.paper_id).abstract for c in answer.citations})
    for page in (html, render.api_markdown(answer), render.message(answer.question)):
        assert "<script" not in page and "<img" not in page
