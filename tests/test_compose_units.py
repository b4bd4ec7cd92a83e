"""The pieces of a composed answer, without a model: sentence roles, clause-level shortening,
dangling references, question shapes, tables and the faithfulness check."""

from __future__ import annotations

import pytest

from paperchat.eval.metrics import answer_words, oracle_extract, unfaithful_lines
from paperchat.eval.roles import corpus_abstracts, load_labels, role_accuracy, splits
from paperchat.ingest.records import Paper
from paperchat.ingest.roles import tag_roles
from paperchat.ingest.sentence_index import sentence_records
from paperchat.rag.compose import opening
from paperchat.rag.sentences import (
    clauses,
    clip,
    cut_back_connective,
    points_ahead,
    points_back,
)
from paperchat.rag.shapes import pair_names, shape_from
from paperchat.rag.table import markdown_table
from paperchat.rag.types import RetrievedPaper, TableRow

ABSTRACT = [
    "Large language models are costly to serve because the KV cache grows with the context.",
    "Existing methods evict tokens permanently, which hurts accuracy.",
    "To address this issue, we propose FooCache, which clusters tokens and recalls them.",
    "FooCache achieves a 2.3x speedup and 40% less memory than full attention.",
    "Code is available at https://github.com/foo/foocache.",
]


def test_each_sentence_of_an_abstract_gets_its_role() -> None:
    assert tag_roles(ABSTRACT) == ["problem", "problem", "method", "result", "other"]


def test_the_tagger_agrees_with_the_hand_labels() -> None:
    rows = load_labels()
    assert len(rows) >= 150 and len({r.paper_id for r in rows}) >= 40
    abstracts = corpus_abstracts()
    for part in ("all", "held out"):
        accuracy = role_accuracy(splits(rows)[part], abstracts)
        assert accuracy["accuracy"] >= 0.8, (part, accuracy)
        assert min(accuracy[f"acc:{r}"] for r in ("problem", "method", "result")) >= 0.7


def test_ingest_stores_every_sentence_with_its_role_and_a_stable_id() -> None:
    paper = Paper(title="FooCache", abstract=" ".join(ABSTRACT))
    records = sentence_records([paper])
    pid = paper.paper_id
    assert [r.id for r in records] == [f"{pid}#s{i}" for i in range(5)]
    assert [r.text for r in records] == ABSTRACT
    assert records[2].metadata == {"paper_id": pid, "index": 2, "role": "method"}


def test_a_connective_pointing_back_is_cut_and_a_pronoun_needs_its_antecedent() -> None:
    assert cut_back_connective(ABSTRACT[2]) == \
        "We propose FooCache, which clusters tokens and recalls them."
    assert cut_back_connective("To fill the gap, we conducted a study.") == \
        "We conducted a study."
    # A name in mixed case keeps its spelling when it comes to open the sentence.
    assert cut_back_connective("To address this, vAttention keeps the layout.") == \
        "vAttention keeps the layout."
    assert not points_back(ABSTRACT[2])
    assert points_back("This results in a 2x speedup.")
    # An announced list and its items come as one: each needs the other.
    assert points_ahead("Within this framework, we introduce two principal techniques.")
    assert points_ahead("The key insights of C4 are two folds.")
    assert points_ahead("Our contributions are as follows:")
    assert points_back('First, "windowing" reduces data transfer, and second, ...')
    assert not points_ahead(ABSTRACT[3]) and not points_ahead("We use two GPUs.")
    assert points_back("These models enable episodic memory.")
    assert not points_back("This paper proposes a new cache.")


def test_clipping_keeps_whole_clauses_and_only_the_sentences_words() -> None:
    sentence = ("Compared to SciPy, the algorithms have median and maximum speedups of 77x and "
                "300x for GPU and 35x and 98x for CPU, respectively, over the tested inputs.")
    short = clip(sentence, 25, lambda span: float("77x" in span))
    assert "77x" in short and len(short.split()) <= 25 < len(sentence.split())
    assert short.startswith(("Compared to SciPy, the algorithms", "The algorithms"))
    assert set(short.casefold().replace(",", "").split()) <= \
        set(sentence.casefold().replace(",", "").split())
    assert clip("A short sentence stays.", 10) == "A short sentence stays."


def test_a_shortened_sentence_drops_the_clause_that_only_sets_the_scene() -> None:
    sentence = ("Inspired by the classical robust-PCA algorithm for sparse and low-rank "
                "decomposition, we propose Scatterbrain, a novel way to unify sparse (via locality "
                "sensitive hashing) and low-rank (via kernel feature map) attention.")
    short = clip(sentence, 30, keep_start=True)
    assert short.startswith("We propose Scatterbrain") and "locality sensitive hashing" in short
    # "By using X, we ..." is the method itself: it stays.
    method = ("By splitting 2-bit quantized weights into two independent sets of binaries, FDB "
              "ensures the accuracy of representations, introduces flexibility, and uses the "
              "efficient bitwise operations of binarization.")
    assert clip(method, 20, keep_start=True).startswith("By splitting")


