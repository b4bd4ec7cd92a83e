"""Run systems over an eval set: each question once per system, one result row per pair.

A system is our engine with one retrieval mode: ``hybrid`` (ours) and the ``bm25`` and
``dense`` baselines. Retrieval metrics come from ``engine.search(q, k=10, mode=...)``; answer
metrics from ``engine.answer(q)`` on an engine whose settings carry that mode, so baselines are
answered the same way, over their own retrieval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from paperchat.errors import PaperchatError
from paperchat.eval import metrics as m
from paperchat.eval.dataset import Dataset, EvalQuestion, check_gold_papers

if TYPE_CHECKING:
    from paperchat.eval.answerers import AnswerRow
    from paperchat.eval.judge import Judge
    from paperchat.rag.types import Answer
    from paperchat.settings import Settings

SYSTEMS: tuple[str, ...] = ("hybrid", "bm25", "dense")  # ours first, then the baselines
RETRIEVE_K = 10

# name -> what the report calls it; the order is the report's column order.
RETRIEVAL_METRICS = {
    "hit@1": "hit@1", "hit@5": "hit@5", "hit@10": "hit@10", "recall@5": "recall@5",
    "recall@10": "recall@10", "mrr": "MRR@10", "ndcg@10": "nDCG@10",
}
ANSWER_METRICS = {
    "refusal_accuracy": "refusal acc.", "citation_valid": "citations valid",
    "citation_precision": "citation prec.", "citation_recall": "citation rec.",
    "citation_support": "citation support", "key_fact_recall": "key-fact recall",
    "answer_similarity": "similarity to ref.", "words": "answer words",
    "faithful": "faithful",
}
# Reference points for the answers' content (ours is the extractive answer above): pasting the
# top paper's whole abstract, and the best extract of gold sentences in as many words as ours.
REFERENCE_METRICS = {
    "baseline_key_fact_recall": "whole top abstract: key-fact recall",
    "baseline_words": "whole top abstract: words",
    "oracle_key_fact_recall": "oracle extract: key-fact recall",
    "oracle_words": "oracle extract: words",
}
JUDGE_METRICS = {"faithfulness": "faithfulness (LLM)", "relevancy": "relevancy (LLM)",
                 "correctness": "correctness 1-5 (LLM)"}
METRICS = {**RETRIEVAL_METRICS, **ANSWER_METRICS, **REFERENCE_METRICS, **JUDGE_METRICS}
# Metrics where higher is better: the ones a comparison gates on (answer words are a length,
# and the reference answers do not depend on ours, except through that length).
GATED_METRICS = tuple(name for name in METRICS
                      if name != "words" and name not in REFERENCE_METRICS)

Progress = Callable[[str, int, int], None]  # (system, questions done, questions in all)


@dataclass
class QuestionResult:
    """One system's go at one question, with every metric that applies to it."""

    system: str
    id: str
    type: str
    question: str
    answerable: bool
    gold: list[str]
    retrieved: list[str]
    search_seconds: float
    answer: str = ""
    refused: bool | None = None
    cited: list[str] = field(default_factory=list)  # paper id of [1], [2], ...
    answer_seconds: float | None = None
    metrics: dict[str, float | None] = field(default_factory=dict)
    error: str = ""
    kind: str = ""  # why an unanswerable question is unanswerable (eval/datasets/README.md)
    coverage: str | None = None  # answered | partial | declined
    probability: float | None = None  # the coverage model's P(the corpus covers it)
    shape: str = ""  # the answer's layout: one_paper | survey | comparison | open

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuestionResult:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class EvalRun:
    """Everything a report needs: the set, the systems, the rows, and how they were made."""

    dataset: Dataset
    systems: list[str]
    results: list[QuestionResult]
    config: dict[str, Any]
    # Answerers compared on the same questions (eval/answerers.py), when asked for.
    answerers: list[AnswerRow] = field(default_factory=list)

    def of(self, system: str) -> list[QuestionResult]:
        return [r for r in self.results if r.system == system]


