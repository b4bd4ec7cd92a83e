"""Answerability: names resolved against the corpus, details, and answered/partial/declined."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from paperchat.ingest.lexical import LexicalIndex
from paperchat.ingest.names import NameIndex, paper_names
from paperchat.ingest.store import StoredPaper
from paperchat.rag.analysis import Analyzer, detail_given, mention_pattern
from paperchat.rag.answerability import CoverageModel
from paperchat.rag.engine import Engine
from paperchat.settings import Settings

PAPERS = [
    StoredPaper("p1", "Scissorhands: Exploiting the Persistence of Importance for KV Cache "
                "Compression", "Large language models need a KV cache. We propose Scissorhands, "
                "which keeps pivotal tokens and reduces KV cache memory by up to 5X."),
    StoredPaper("p2", "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache",
                "We propose KIVI, a 2bit KV cache quantization algorithm that uses 2.6times less "
                "peak memory. It runs on Mistral 7B and Llama models."),
    StoredPaper("p3", "Efficient Distillation of Language Models",
                "Knowledge distillation (KD) compresses a large language model into a small one. "
                "We study distillation with a distiller network trained on 8 GPUs."),
    StoredPaper("p5", "Computation-Efficient Era: A Survey of Efficient Models",
                "We survey efficient models."),
    StoredPaper("p6", "Mélange: Cost Efficient LLM Serving with GPU Heterogeneity",
                "Mélange picks a mix of GPU types for serving."),
    StoredPaper("p4", "Segment Anything on a Phone",
                "The Segment Anything Model (SAM) is costly; we present TinySAM, a small model "
                "distilled from it."),
]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    lexical = LexicalIndex.build([p.paper_id for p in PAPERS],
                                 [f"{p.title}\n{p.abstract}" for p in PAPERS], "r1")
    papers = {p.paper_id: StoredPaper(p.paper_id, p.title, p.abstract,
                                      names=paper_names(p.title, p.abstract)) for p in PAPERS}

    def mentions(name: str) -> int:
        stems = [s for _, s in lexical.terms(name)]
        return len(lexical.papers_with_all(stems)) if stems else 0

    names = NameIndex.build(((pid, p.names) for pid, p in papers.items()), mentions)
    return Analyzer(lexical, names, papers)


def named(analyzer: Analyzer, question: str) -> dict[str, tuple[list[str], bool]]:
    return {n.text: (n.defined_by, n.known) for n in analyzer.analyze(question).names}


def test_a_paper_defines_its_title_head_and_the_names_it_introduces() -> None:
    phone = next(p for p in PAPERS if p.paper_id == "p4")
    names = paper_names(phone.title, phone.abstract)
    assert "=TinySAM" in names and "=SAM" in names and "=Segment Anything Model" in names
    assert paper_names(PAPERS[0].title, PAPERS[0].abstract)[0] == "Scissorhands"


def test_names_resolve_to_the_papers_that_define_them_in_any_case(analyzer: Analyzer) -> None:
    assert named(analyzer, "What does Scissorhands do?") == {"Scissorhands": (["p1"], True)}
    assert named(analyzer, "scissorhands") == {"scissorhands": (["p1"], True)}
    assert named(analyzer, "Compare KIVI and Scissorhands") == {
        "KIVI": (["p2"], True), "Scissorhands": (["p1"], True)}
    assert named(analyzer, "What is the Segment Anything Model?") == {
        "Segment Anything Model": (["p4"], True)}
    # Names whose first word is hyphenated, or has a letter outside ASCII.
    assert named(analyzer, "What does Computation-Efficient Era do?") == {
        "Computation-Efficient Era": (["p5"], True)}
    assert named(analyzer, "Mélange vs KIVI") == {"M lange": (["p6"], True),
                                                 "KIVI": (["p2"], True)}


def test_a_name_no_paper_holds_is_unknown_and_one_only_mentioned_is_known(
        analyzer: Analyzer) -> None:
    found = named(analyzer, "Splitwise vs Mooncake")
    assert found == {"Splitwise": ([], False), "Mooncake": ([], False)}
    found = named(analyzer, "Does KIVI run on Mistral 7B?")
    assert found["KIVI"] == (["p2"], True) and found["Mistral 7B"] == ([], True)
    # A version of a known name is another model: unknown unless a paper mentions it.
    assert named(analyzer, "What is SAM 2?") == {"SAM 2": ([], False)}


def test_common_words_are_not_names_but_rare_lower_case_ones_are(analyzer: Analyzer) -> None:
    # "distiller" is a word most of these papers' stems share (distillation); "Distillation"
    # opening the question is the sentence's first word, not a name.
    assert named(analyzer, "distillation of language models") == {}
    assert named(analyzer, "Distillation with a distiller network") == {}
    assert analyzer.analyze("which papers compress the kv cache?").names == []
    # A quantity is no name ("100B-parameter"), and the question's capitalised first word is
    # not part of the name after it ("Memory-efficient FooCache").
    assert named(analyzer, "Has anyone trained a 100B-parameter model like KIVI?") == {
        "KIVI": (["p2"], True)}
    assert named(analyzer, "Memory-efficient FooCache methods lose what?") == {
        "FooCache": ([], False)}
    # One letter is too little to be a name: "F*" programs, "method X".
    assert named(analyzer, "Is there a dataset of F* programs for KIVI?") == {
        "KIVI": (["p2"], True)}


def test_a_name_is_found_as_written_in_any_case_spacing_or_number() -> None:
    assert mention_pattern("Tensor Cores").search("uses the GPU's Tensor Core units")
    assert mention_pattern("Long Range Arena").search("on the Long-Range Arena benchmark")
    assert mention_pattern("GPU").search("on 8 GPUs")
    assert not mention_pattern("SAM").search("the same samples")


def test_salient_terms_no_paper_holds_are_unknown_allowing_british_spelling(
        analyzer: Analyzer) -> None:
    assert analyzer.analyze("wildfire spread forecasting").unknown_terms == [
        "wildfire", "spread", "forecasting"]
    assert analyzer.analyze("kv cache quantisation").unknown_terms == []
    assert analyzer.analyze("kv cache quantizaton").unknown_terms == []  # a typo keeps its stem


@pytest.mark.parametrize(("question", "detail"), [
    ("What learning rate was used to train KIVI?", "learning rate"),
    ("How many GPUs did TinySAM use?", "gpu count"),
    ("KIVI training cost in GPU hours", "compute"),
    ("Who wrote the Scissorhands paper?", "authors"),
    ("Which organisation developed KIVI?", "authors"),
    ("How many epochs was TinySAM trained for?", "hyperparameters"),
    ("what GPU was KIVI evaluated on", "hardware"),
    ("Which base model is TinySAM initialised from?", "base model"),
    ("KIVI publication year", "date"),
    # Any other thing asked of a named paper ...
    ("What tokenizer does KIVI use?", "asked"),
    ("What is TinySAM's prediction error on real phones?", "asked"),
    ("How many human annotators labelled KIVI's data?", "asked"),  # a count of a thing
    ("is KIVI written in python or java", "choice"),
    ("How long did the KIVI user study last?", "duration"),
    ("KIVI serving price in dollars per million tokens", "price"),
    ("What context length does KIVI support?", "context length"),
    ("Is KIVI implemented in PyTorch?", "implementation"),
    ("does KIVI run on JAX or only PyTorch?", "choice"),
    ("kivi rl algorithm ppo or dpo", "choice"),  # a terse choice
    ("How many people rated TinySAM's masks?", "asked"),  # an irregular plural is counted
    ("kivi glue score", "asked"),  # a terse key word KIVI's abstract never uses
    # A measure asked in a unit needs a number in that unit.
    ("What is KIVI's latency in milliseconds?", "unit"),
    ("How many GB of memory does KIVI save?", "unit"),
    ("tinysam fps on a phone", "unit"),
    ("What resolution does TinySAM segment?", "unit"),
    # Whether the code is out, asked as a yes/no question too.
    ("Is KIVI open source?", "code"),
    ("Is the code for TinySAM available?", "code"),
    ("Is there an open-source implementation of KIVI?", "code"),
    ("kivi github", "code"),
    ("Which open-source model is TinySAM initialised from?", "base model"),  # a model asked
    # ... but not what a paper does, a clause, or a thing asked of no named paper.
    ("What approach does KIVI take?", None),
    ("How much faster is KIVI?", None),  # a comparison, answered by its result
    ("How many times faster is KIVI?", None),
    ("How many papers cite KIVI?", None),
    ("What hypothesis underlies KIVI?", None),
    ("What tokenizer do most LLMs use?", None),
    ("kivi or scissorhands", None),  # two papers side by side, not a choice
    ("kivi kv cache", None),  # terse key words KIVI's abstract uses
    ("Does averaging models fine-tuned with different hyperparameters help?", None),
    ("what does that imply for spending a fixed compute budget?", None),
])
def test_the_detail_asked_for_is_recognised_only_when_asked(
        analyzer: Analyzer, question: str, detail: str | None) -> None:
    found = analyzer.analyze(question).detail
    assert (found.kind if found else None) == detail


def test_a_detail_word_the_question_only_uses_is_not_asked(analyzer: Analyzer) -> None:
    def kinds(question: str) -> list[str]:
        return [d.kind for d in analyzer.analyze(question).details]

    assert "authors" not in kinds("On which GPUs did the KIVI authors run it?")
    assert "authors" in kinds("Who are the authors of KIVI?")
    assert "learning rate" not in kinds("What learning-rate schedule does KIVI use?")


def test_every_detail_asked_must_be_given(analyzer: Analyzer) -> None:
    asked = analyzer.analyze("Which base model is TinySAM built on, and how many parameters?")
    assert [d.kind for d in asked.details] == ["base model", "parameters"]
    paper = StoredPaper("p4", "TinySAM", "TinySAM is distilled from SAM.")  # no size given
    assert detail_given(asked.details[0], paper) and not detail_given(asked.details[1], paper)


def test_a_saving_asked_for_is_given_by_a_percentage_or_factor(analyzer: Analyzer) -> None:
    saves = analyzer.analyze("How much training time does KIVI save?").details
    took = analyzer.analyze("How much training time did KIVI take?").details
    assert [d.kind for d in saves] == [d.kind for d in took] == ["compute"]
    paper = StoredPaper("p1", "KIVI", "KIVI cuts training time by 22% on one GPU.")
    assert detail_given(saves[0], paper) and not detail_given(took[0], paper)
    latex = StoredPaper("p1", "KIVI", "KIVI cuts training time by 41.5\\% on one GPU.")
    assert detail_given(saves[0], latex)  # the corpus's LaTeX residue: "41.5\%"
    minutes = StoredPaper("p1", "KIVI", "KIVI is trained in less than 10 minutes on one A100.")
    assert detail_given(took[0], minutes)


@pytest.mark.parametrize(("question", "form"), [
    ("Compare KIVI and Scissorhands", "comparison"),
    ("KIVI vs Scissorhands", "comparison"),
    ("KIVI and Scissorhands", "comparison"),
    ("Summarize the techniques for KV cache compression", "survey"),
    ("Which papers reduce the memory of the KV cache, and how?", "survey"),
    ("What does KIVI do?", "about"),
    ("kv cache memory", "survey"),  # a topic typed as a few words: what the corpus has on it
    ("how is kv cache memory managed", "open"),
    # One thing asked for: the answer is about the paper that best fits it.
    ("Which post-training method replaces each weight matrix with a smaller one?", "single"),
    ("Is there a training-free way to compress an LLM at megabyte granularity?", "single"),
    ("Which methods compress the KV cache?", "survey"),
])
def test_the_form_of_a_question(analyzer: Analyzer, question: str, form: str) -> None:
    assert analyzer.analyze(question).form == form


def test_the_shipped_coverage_model_loads_and_orders_evidence() -> None:
    model = CoverageModel.load()
    base = {f: m for f, m in zip(model.features, model.mean, strict=True)}
    strong = base | {"dense": 0.7, "cover_top": 1.0, "unknown_share": 0.0, "unknown_rare": 0.0}
    weak = base | {"dense": 0.2, "cover_top": 0.0, "unknown_share": 1.0, "unknown_rare": 1.0}
    assert model.probability(strong) > model.threshold > model.probability(weak)


# -- the real corpus ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(corpus_home) -> Engine:  # type: ignore[no-untyped-def]
    return Engine(Settings(home=corpus_home))


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    "What does Scissorhands do?", "scissorhands", "Compare KIVI and Scissorhands",
    "Hydragen vs vAttention"])
def test_questions_about_named_papers_are_answered_citing_them(
        engine: Engine, question: str) -> None:
    answer = engine.answer(question)
    assert answer.coverage == "answered" and not answer.refused, answer.text
    cited = {c.title.split(":")[0] for c in answer.citations}
    for name in ("Scissorhands", "KIVI", "Hydragen", "vAttention"):
        if name.lower() in question.lower():
            assert name in cited, (name, cited)


@pytest.mark.slow
@pytest.mark.parametrize(("question", "names"), [
    ("what is flash attention", {"flash attention": "FlashAttention"}),
    ("paged attention vs flash attention",
     {"paged attention": "PagedAttention", "flash attention": "FlashAttention"}),
    # Two words that only happen to spell a name ("of a": OFA) are no name.
    ("How can the vocoder of a neural text-to-speech system be made faster?", {}),
    ("how do people shrink the kv cache", {}),  # "KVCache" is a word, no paper's name
])
def test_a_coined_name_typed_as_two_words_is_that_name(
        engine: Engine, question: str, names: dict[str, str]) -> None:
    analysis, _ = engine.assess(question)
    assert {n.text: n.defined_by for n in analysis.names if n.defined_by}.keys() == names.keys()
    papers = engine.papers()
    for name, title_word in names.items():
        defined = next(n.defined_by for n in analysis.names if n.text == name)
        assert any(title_word in papers[pid].title for pid in defined), (name, defined)
    if names:
        answer = engine.answer(question)
        assert answer.coverage == "answered", answer.text
        cited = " ".join(c.title for c in answer.citations)
        assert all(word in cited for word in names.values()), cited


@pytest.mark.slow
def test_a_named_item_missing_from_the_corpus_makes_the_answer_partial(engine: Engine) -> None:
    answer = engine.answer("Splitwise vs Mooncake")
    assert answer.coverage == "partial" and answer.missing == ["Mooncake"]
    assert answer.text.startswith("_Mooncake is not in the corpus._")
    assert [c.title.split(":")[0] for c in answer.citations] == ["Splitwise"]
    data = answer.as_dict()
    assert data["coverage"] == "partial" and data["missing"] == ["Mooncake"]


@pytest.mark.slow
def test_a_detail_the_abstract_lacks_makes_the_answer_partial(engine: Engine) -> None:
    answer = engine.answer("What learning rate was used to train TinySAM?")
    assert answer.coverage == "partial", answer.text
    assert "does not give the learning rate" in answer.text and answer.citations
    assert answer.citations[0].title.startswith("TinySAM")


@pytest.mark.slow
@pytest.mark.parametrize(("question", "coverage"), [
    ("What tokenizer does MiniCPM use?", "partial"),  # its abstract names none
    ("What accuracy does TinyViT reach on ImageNet?", "answered"),  # its abstract gives it
    # A count needs a number with the thing counted, not the word alone ...
    ("How many tasks is BitStack evaluated on?", "partial"),  # "a wide range of tasks"
    ("How many bits does KIVI use for the KV cache?", "answered"),  # "2bit"
    # ... and a choice needs one of its options in the abstract.
    ("Is KIVI written in Python or Java?", "partial"),
    ("Does KIVI quantize the key cache per-channel or per-token?", "answered"),
    ("Does SmartRAG use PPO or DPO?", "partial"),
    # A measure in a unit is given only as a number in that unit.
    ("How many GB of memory does TPI-LLM need?", "answered"),  # "3.1 GB"
    ("How many GB of memory does KIVI save?", "partial"),  # "2.6x less peak memory"
    ("What is SLAB's latency in milliseconds?", "answered"),
    ("Hydragen throughput fps", "partial"),
    # Every detail asked must be given: CodeMonkeys names the model it builds on, not its size.
    ("Which base model is CodeMonkeys built on, and how many parameters does it have?",
     "partial"),
    # A terse key word the named paper never uses is a thing it does not say.
    ("kivi glue score", "partial"),
    ("scissorhands kv cache", "answered"),
    ("scissorhands compression ratio", "answered"),  # "ratio" is common: "up to 5X" gives it
    # Code is given by a link in the abstract or the paper's metadata.
    ("Is CORAG open source?", "partial"),
    ("Is the code for KIVI available?", "answered"),
])
def test_a_thing_asked_of_a_named_paper_is_answered_only_when_its_abstract_has_it(
        engine: Engine, question: str, coverage: str) -> None:
    assert_coverage(engine, question, coverage, "does not give")


def assert_coverage(engine: Engine, question: str, coverage: str, says: str) -> None:
    """The answer's coverage; a partial one says what the abstract lacks and still cites."""
    answer = engine.answer(question)
    assert answer.coverage == coverage, answer.text
    if coverage == "partial":
        assert says in answer.text and answer.citations


