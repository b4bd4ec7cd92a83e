"""The dev split on the real corpus: a change that makes our system worse fails CI here.

Floors sit just under the numbers measured when they were set (one or two questions of slack),
so they catch a regression without flaking: the engine is deterministic. Raise them when the
system improves; ``paperchat eval --split dev`` prints the current numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paperchat.eval.dataset import load_dataset
from paperchat.eval.report import summarize
from paperchat.eval.run import run_eval
from paperchat.settings import Settings

pytestmark = pytest.mark.slow

# FLOORS: measured on the dev split (120 questions: 73 answerable, 20 of them paraphrases and 10
# terse; 47 unanswerable of four kinds) on 2026-11-24 (the answer floors raised 2026-11-25) with
# the extractive answerer and default settings (relative score fusion with dense_weight 1.5; the
# answerability model of rag/answerability_model.json); each floor is the measured value (in the
# comment) less about one question's worth. One answerable question moves hit@5 by 0.012, one
# outcome moves refusal accuracy (unanswerable declined or partial, answerable not declined) by
# 0.008.
FLOORS = {
    "hybrid": {
        "hit@5": 0.98,  # measured 1.000
        "recall@10": 0.98,  # measured 0.997
        "mrr": 0.96,  # measured 0.979
        "ndcg@10": 0.96,  # measured 0.980
        "refusal_accuracy": 0.98,  # measured 0.992 (0.933 before the coverage model's features)
        "citation_valid": 0.98,  # measured 1.000
        "citation_recall": 0.96,  # measured 0.975
        "citation_support": 0.98,  # measured 1.000 (at support_threshold 0.40)
        "citation_precision": 0.86,  # measured 0.884 (0.46 before answers took their shape)
        "key_fact_recall": 0.63,  # measured 0.650 (0.355 before sentence roles and shapes)
        "faithful": 1.0,  # every line is its cited abstract's words (coverage notes aside)
    },
    "bm25": {"hit@5": 0.91, "mrr": 0.85},  # measured 0.932, 0.867: the baselines run as well
    "dense": {"hit@5": 0.96, "mrr": 0.89},  # measured 0.973, 0.906
}


@pytest.fixture(scope="module")
def dev_run(corpus_home: Path):
    # Baselines only retrieve: their answers would double the run time and gate nothing.
    return run_eval(Settings(home=corpus_home), load_dataset("dev"), answer_systems=("hybrid",))


@pytest.fixture(scope="module")
def dev_summary(dev_run) -> dict:
    return summarize(dev_run.results)


@pytest.mark.parametrize(("system", "metric"),
                         [(s, name) for s, floors in FLOORS.items() for name in floors])
def test_dev_metric_stays_above_its_floor(dev_summary, system, metric):
    floor = FLOORS[system][metric]
    value = dev_summary[system][metric]["mean"]
    assert value >= floor, f"{system} {metric} fell to {value:.3f} (floor {floor})"


@pytest.mark.parametrize("metric", ["hit@5", "mrr"])
def test_our_hybrid_system_leads_both_baselines(dev_summary, metric):
    ours = dev_summary["hybrid"][metric]["mean"]
    for baseline in ("bm25", "dense"):
        assert ours >= dev_summary[baseline][metric]["mean"], (
            f"{metric}: hybrid {ours:.3f} < {baseline} {dev_summary[baseline][metric]['mean']:.3f}")


@pytest.fixture(scope="module")
def dev_run_answers(dev_run) -> list:
    return [r for r in dev_run.of("hybrid") if r.answer and not r.refused]


def test_every_answer_of_the_eval_run_states_only_its_cited_abstracts_words(dev_run_answers):
    unfaithful = {r.id: r.answer for r in dev_run_answers if r.metrics["faithful"] != 1.0}
    assert not unfaithful


def test_answers_stay_short_and_beat_the_whole_abstract_on_key_facts_per_word(dev_run_answers):
    answerable = [r for r in dev_run_answers if r.answerable]
    words = sum(r.metrics["words"] for r in answerable) / len(answerable)
    assert words <= 130, words  # measured 111
    ours = sum(r.metrics["key_fact_recall"] / r.metrics["words"] for r in answerable)
    pasted = sum(r.metrics["baseline_key_fact_recall"] / r.metrics["baseline_words"]
                 for r in answerable)
    assert ours > 1.3 * pasted  # key facts per word; measured 1.58x on dev


def test_every_named_item_of_a_comparison_that_is_in_the_corpus_has_its_row(dev_run_answers):
    for r in dev_run_answers:
        if r.type == "comparison":
            rows = [line for line in r.answer.splitlines() if line.startswith("| **")]
            numbers = {int(n) for line in rows for n in re.findall(r"\[(\d+)\]", line)}
            assert set(r.gold) <= {r.cited[n - 1] for n in numbers}, (r.id, r.answer)