def run_eval(
    settings: Settings,
    dataset: Dataset,
    *,
    systems: Sequence[str] = SYSTEMS,
    answer_systems: Sequence[str] | None = None,
    support: str = "embedding",
    judge: Judge | None = None,
    progress: Progress | None = None,
) -> EvalRun:
    """Run ``systems`` over ``dataset``; ``answer_systems`` also answer each question.

    By default every system answers when answers are extractive (cheap), and only the first
    (ours) when an LLM writes them.

    With a ``judge``, the answers of the first system are also graded by llama-index's LLM
    evaluators.
    """
    from llama_index.core.evaluation import SemanticSimilarityEvaluator

    from paperchat.eval.embedding import PaperchatEmbedding
    from paperchat.eval.support import make_support
    from paperchat.rag.engine import Engine

    if answer_systems is None:
        extractive = settings.answer.answerer == "extractive"
        answer_systems = systems if extractive else systems[:1]
    answer_systems = list(answer_systems)
    engines = {s: Engine(settings.with_overrides(retrieval={"mode": s})) for s in systems}
    first = engines[systems[0]]
    papers = first.papers()
    check_gold_papers(dataset, papers)
    supports = make_support(support, settings.embedder, settings.answer.support_threshold,
                            llm=judge.llm if judge else None, llm_name=judge.model if judge else "")
    similarity = SemanticSimilarityEvaluator(embed_model=PaperchatEmbedding(settings.embedder))
    abstracts = {pid: p.abstract for pid, p in papers.items()}

    for system in systems:
        _warm_up(engines[system], system, dataset.questions[0].question, system in answer_systems)

    def answer(system: str, question: EvalQuestion, result: QuestionResult) -> None:
        if system in answer_systems:
            _answer(engines[system], question, result, supports, similarity, abstracts)

    results = _take_turns(engines, dataset, answer, progress)
    if judge is not None:
        judge.grade([r for r in results if r.system == systems[0]], dataset, abstracts)
    config = {
        "systems": list(systems),
        "answer_systems": answer_systems,
        "retrieve_k": RETRIEVE_K,
        "support": getattr(supports, "name", support),
        "judge": judge.model if judge else None,
        "judge_error": judge.error if judge else "",
        "settings": _public_settings(settings),
    }
    return EvalRun(dataset=dataset, systems=list(systems), results=results, config=config)


def _take_turns(
    engines: dict[str, Any], dataset: Dataset,
    answer: Callable[[str, EvalQuestion, QuestionResult], None], progress: Progress | None,
) -> list[QuestionResult]:
    """Every system on every question, grouped by system. Who goes first meets the cold caches
    (a paper's sentences are read once), so the systems take turns going first: no system's
    latency pays for the others'."""
    systems = list(engines)
    rows: dict[tuple[str, int], QuestionResult] = {}
    for i, question in enumerate(dataset.questions):
        turn = i % len(systems)
        for system in [*systems[turn:], *systems[:turn]]:
            result = _retrieve(engines[system], system, question)
            answer(system, question, result)
            rows[(system, i)] = result
            if progress:
                progress(system, i + 1, len(dataset))
    return [rows[(s, i)] for s in systems for i in range(len(dataset))]


def _warm_up(engine: Any, system: str, question: str, answer: bool) -> None:
    """Load the models and indexes before the clock runs: latency measures answering only."""
    engine.search(question, k=RETRIEVE_K, mode=system)
    if answer:
        engine.answer(question)


def _retrieve(engine: Any, system: str, q: EvalQuestion) -> QuestionResult:
    started = time.perf_counter()
    found = engine.search(q.question, k=RETRIEVE_K, mode=system)
    seconds = time.perf_counter() - started
    ids = [p.paper_id for p in found]
    gold = list(q.gold_paper_ids)
    scores = {
        "hit@1": m.hit_at_k(gold, ids, 1),
        "hit@5": m.hit_at_k(gold, ids, 5),
        "hit@10": m.hit_at_k(gold, ids, 10),
        "recall@5": m.recall_at_k(gold, ids, 5),
        "recall@10": m.recall_at_k(gold, ids, 10),
        "mrr": m.reciprocal_rank(gold, ids, RETRIEVE_K),
        "ndcg@10": m.ndcg_at_k(gold, ids, 10),
    }
    return QuestionResult(system=system, id=q.id, type=q.type, question=q.question,
                          answerable=q.answerable, gold=gold, retrieved=ids,
                          search_seconds=seconds, metrics=scores,
                          kind=getattr(q, "unanswerable_kind", None) or "")