@pytest.mark.slow
@pytest.mark.parametrize(("question", "coverage"), [
    # Other papers name the benchmark (it is no unknown name); Combiner's abstract does not.
    ("How does Combiner score on the Long Range Arena benchmark?", "partial"),
    ("What accuracy does TinyViT get on COCO?", "partial"),
    ("Does KIVI keep the quality of Mistral models?", "answered"),  # KIVI's abstract names it
    # A retrieved study of SPLADE writes BM25: it is about the paper named.
    ("How does SPLADE get close to BM25 latency?", "answered"),
    ("Compare Scissorhands with H2O", "answered"),  # two items: a comparison, not this rule
    # A unit is no named thing: LoRAM writes "20G HBM", never "GB".
    ("How can LoRAM train a 70B model on a GPU with 20 GB of memory?", "answered"),
])
def test_a_name_no_abstract_about_the_named_paper_writes_makes_the_answer_partial(
        engine: Engine, question: str, coverage: str) -> None:
    assert_coverage(engine, question, coverage, "does not mention")


@pytest.mark.slow
@pytest.mark.parametrize(("question", "reason"), [
    ("How are exoplanets detected from telescope light curves?", "mentions 'exoplanets'"),
    ("What does Mooncake do for LLM serving?", "mentions Mooncake"),
    ("What is the best way to learn to play the piano?", "the closest papers do not mention"),
    ("How long should a sourdough starter ferment before baking bread?", "'sourdough'"),
])
def test_questions_the_corpus_cannot_answer_are_declined_with_the_reason(
        engine: Engine, question: str, reason: str) -> None:
    answer = engine.answer(question)
    assert answer.coverage == "declined" and answer.refused and not answer.citations
    assert reason in answer.text and answer.closest
    assert "The closest papers are:" in answer.text
    assert all(p.title in answer.text for p in answer.closest)


