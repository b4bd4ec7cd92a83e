"""`paperchat ask` and `paperchat search` as a user runs them, over the real corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperchat.cli import app

pytestmark = pytest.mark.slow

KV_QUESTION = "Which papers reduce the memory of the KV cache during LLM inference, and how?"


@pytest.fixture
def corpus_env(corpus_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAPERCHAT_HOME", str(corpus_home))
    return corpus_home


def run(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of a command; a crash (any exception but an exit) fails."""
    result = CliRunner().invoke(app, list(args))
    if result.exit_code == 0:
        assert result.exception is None, result.exception
    else:
        assert isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_ask_prints_the_answer_and_numbered_sources(corpus_env: Path) -> None:
    code, out, _ = run("ask", KV_QUESTION)
    assert code == 0
    answer, sources = out.split("\nSources:\n")
    assert "[1]" in answer and "[2]" in answer
    lines = sources.strip().splitlines()
    assert len(lines) >= 3 and lines[0].startswith("[1] ") and lines[1].startswith("[2] ")


def test_ask_json_is_one_object_in_the_documented_shape(corpus_env: Path) -> None:
    code, out, _ = run("ask", "--json", KV_QUESTION)
    assert code == 0
    data = json.loads(out)
    assert {"answer", "citations", "refused", "timings"} <= set(data)
    assert data["refused"] is False and data["timings"]["total"] > 0
    assert len(data["citations"]) >= 3
    for citation in data["citations"]:
        assert set(citation) == {"n", "paper_id", "title", "urls", "passage"}
        assert f"[{citation['n']}]" in data["answer"]


def test_ask_refuses_an_off_topic_question_with_closest_matches(corpus_env: Path) -> None:
    code, out, _ = run("ask", "--json", "How do vaccines train the immune system?")
    data = json.loads(out)
    assert code == 0 and data["refused"] and data["citations"] == [] and data["closest"]
    assert data["coverage"] == "declined" and data["missing"] == ["vaccines"]
    assert data["answer"].startswith("No paper in the corpus mentions 'vaccines'")


def test_ask_batch_answers_plain_and_jsonl_lines_one_object_each(
    corpus_env: Path, tmp_path: Path
) -> None:
    batch = tmp_path / "questions.txt"
    batch.write_text(
        "What is speculative decoding?\n\n"
        + json.dumps({"question": "How can I train a model with less GPU memory?"}) + "\n"
        + "   \n"
        + "What is a good recipe for sourdough bread?\n"
    )
    code, out, _ = run("ask", "--batch", str(batch), "-k", "3")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["question"] for r in rows] == [
        "What is speculative decoding?", "How can I train a model with less GPU memory?",
        "What is a good recipe for sourdough bread?",
    ]
    assert [r["refused"] for r in rows] == [False, False, True]
    assert all(len(r["citations"]) <= 3 for r in rows)


def test_search_lists_ranked_papers_with_scores(corpus_env: Path) -> None:
    code, out, _ = run("search", "--json", "-k", "4", "KV cache quantization")
    data = json.loads(out)
    assert code == 0 and data["query"] == "KV cache quantization"
    assert [r["rank"] for r in data["results"]] == [1, 2, 3, 4]
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)
    assert any("KIVI" in r["title"] for r in data["results"])

    code, out, _ = run("search", "KV cache quantization", "-k", "2", "--mode", "bm25")
    assert code == 0 and out.startswith(" 1. ") and len(out.strip().splitlines()) == 2


def test_search_filters_by_code_link(corpus_env: Path) -> None:
    code, out, _ = run("search", "--json", "--has-code", "-k", "10", "language model inference")
    assert code == 0
    ids = [r["paper_id"] for r in json.loads(out)["results"]]
    from paperchat.rag.engine import Engine
    from paperchat.settings import Settings

    engine = Engine(Settings(home=corpus_env))
    assert ids and all(engine.paper(i).urls for i in ids)  # type: ignore[union-attr]


def test_bad_input_gets_a_message_not_a_traceback(corpus_env: Path, tmp_path: Path) -> None:
    code, _, err = run("ask", "   ")
    assert code == 2 and err.startswith("error: ") and "question is empty" in err
    code, out, err = run("ask", "--json", "KV cache " * 3000)
    assert code == 0 and "characters long" in " ".join(json.loads(out)["notices"])


CHOICES = {
    ("search", "--mode"): ["hybrid", "dense", "bm25"],
    ("ask", "--mode"): ["hybrid", "dense", "bm25"],
    ("ask", "--answerer"): ["extractive", "openai", "ollama", "llamacpp"],
    ("ingest", "--format"): ["auto", "daily", "json", "jsonl", "csv"],
    ("eval", "--answerer"): ["openai", "ollama", "llamacpp"],
}


@pytest.mark.parametrize(("command", "option"), list(CHOICES))
def test_an_option_with_choices_lists_them_and_refuses_others_the_same_way(
    command: str, option: str
) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0 and f"{option} <{'|'.join(CHOICES[command, option])}>" in out
    args = [command, option, "magic"] + (["x"] if command in ("ask", "search") else [])
    code, _, err = run(*args)
    assert code == 2
    assert f"Invalid value for '{option}'" in err and "'magic' is not one of" in err


def test_the_choices_are_the_ones_the_modules_accept() -> None:
    from paperchat.cli import AnswererName, Format, LlmAnswerer, Mode
    from paperchat.ingest.sources import FORMATS
    from paperchat.rag.engine import ANSWERERS
    from paperchat.rag.providers import PROVIDERS
    from paperchat.rag.retrieve import MODES

    assert [m.value for m in Mode] == list(MODES)
    assert [f.value for f in Format] == list(FORMATS)
    assert [a.value for a in AnswererName] == list(ANSWERERS)
    assert [a.value for a in LlmAnswerer] == list(PROVIDERS)


def test_ask_without_a_store_says_how_to_build_one() -> None:
    code, _, err = run("ask", "What is KIVI?")
    assert code == 1 and err.startswith("error: ") and "paperchat ingest" in err


def test_eval_reports_on_the_test_split_by_default_and_says_so(corpus_env: Path) -> None:
    code, out, err = run("eval", "--limit", "3", "--systems", "bm25", "--quiet", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["split"] == "test" and data["questions"] == 3
    assert "eval on split test: 3 questions" in err
    assert Path(data["report"]).is_file() and "bm25" in data["summary"]


def test_bench_measures_the_bundled_corpus_by_default_and_writes_the_doc_only_when_asked(
    monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    """The CLI's contract with eval.bench (the bench itself takes many minutes)."""
    from paperchat.eval import bench

    calls: list[dict[str, object]] = []

    def fake_run(sizes: list[int], n: int, out: Path, work: Path, with_llamaindex: bool = True,
                 doc: Path | None = None) -> dict[str, object]:
        calls.append({"sizes": sizes, "work": work, "doc": doc})
        return {"ok": True}

    monkeypatch.setattr(bench, "run", fake_run)
    code, out, _ = run("bench")
    assert code == 0 and json.loads(out) == {"ok": True}
    assert calls[-1] == {"sizes": [], "work": isolated_home / "bench", "doc": None}

    code, _, err = run("bench", "--sizes", "10000,100000", "--write")
    assert code == 0 and calls[-1]["sizes"] == [10000, 100000]
    assert calls[-1]["doc"] == bench.ROOT / "BENCHMARKS.md" and "wrote" in err

    for bad in ("10k", "500"):
        code, _, err = run("bench", "--sizes", bad)
        assert code == 2 and "Invalid value for '--sizes'" in err
    assert len(calls) == 2