def test_a_that_clause_is_never_cut_off_from_its_verb() -> None:
    sentence = ("We address these limitations by introducing a simple post-training quantization "
                "method, named MobileQuant, that extends previous weight equivalent transformation "
                "works by jointly optimizing the weight transformation and activation ranges.")
    assert not any(c.strip(",") == "that" for c in clauses(sentence))
    assert not clip(sentence, 20, keep_start=True).endswith("that.")


@pytest.mark.parametrize(("question", "names"), [
    ("Compare KIVI and Scissorhands", ["KIVI", "Scissorhands"]),
    ("KIVI vs. Scissorhands: which uses less memory?", ["KIVI", "Scissorhands"]),
    ("How do FlashAttention-2 and Lean Attention differ?", ["FlashAttention-2", "Lean Attention"]),
    ("What is the difference between LoRA and GaLore?", ["LoRA", "GaLore"]),
])
def test_a_comparison_question_names_its_two_items(question: str, names: list[str]) -> None:
    assert pair_names(question) == names
    assert shape_from(question, [], 0.8) == "comparison"


def paper(score: float) -> RetrievedPaper:
    return RetrievedPaper(rank=1, paper_id=f"p{score}", title="T", score=score)


def test_shapes_from_wording_and_scores() -> None:
    close, apart = [paper(2.0), paper(1.9)], [paper(2.0), paper(1.0)]
    assert shape_from("Summarize the techniques for speculative decoding", close, 0.8) == "survey"
    assert shape_from("Which papers reduce KV cache memory?", apart, 0.8) == "survey"
    assert shape_from("How much faster is Lean Attention?", apart, 0.8) == "one_paper"
    assert shape_from("How can inference be made cheaper?", close, 0.8) == "open"


def test_a_survey_opens_with_how_many_papers_address_it_in_the_questions_words() -> None:
    assert opening("Summarize the techniques for speculative decoding", 7) == \
        "7 papers in the corpus address speculative decoding:"
    assert opening("What approaches have been proposed to compress the KV cache?", 3) == \
        "3 papers in the corpus compress the KV cache:"
    assert opening("Which papers reduce the memory of the KV cache, and how?", 4) == \
        "4 papers in the corpus reduce the memory of the KV cache:"
    assert opening("Why is the sky blue?", 2) == "2 papers in the corpus address this question:"
    assert opening("speculative decoding", 5) == \
        "5 papers in the corpus address speculative decoding:"  # a topic typed as words


def test_a_table_has_one_cited_row_per_paper_and_a_missing_item_says_so() -> None:
    rows = [TableRow("p1", 1, {"paper": "KIVI", "approach": "2-bit | asymmetric", "result": "2.6x",
                               "code": ""}),
            TableRow("", 0, {"paper": "Mooncake", "approach": "not in the corpus"})]
    table = markdown_table(rows, ("paper", "approach", "result", "code"))
    assert table.splitlines() == [
        "| paper | approach | reported result | code |",
        "| --- | --- | --- | --- |",
        "| **KIVI** [1] | 2-bit \\| asymmetric | 2.6x |  |",
        "| **Mooncake** | not in the corpus |  |  |",
    ]


SOURCES = {1: "KIVI: a tuning-free quantization\nKIVI quantizes the key cache per channel and "
              "reaches 2.6x less peak memory."}


def test_faithfulness_accepts_the_abstracts_words_and_framing_lines() -> None:
    answer = ("1 papers in the corpus address KV cache quantization:\n\n"
              "- **KIVI** [1]: KIVI quantizes the key cache per channel.\n\n"
              "| paper | approach | reported result | code |\n| --- | --- | --- | --- |\n"
              "| **KIVI** [1] | quantizes the key cache per channel | 2.6x less peak memory |  |\n"
              "| **Mooncake** | not in the corpus |  |  |\n\nMooncake is not in the corpus.")
    assert unfaithful_lines(answer, SOURCES) == []
    assert answer_words("**KIVI** [1]: KIVI quantizes the key cache.") == 6


def test_faithfulness_flags_a_new_word_or_a_claim_without_citation() -> None:
    assert unfaithful_lines("**KIVI** [1]: KIVI halves the key cache.", SOURCES)
    assert unfaithful_lines("KIVI quantizes the key cache per channel.", SOURCES)
    assert unfaithful_lines("**KIVI** [2]: KIVI quantizes the key cache.", SOURCES)


def test_the_oracle_picks_the_sentences_that_state_the_key_facts_within_the_budget() -> None:
    facts = ["2.3x speedup", "clusters tokens"]
    assert oracle_extract(facts, ABSTRACT, 100) == " ".join([ABSTRACT[3], ABSTRACT[2]])
    assert oracle_extract(facts, ABSTRACT, 14) == ABSTRACT[3]