def _answer(engine: Any, q: EvalQuestion, result: QuestionResult, supports: m.Judge,
            similarity: Any, abstracts: dict[str, str]) -> None:
    started = time.perf_counter()
    try:
        answer: Answer = engine.answer(q.question)
    except PaperchatError as exc:  # one failed question is a row in the report, not a crash
        result.error = str(exc)
        result.metrics.update(dict.fromkeys({**ANSWER_METRICS, **REFERENCE_METRICS}))
        result.metrics["refusal_accuracy"] = 0.0
        return
    result.answer_seconds = answer.timings.get("total", time.perf_counter() - started)
    result.answer = answer.text
    result.refused = answer.refused
    result.coverage = answer.coverage
    result.probability = answer.probability
    result.shape = answer.shape
    result.cited = [c.paper_id for c in answer.citations]
    result.metrics.update(answer_metrics(q, answer, supports, similarity, abstracts))
    if q.answerable and not answer.refused:
        top = result.retrieved[0] if result.retrieved else None
        result.metrics.update(reference_metrics(q, result.metrics.get("words"), top, abstracts))


def answer_metrics(q: EvalQuestion, answer: Answer, supports: m.Judge, similarity: Any,
                   abstracts: dict[str, str]) -> dict[str, float | None]:
    """Metrics of one answer. Citation metrics apply to answers given, not to refusals."""
    scores: dict[str, float | None] = dict.fromkeys(ANSWER_METRICS)
    scores["refusal_accuracy"] = m.coverage_correct(q.answerable, answer.coverage)
    if q.answerable and q.reference_answer:
        scores["answer_similarity"] = similarity.evaluate(
            response=answer.text or " ", reference=q.reference_answer).score
    if answer.refused:
        # A wrongly refused answerable question found none of its papers or facts.
        if q.answerable:
            scores["citation_recall"] = 0.0
            scores["key_fact_recall"] = m.key_fact_recall("", q.key_facts)
        return scores
    gold = list(q.gold_paper_ids)
    numbers = m.cited_numbers(answer.text)
    by_number = {c.n: c for c in answer.citations}
    cited = [by_number[n].paper_id for n in numbers if n in by_number]
    scores["citation_valid"] = 1.0 if m.citations_valid(answer.text, len(answer.citations)) \
        and all(n in by_number for n in numbers) else 0.0
    scores["citation_precision"] = m.citation_precision(cited, gold)
    scores["citation_recall"] = m.citation_recall(cited, gold)
    passages = {c.n: abstracts.get(c.paper_id) or c.passage for c in answer.citations}
    scores["citation_support"] = m.citation_support(m.cited_sentences(answer.text), supports,
                                                    passages)
    scores["key_fact_recall"] = m.key_fact_recall(answer.text, q.key_facts)
    scores["words"] = float(m.answer_words(answer.text))
    titles = {c.n: f"{c.title}\n{' '.join(c.urls)}" for c in answer.citations}
    # The engine's coverage note ("Mooncake is not in the corpus.") states what is missing; it
    # quotes no abstract, so faithfulness is judged on the answer below it.
    body = answer.text.removeprefix(f"_{answer.reason}_").lstrip() if answer.reason \
        else answer.text
    scores["faithful"] = m.faithful(body, {n: f"{titles[n]}\n{passages[n]}" for n in passages})
    return scores


def reference_metrics(q: EvalQuestion, words: float | None, top: str | None,
                      abstracts: dict[str, str]) -> dict[str, float | None]:
    """Key facts and words of the two reference answers: the whole abstract of the top
    retrieved paper (a baseline ours must beat), and the oracle extract of gold sentences in
    the words our answer took (the ceiling of extraction)."""
    from paperchat.rag.sentences import split_sentences

    out: dict[str, float | None] = dict.fromkeys(REFERENCE_METRICS)
    if top is not None and top in abstracts:
        out["baseline_key_fact_recall"] = m.key_fact_recall(abstracts[top], q.key_facts)
        out["baseline_words"] = float(m.answer_words(abstracts[top]))
    if q.key_facts and words:
        gold = [s for pid in q.gold_paper_ids for s in split_sentences(abstracts.get(pid, ""))]
        oracle = m.oracle_extract(q.key_facts, gold, int(words))
        out["oracle_key_fact_recall"] = m.key_fact_recall(oracle, q.key_facts)
        out["oracle_words"] = float(m.answer_words(oracle))
    return out


def _public_settings(settings: Settings) -> dict[str, Any]:
    """The settings that shape results, secrets left out."""
    data = settings.model_dump(mode="json", exclude={"ui": True, "answer": {"llm_api_key"}})
    data["home"] = str(settings.home)
    return data
