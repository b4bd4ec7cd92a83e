"""The answer engine over the real corpus: retrieval, extractive answers, follow-ups, filters,
bad input and an unreachable LLM, as a user of the Python API sees them. (Declined questions:
test_answerability; a huge question: test_hostile_questions.)"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from paperchat.errors import BadQuestion, ProviderUnavailable, StoreMissing
from paperchat.eval.metrics import unfaithful_lines
from paperchat.rag.engine import Engine
from paperchat.rag.sentences import split_sentences
from paperchat.rag.types import Answer, Filters
from paperchat.settings import Settings

pytestmark = pytest.mark.slow

KV_QUESTION = "Which papers reduce the memory of the KV cache during LLM inference, and how?"

# Paraphrased questions, each about one paper of the corpus (by id): retrieval must find it.
RETRIEVAL_SET = [
    ("spiking neural network with Legendre memory for streaming on edge devices", "p8ba0ee09600e"),
    ("adapt a language model to a new context by generating parameters in one forward pass "
     "instead of fine-tuning", "pa7a2ef55f491"),
    ("weight clustering during training to compress LLMs for phones", "p1a622d704c16"),
    ("retrieval benchmarks should report efficiency, not just accuracy", "p238b658a3a36"),
    ("speeding up large vision transformers for segmentation and depth without retraining",
     "pddd94f77940e"),
    ("meta agent that automatically programs new agent designs", "p1e3304ce79fa"),
    ("hierarchical global-to-local attention to make autoregressive decoding faster",
     "pd3d7731db2d3"),
    ("is 4-bit the best precision for quantized ResNets under a size budget", "p2b369168da13"),
    ("image retrieval reranking with only global descriptors", "pb62c9b22ff55"),
    ("why is serving million-token contexts so expensive, a theoretical analysis", "p1e56b25913f7"),
    ("negotiation dialogue agents separating strategy from utterance generation", "pf10e7fc72c64"),
    ("offloading optimizer states between CPU and GPU to train transformers at scale",
     "pf5bc6a5ee60e"),
    ("do we need billions of parameters for good generative language models", "p1aaa3d4159eb"),
    ("using GPT-4 to choose hyperparameters", "pe7bf2bd7485e"),
    ("LLM cascade that reduces API cost while keeping quality", "p7e8e0dc4efaa"),
    ("reduce GPU memory usage by swapping model layers between CPU and GPU", "pb63c459fbf0d"),
]


@pytest.fixture(scope="module")
def engine(corpus_home: Path) -> Engine:
    return Engine(Settings(home=corpus_home))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_kv_cache_question_cites_several_kv_cache_papers_in_their_words(
    engine: Engine,
) -> None:
    answer = engine.answer(KV_QUESTION)
    assert not answer.refused
    kv_papers = [c for c in answer.citations if re.search(r"\bKV|cache", c.title, re.I)]
    assert len(kv_papers) >= 3, [c.title for c in answer.citations]
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} == \
        {c.n for c in answer.citations}
    sources = {}
    for citation in answer.citations:
        paper = engine.paper(citation.paper_id)
        assert paper is not None
        sources[citation.n] = f"{paper.title}\n{' '.join(paper.urls)}\n{paper.abstract}"
        originals = split_sentences(paper.abstract)
        assert citation.passage
        assert all(s in originals for s in split_sentences(citation.passage))
    # nothing is stated that the cited abstract does not say, and every claim is cited
    assert unfaithful_lines(answer.text, sources) == []
    assert answer.timings["total"] > 0 and "retrieve" in answer.timings


def test_a_survey_question_gets_one_cited_row_per_paper(engine: Engine) -> None:
    answer = engine.answer("Summarise approaches to quantization of LLMs")
    lines = answer.text.splitlines()
    assert re.fullmatch(r"\d+ papers in the corpus address quantization of LLMs:", lines[0])
    rows = [line for line in lines if line.startswith("| **")]
    assert len(rows) == len(answer.table) == len(answer.citations) >= 2
    assert [int(re.search(r"\[(\d+)\]", r).group(1)) for r in rows] == \
        [c.n for c in answer.citations]
    assert len({c.paper_id for c in answer.citations}) == len(answer.citations)


def test_hybrid_retrieval_beats_dense_only_and_bm25_only(engine: Engine) -> None:
    def mrr(mode: str) -> float:
        total = 0.0
        for question, target in RETRIEVAL_SET:
            ids = [p.paper_id for p in engine.search(question, k=10, mode=mode)]
            total += 1 / (ids.index(target) + 1) if target in ids else 0.0
        return total / len(RETRIEVAL_SET)

    scores = {mode: mrr(mode) for mode in ("hybrid", "dense", "bm25")}
    assert scores["hybrid"] >= max(scores["dense"], scores["bm25"]), scores
    assert scores["hybrid"] > min(scores["dense"], scores["bm25"]), scores


def test_each_mode_reports_its_own_evidence(engine: Engine) -> None:
    query = "KV cache quantization"
    bm25 = engine.search(query, k=5, mode="bm25")
    dense = engine.search(query, k=5, mode="dense")
    assert all(p.bm25 is not None for p in bm25)
    assert [p.score for p in dense] == sorted((p.dense or 0 for p in dense), reverse=True)
    assert [p.rank for p in engine.search(query, k=3)] == [1, 2, 3]


def test_filters_apply_to_dense_and_bm25_alike(engine: Engine) -> None:
    coded = engine.search("efficient inference", k=10, filters=Filters(has_code=True))
    assert coded and all(p.urls for p in coded)
    source = next(iter(engine.papers().values())).sources[0]
    for mode in ("hybrid", "dense", "bm25"):
        found = engine.search("language models", k=8, filters=Filters(sources=(source,)), mode=mode)
        assert found, mode
        assert all(source in engine.paper(p.paper_id).sources for p in found)  # type: ignore[union-attr]
    # The bundled corpus has no authors: an author filter leaves nothing, and says so.
    assert engine.search("language models", filters=Filters(author="Hinton")) == []
    assert engine.answer("What is LoRA?", filters=Filters(author="Hinton")).refused


def test_streaming_yields_pieces_then_the_same_answer(engine: Engine) -> None:
    items = list(engine.stream("What is speculative decoding?"))
    pieces, final = items[:-1], items[-1]
    assert isinstance(final, Answer) and len(pieces) >= 2
    assert all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).rstrip("\n") == final.text


def test_a_follow_up_is_answered_from_the_papers_already_found(engine: Engine) -> None:
    first = engine.answer(KV_QUESTION)
    history = [("user", KV_QUESTION), ("assistant", first.text)]
    follow = engine.answer("and which of those run on a CPU?", history=history)
    assert not follow.refused
    previous = {p.paper_id for p in engine.search(KV_QUESTION)}
    assert follow.citations and {c.paper_id for c in follow.citations} <= previous


def test_an_empty_question_is_a_bad_question(engine: Engine) -> None:
    for empty in ("", "   \n\t "):
        with pytest.raises(BadQuestion, match="empty"):
            engine.answer(empty)


def test_an_unreachable_llm_server_is_named_and_the_extractive_answer_given(
    engine: Engine, corpus_home: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    settings = Settings(home=corpus_home, answer={"answerer": "openai", "llm_base_url": url})
    answer = Engine(settings).answer(KV_QUESTION)
    assert answer.answerer == "extractive" and answer.citations
    assert any(url in n and "extractive" in n for n in answer.notices)

    strict = settings.with_overrides(answer={"fallback_to_extractive": False})
    with pytest.raises(ProviderUnavailable, match=re.escape(url)):
        Engine(strict).answer(KV_QUESTION)


def test_no_store_says_how_to_build_it(tiny_settings: Settings) -> None:
    with pytest.raises(StoreMissing, match="paperchat ingest"):
        Engine(tiny_settings).answer("What is KIVI?")


def test_a_missing_llama_cpp_install_names_the_extra(
    corpus_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from paperchat.rag.providers import make_llm

    monkeypatch.setitem(sys.modules, "llama_index.llms.llama_cpp", None)  # import fails
    settings = Settings(home=corpus_home, answer={"llm_gguf_path": "/nowhere/model.gguf"})
    with pytest.raises(ProviderUnavailable, match=re.escape("pip install 'paperchat[llamacpp]'")):
        make_llm(settings, "llamacpp")
