"""Answers that state the facts, over the real corpus: the shape of the answer follows the
question (one paper, survey, comparison), tables come with citations, and every sentence and
cell is the cited abstract's own text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperchat.cli import app
from paperchat.eval.metrics import answer_words, unfaithful_lines
from paperchat.rag.engine import Engine
from paperchat.rag.sentences import points_back, split_sentences
from paperchat.rag.types import Answer
from paperchat.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine(corpus_home: Path) -> Engine:
    return Engine(Settings(home=corpus_home))


def sources(engine: Engine, answer: Answer) -> dict[int, str]:
    out = {}
    for c in answer.citations:
        paper = engine.paper(c.paper_id)
        assert paper is not None
        out[c.n] = f"{paper.title}\n{' '.join(paper.urls)}\n{paper.abstract}"
    return out


def table_rows(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[2:]]


def test_a_technique_summary_opens_with_how_many_papers_and_tables_their_results(
    engine: Engine,
) -> None:
    answer = engine.answer("Summarize the techniques for speculative decoding")
    assert answer.shape == "survey"
    first = answer.text.splitlines()[0]
    assert re.fullmatch(r"\d+ papers in the corpus address speculative decoding:", first)
    n_papers = int(first.split()[0])
    assert n_papers == len(answer.citations) >= 3
    rows = table_rows(answer.text)
    assert len(rows) == len(answer.table) == n_papers
    for row, cells in zip(rows, answer.table, strict=True):
        assert re.search(rf"\[{cells.n}\]", row[0])  # each row carries its citation
        assert cells.cells["approach"] and cells.cells["approach"] in row[1]
    assert sum(bool(re.search(r"\d", r[2])) for r in rows) >= 2  # results keep their numbers
    assert unfaithful_lines(answer.text, sources(engine, answer)) == []


def check_kivi_and_scissorhands(engine: Engine, answer: Answer) -> None:
    assert answer.shape == "comparison"
    rows = table_rows(answer.text)
    assert [r[0].split("**")[1] for r in rows] == ["KIVI", "Scissorhands"]
    assert {c.title.split(":")[0] for c in answer.citations} == {"KIVI", "Scissorhands"}
    for row in rows:
        approach, result = row[2], row[3]
        assert approach and re.search(r"\d", result), row
    assert "5X" in answer.text and "2.6times" in answer.text
    assert [r.cells["paper"] for r in answer.table] == ["KIVI", "Scissorhands"]
    for row in answer.table:  # the problem each takes on, not the background opening its abstract
        opening = split_sentences(engine.paper(row.paper_id).abstract)[0]  # type: ignore[union-attr]
        assert row.cells["problem"] and row.cells["problem"] not in opening, row.cells
    assert unfaithful_lines(answer.text, sources(engine, answer)) == []


def test_comparing_two_named_techniques_gives_a_two_row_table_with_their_numbers(
    engine: Engine,
) -> None:
    check_kivi_and_scissorhands(
        engine, engine.answer("How do KIVI and Scissorhands compress the KV cache?"))


def test_compare_kivi_and_scissorhands(engine: Engine) -> None:
    check_kivi_and_scissorhands(engine, engine.answer("Compare KIVI and Scissorhands"))


def test_a_named_item_not_in_the_corpus_keeps_its_row_and_is_said_to_be_missing(
    engine: Engine,
) -> None:
    answer = engine.answer("How do KIVI and Mooncake differ in how they handle the KV cache?")
    rows = table_rows(answer.text)
    assert [r[0] for r in rows] == ["**KIVI** [1]", "**Mooncake**"]
    assert rows[1][1] == "not in the corpus" and "Mooncake is not in the corpus." in answer.text
    assert [c.title.split(":")[0] for c in answer.citations] == ["KIVI"]


def test_a_compared_name_papers_only_mention_keeps_its_row_and_no_paper_stands_for_it(
    engine: Engine,
) -> None:
    # LoRA has no paper of its own here; "Memory-Efficient LoRA Training" only uses it.
    answer = engine.answer("Compare LoRA and GaLore")
    rows = table_rows(answer.text)
    assert [r[0].split(" [")[0] for r in rows] == ["**LoRA**", "**GaLore**"]
    assert rows[0][1].startswith("not in the corpus as a paper (") and rows[1][0].endswith("[1]")
    assert all("LoRA Training" not in c.title for c in answer.citations)


def test_a_code_link_is_said_only_when_code_is_asked_for(engine: Engine) -> None:
    link = "Code is available at https://github.com/mlfoundations/model-soups."
    asked = engine.answer("Is the code of model soups available?")
    assert link in asked.text
    other = engine.answer("Does averaging the weights of several fine-tuned models improve "
                          "accuracy?")
    assert other.citations[0].title.startswith("Model soups") and link not in other.text


def test_a_question_about_one_paper_answers_from_its_result_sentence(engine: Engine) -> None:
    answer = engine.answer("How much faster is Lean Attention?")
    assert answer.shape == "one_paper"
    assert answer.citations[0].title.startswith("Lean Attention")
    assert "2.6x attention execution speedup over FlashAttention-2" in answer.text
    assert answer_words(answer.text) <= 90


def test_an_announced_list_comes_with_its_items(engine: Engine) -> None:
    answer = engine.answer("How can an LLM larger than DRAM run from flash memory?")
    announced = "we introduce two principal techniques."
    assert announced in answer.text
    assert answer.text.split(announced)[1].startswith(' First, "windowing')


def test_a_table_row_says_how_a_technique_works_not_only_its_name(engine: Engine) -> None:
    # ECBM's abstract opens its method with "In response to these limitations, we propose
    # Energy-based Concept Bottleneck Models (ECBMs)." - the row's first cell already says that.
    answer = engine.answer("How have researchers tried to make concept bottleneck models more "
                           "accurate?")
    row = next(r for r in answer.table if r.cells["paper"].startswith("Energy-Based"))
    assert "joint energy" in row.cells["approach"], row.cells
    kivi = engine.answer("Compare KIVI and Scissorhands").table[0].cells["approach"]
    assert "2bit KV cache quantization algorithm" in kivi  # words the cell "KIVI" does not say


@pytest.mark.parametrize("question", [
    "Compare KIVI and Scissorhands",
    "Summarize the techniques for speculative decoding",
    "How does KIVI quantize the KV cache?",
    "Which papers reduce the memory of the KV cache during LLM inference, and how?",
])
def test_no_sentence_points_back_at_nothing(engine: Engine, question: str) -> None:
    answer = engine.answer(question)
    abstracts = {c.n: split_sentences(engine.paper(c.paper_id).abstract)  # type: ignore[union-attr]
                 for c in answer.citations}
    for line in answer.text.splitlines():
        numbers = [int(n) for n in re.findall(r"\[(\d+)\]", line)]
        body = re.sub(r"^(?:- )?\*\*.+?\*\* \[\d+\]: ", "", line)
        said = split_sentences(body) if numbers and not line.startswith("|") else []
        for k, sentence in enumerate(said):
            if not points_back(sentence):
                continue
            original = abstracts[numbers[0]]
            at = original.index(sentence)  # kept whole: it follows what it points to
            assert k > 0 and said[k - 1].endswith(original[at - 1][-20:]), sentence


def test_ask_json_carries_the_table_as_structured_rows(corpus_home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAPERCHAT_HOME", str(corpus_home))
    result = CliRunner().invoke(
        app, ["ask", "--json", "How do KIVI and Scissorhands compress the KV cache?"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["shape"] == "comparison"
    assert [set(r) for r in data["table"]] == [{"paper_id", "n", "cells"}] * 2
    assert {r["cells"]["paper"] for r in data["table"]} == {"KIVI", "Scissorhands"}
    assert {r["paper_id"] for r in data["table"]} == {c["paper_id"] for c in data["citations"]}


def test_answers_read_sentences_from_the_store_without_embedding_them(
    corpus_home: Path,
) -> None:
    fresh = Engine(Settings(home=corpus_home))
    calls: list[int] = []
    embed = fresh.settings.embedder.embed
    fresh.settings.embedder.embed = lambda texts, **kw: calls.append(len(texts)) or \
        embed(texts, **kw)  # type: ignore[method-assign]
    try:
        answer = fresh.answer("How does KIVI quantize the KV cache?")
    finally:
        fresh.settings.embedder.embed = embed  # type: ignore[method-assign]
    # the question is embedded (one text); no abstract sentence is
    assert answer.citations and calls and max(calls) == 1 and not answer.notices