@pytest.mark.slow
def test_an_uncertain_question_is_answered_in_part_saying_what_the_papers_lack(
        engine: Engine) -> None:
    # Face recognition is next to the corpus's vision papers, but none is about it: neither
    # clearly covered nor as far off as the out-of-domain questions the hedge band was set on.
    answer = engine.answer("How accurate are deep face recognition models when people wear masks?")
    assert answer.coverage == "partial" and answer.citations
    assert answer.text.startswith("_The corpus may not cover this question.")
    assert answer.missing and "What the closest papers say:" in answer.text


@pytest.mark.slow
@pytest.mark.parametrize("question", ["<script>alert(1)</script>", "???", "the of and"])
def test_nothing_to_say_is_declined_never_an_empty_answer(engine: Engine, question: str) -> None:
    answer = engine.answer(question)
    assert answer.text.strip()
    assert answer.coverage == "declined" or answer.citations


@pytest.mark.slow
def test_the_analysis_follows_the_store_when_a_paper_with_a_new_name_is_ingested(
        tiny_settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from paperchat.ingest.pipeline import run_ingest

    first = tmp_path / "a.jsonl"
    first.write_text(json.dumps({"title": "KIVI: 2bit KV cache quantization",
                                 "abstract": "We propose KIVI, a tuning-free 2bit quantization "
                                 "of the KV cache that saves 2.6x memory."}) + "\n")
    run_ingest(tiny_settings, [first])
    engine = Engine(tiny_settings)
    assert engine.answer("Zorblax vs KIVI").missing == ["Zorblax"]
    second = tmp_path / "b.jsonl"
    second.write_text(json.dumps({"title": "Zorblax: Sparse attention for long documents",
                                  "abstract": "We present Zorblax, which attends to a sparse "
                                  "set of blocks and runs 3x faster on long documents."}) + "\n")
    run_ingest(tiny_settings, [second])  # the running engine sees the new revision
    answer = engine.answer("Zorblax vs KIVI")
    assert answer.coverage == "answered" and answer.missing == []
    assert {c.title.split(":")[0] for c in answer.citations} == {"Zorblax", "KIVI"}


class _Recorder(BaseHTTPRequestHandler):
    calls: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.calls.append(self.path)
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_llm_answerers_take_the_decision_before_calling_the_llm(corpus_home) -> None:  # type: ignore[no-untyped-def]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings(home=corpus_home).with_overrides(answer={
            "answerer": "openai", "llm_model": "m",
            "llm_base_url": f"http://127.0.0.1:{server.server_port}/v1",
            "fallback_to_extractive": True})
        engine = Engine(settings)
        declined = engine.answer("How long should a sourdough starter ferment?")
        assert declined.coverage == "declined" and _Recorder.calls == []
        partial = engine.answer("Splitwise vs Mooncake")  # the LLM is called (and fails here)
        assert _Recorder.calls, "an answerable question reaches the LLM"
        assert partial.coverage == "partial" and partial.missing == ["Mooncake"]
        assert partial.text.startswith("_Mooncake is not in the corpus._")
    finally:
        server.shutdown()
