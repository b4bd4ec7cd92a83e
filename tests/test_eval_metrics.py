"""The eval metrics: hand-computed examples, and agreement with llama-index's own classes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from llama_index.core.evaluation.retrieval.metrics import MRR, NDCG, HitRate, Recall

from paperchat.eval import metrics as m
from paperchat.settings import Settings

GOLD = ["a", "c"]
RANKED = ["b", "a", "d", "c", "e"]


# -- retrieval: by hand ------------------------------------------------------------------------


def test_hit_at_k_counts_any_gold_paper_in_the_first_k():
    assert m.hit_at_k(GOLD, RANKED, 1) == 0.0
    assert m.hit_at_k(GOLD, RANKED, 2) == 1.0
    assert m.hit_at_k(GOLD, RANKED, 5) == 1.0


def test_recall_at_k_is_the_share_of_gold_papers_found():
    assert m.recall_at_k(GOLD, RANKED, 3) == 0.5
    assert m.recall_at_k(GOLD, RANKED, 4) == 1.0


def test_reciprocal_rank_is_one_over_the_first_gold_rank():
    assert m.reciprocal_rank(GOLD, RANKED) == 0.5
    assert m.reciprocal_rank(["e"], RANKED) == 0.2
    assert m.reciprocal_rank(["e"], RANKED, k=4) == 0.0


def test_ndcg_by_hand():
    # gold at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert m.ndcg_at_k(GOLD, RANKED, 5) == pytest.approx(expected)
    assert expected == pytest.approx(0.6509, abs=1e-4)
    assert m.ndcg_at_k(GOLD, ["a", "c", "x"], 3) == pytest.approx(1.0)


def test_no_gold_papers_means_the_metric_does_not_apply():
    for fn in (m.hit_at_k, m.recall_at_k, m.ndcg_at_k):
        assert fn([], RANKED, 5) is None
    assert m.reciprocal_rank([], RANKED) is None


def test_nothing_retrieved_scores_zero_instead_of_raising():
    assert m.hit_at_k(GOLD, [], 5) == 0.0
    assert m.recall_at_k(GOLD, [], 5) == 0.0
    assert m.reciprocal_rank(GOLD, []) == 0.0
    assert m.ndcg_at_k(GOLD, [], 5) == 0.0


# -- retrieval: the same numbers as llama-index -------------------------------------------------

ids = st.sampled_from("abcdefghijkl")


@given(gold=st.lists(ids, min_size=1, max_size=3, unique=True),
       ranked=st.lists(ids, min_size=1, max_size=10, unique=True))
def test_retrieval_metrics_match_llama_index(gold, ranked):
    k = 10  # the eval's top-k; gold sets are smaller than k, as in our eval sets
    kw = {"expected_ids": gold, "retrieved_ids": ranked[:k]}
    assert m.hit_at_k(gold, ranked, k) == HitRate().compute(**kw).score
    assert m.reciprocal_rank(gold, ranked, k) == pytest.approx(MRR().compute(**kw).score)
    assert m.recall_at_k(gold, ranked, k) == pytest.approx(Recall().compute(**kw).score)
    assert m.ndcg_at_k(gold, ranked, k) == pytest.approx(NDCG().compute(**kw).score)


def test_ndcg_reaches_one_for_a_perfect_ranking_when_gold_outnumbers_k():
    # llama-index's ideal DCG counts every gold paper, so a perfect top-2 scores below 1 there.
    gold, ranked = ["a", "b", "c"], ["a", "b"]
    assert m.ndcg_at_k(gold, ranked, 2) == pytest.approx(1.0)
    assert NDCG().compute(expected_ids=gold, retrieved_ids=ranked).score < 1.0


# -- citations ---------------------------------------------------------------------------------


def test_cited_numbers_reads_single_grouped_and_adjacent_markers():
    assert m.cited_numbers("A [1]. B [2, 3]. C [1][4].") == [1, 2, 3, 1, 4]
    assert m.cited_numbers("No sources here.") == []


def test_citations_are_valid_only_when_present_and_all_resolve():
    assert m.citations_valid("A [1]. B [2].", n_sources=2)
    assert not m.citations_valid("A [1]. B [3].", n_sources=2)
    assert not m.citations_valid("A [0].", n_sources=2)
    assert not m.citations_valid("An uncited claim.", n_sources=2)


def test_citation_precision_and_recall_against_gold_papers():
    assert m.citation_precision(["a", "b", "a"], ["a"]) == 0.5  # distinct papers: a, b
    assert m.citation_recall(["a", "b"], ["a", "c"]) == 0.5
    assert m.citation_recall([], ["a"]) == 0.0
    assert m.citation_precision([], ["a"]) is None  # nothing cited: precision undefined
    assert m.citation_recall(["a"], []) is None


def test_cited_sentences_strip_markers_and_keep_trailing_markers_with_their_sentence():
    text = ("MiniCPM comes in 1.2B and 2.4B sizes [1]. It is trained with WSD. [2]\n"
            "- PC-DARTS samples channels [3, 1].\nAn uncited remark.")
    assert m.cited_sentences(text) == [
        ("MiniCPM comes in 1.2B and 2.4B sizes.", [1]),
        ("It is trained with WSD.", [2]),
        ("PC-DARTS samples channels.", [3, 1]),
    ]


def test_a_cited_label_cites_every_sentence_of_its_line():
    text = ("- **PC-DARTS** [1]: It samples channels. It reaches 2.57% on CIFAR10.\n"
            "- **MiniCPM** [2]: It has 2.4B parameters [3].")
    assert m.cited_sentences(text) == [
        ("It samples channels.", [1]),
        ("It reaches 2.57% on CIFAR10.", [1]),
        ("It has 2.4B parameters.", [2, 3]),
    ]


def test_citation_support_is_the_share_of_cited_sentences_their_sources_support():
    passages = {1: "The cat sat on the mat.", 2: "Dogs bark."}

    def verbatim(pairs: list[tuple[str, list[str]]]) -> list[bool]:
        return [any(sentence in t for t in texts) for sentence, texts in pairs]

    claims = [("The cat sat on the mat.", [1]), ("Dogs bark.", [1]), ("Dogs bark.", [1, 2]),
              ("Birds sing.", [9])]
    assert m.citation_support(claims, verbatim, passages) == 0.5
    assert m.citation_support([], verbatim, passages) is None


# -- answer content ----------------------------------------------------------------------------


def test_key_fact_recall_matches_text_or_most_content_words():
    answer = "MiniCPM comes in 1.2B and 2.4B sizes and uses a warmup-stable-decay LR scheduler."
    assert m.fact_present("1.2B and 2.4B", answer)
    assert m.fact_present("Warmup-Stable-Decay scheduler", answer)  # words present, case aside
    assert not m.fact_present("MiniCPM-MoE", answer)
    assert m.fact_present("shared prefix", "batches of sequences that share a prefix")
    assert m.fact_present("2.57%  on\nCIFAR10", "reaches 2.57% on CIFAR10 in 0.1 GPU-days")
    assert m.key_fact_recall(answer, ["1.2B and 2.4B", "MiniCPM-MoE"]) == 0.5
    assert m.key_fact_recall(answer, []) is None


def test_unanswerables_are_handled_when_declined_or_partial_answerables_when_not_declined():
    assert m.coverage_correct(answerable=False, coverage="declined") == 1.0
    assert m.coverage_correct(answerable=False, coverage="partial") == 1.0
    assert m.coverage_correct(answerable=False, coverage="answered") == 0.0
    assert m.coverage_correct(answerable=True, coverage="answered") == 1.0
    assert m.coverage_correct(answerable=True, coverage="partial") == 1.0
    assert m.coverage_correct(answerable=True, coverage="declined") == 0.0


# -- aggregates --------------------------------------------------------------------------------


def test_mean_and_percentiles_skip_missing_values():
    assert m.mean([1.0, None, 0.0]) == 0.5
    assert m.mean([None]) is None
    seconds = [float(x) for x in range(1, 11)]
    assert m.percentile(seconds, 50) == 5.5
    assert m.percentile(seconds, 95) == pytest.approx(9.55)


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    values = [1.0] * 30 + [0.0] * 10
    low, high = m.bootstrap_ci(values)
    assert low < 0.75 < high
    assert 0.55 < low and high < 0.9
    assert m.bootstrap_ci(values) == (low, high)
    assert m.bootstrap_ci([0.5, 0.5, 0.5]) == (0.5, 0.5)
    assert m.bootstrap_ci([None]) is None


# -- the offline judges, with the real embedding model -----------------------------------------


@pytest.fixture(scope="module")
def embedder():
    from paperchat.settings import Settings

    return Settings().embedder


def test_embedding_support_accepts_a_sentence_of_the_abstract_not_an_unrelated_one(embedder):
    from paperchat.eval.support import EmbeddingSupport

    abstract = ("We introduce MiniCPM, a family of small language models. For data scaling, we "
                "introduce a Warmup-Stable-Decay learning rate scheduler. MiniCPM models are "
                "available publicly.")
    supports = EmbeddingSupport(embedder, Settings().answer.support_threshold)
    assert supports([
        ("MiniCPM models are available publicly.", [abstract]),  # quoted
        ("MiniCPM is trained with a Warmup-Stable-Decay learning rate scheduler.", [abstract]),
        ("The recommended dose of ibuprofen for children depends on weight.", [abstract]),
    ]) == [True, True, False]


def test_semantic_similarity_runs_on_our_embedder_through_llama_index(embedder):
    from llama_index.core.evaluation import SemanticSimilarityEvaluator

    from paperchat.eval.embedding import PaperchatEmbedding

    evaluator = SemanticSimilarityEvaluator(embed_model=PaperchatEmbedding(embedder))
    same = evaluator.evaluate(response="MiniCPM is a small language model.",
                              reference="MiniCPM is a small language model.")
    other = evaluator.evaluate(response="MiniCPM is a small language model.",
                               reference="Ibuprofen doses for children depend on weight.")
    assert same.score == pytest.approx(1.0, abs=1e-5)
    assert other.score < 0.3


def test_a_composed_answer_is_judged_by_its_claims_not_its_table_markup():
    from paperchat.eval.answerers import as_claims

    answer = "\n".join([
        "2 papers in the corpus address KV cache compression:",
        "",
        "| paper | approach | reported result | code |",
        "| --- | --- | --- | --- |",
        "| **KIVI** [1] | We developed KIVI. | KIVI uses 2.6times less memory | https://x.org |",
        "| **Mooncake** | not in the corpus | | |",
        "",
        "- **Scissorhands** [2]: It keeps pivotal tokens.",
    ])
    assert as_claims(answer).splitlines() == [
        "**KIVI** [1]: We developed KIVI. KIVI uses 2.6times less memory.",
        "- **Scissorhands** [2]: It keeps pivotal tokens.",
    ]
