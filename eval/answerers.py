"""The extractive answerer and an LLM answerer on the same questions, over the same retrieval.

``paperchat eval --answerer llamacpp --limit N`` adds this comparison to the eval report: for
each answerer, key-fact recall, answer length, citation validity, the share of sentences the
support check (``rag.support``) finds supported, refusal accuracy, time to the first streamed
piece and total time. Both answerers' sentences are judged by the same checker; the LLM's
verdicts are the ones its Answer carries (after correction), the extractive answer's are
computed here from its text.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperchat.errors import PaperchatError
from paperchat.eval import metrics as m
from paperchat.rag.text import cited_numbers

if TYPE_CHECKING:
    from paperchat.eval.dataset import Dataset, EvalQuestion
    from paperchat.rag.engine import Engine
    from paperchat.rag.types import Answer, CheckedSentence, RetrievedPaper
    from paperchat.settings import Settings

# name -> what the report calls it; the order is the table's row order.
COLUMNS = {
    "key_fact_recall": "key-fact recall",
    "words": "answer length (words)",
    "citation_valid": "citations valid",
    "supported_as_cited": "sentences supported as cited",
    "supported_share": "sentences supported (after correction)",
    "unsupported_share": "sentences unsupported",
    "refusal_accuracy": "refusal accuracy",
    "first_token_seconds": "time to first token (s)",
    "total_seconds": "total time (s)",
}


@dataclass
class AnswerRow:
    """One answerer's answer to one question, its sentences' verdicts and its metrics."""

    answerer: str
    id: str
    type: str
    question: str
    answerable: bool
    answer: str = ""
    raw: str = ""  # the text as streamed (an LLM's own words and marks, before the check)
    refused: bool | None = None
    retrieved: list[str] = field(default_factory=list)
    sentences: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str, int, int], None]


def limit_questions(dataset: Dataset, limit: int | None) -> Dataset:
    """The first ``limit`` questions taking each type in turn (file order within a type), so a
    short run keeps the set's mix of factual, comparison, unanswerable ... questions."""
    if not limit or limit >= len(dataset):
        return dataset
    by_type: dict[str, list[EvalQuestion]] = {}
    for q in dataset.questions:
        by_type.setdefault(q.type, []).append(q)
    picked: list[EvalQuestion] = []
    while len(picked) < limit:
        for queue in by_type.values():
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    order = {q.id: i for i, q in enumerate(dataset.questions)}
    picked.sort(key=lambda q: order[q.id])
    return replace(dataset, questions=tuple(picked))


def run_answerers(settings: Settings, dataset: Dataset, answerers: Sequence[str],
                  progress: Progress | None = None, log: Path | None = None) -> list[AnswerRow]:
    """Every question answered by each of ``answerers`` on one engine (hybrid retrieval).

    With ``log``, each row is appended to that JSON Lines file as soon as it is made: an LLM
    run takes a while, and what it did so far can be read (or kept) before it ends."""
    from paperchat.rag.engine import Engine
    from paperchat.rag.support import SupportChecker

    engine = Engine(settings.with_overrides(retrieval={"mode": "hybrid"}))
    a = settings.answer
    checker = SupportChecker(engine.bank, a.support_threshold, a.support_number_margin)
    engine.answer(dataset.questions[0].question, answerer="extractive")  # embedder, store, BM25
    for name in answerers:  # load the LLM before the clock runs (not a whole answer)
        if name != "extractive":
            _ = engine.answerer(name).llm  # type: ignore[attr-defined]
    rows = []
    # Question by question, each answerer in turn: a run stopped early still compares them on
    # the same questions.
    for i, q in enumerate(dataset.questions):
        for name in answerers:
            rows.append(answer_one(engine, name, q, checker))
            if log is not None:
                log.parent.mkdir(parents=True, exist_ok=True)
                with log.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(rows[-1].as_dict(), ensure_ascii=False) + "\n")
            if progress:
                progress(name, i + 1, len(dataset))
    return sorted(rows, key=lambda r: list(answerers).index(r.answerer))


def answer_one(engine: Engine, answerer: str, q: EvalQuestion, checker: Any) -> AnswerRow:
    """Stream one answer, timing the first piece and the whole, then score it."""
    from paperchat.rag.types import Answer

    row = AnswerRow(answerer=answerer, id=q.id, type=q.type, question=q.question,
                    answerable=q.answerable)
    started = time.perf_counter()
    first: float | None = None
    final: Answer | None = None
    pieces: list[str] = []
    try:
        for item in engine.stream(q.question, answerer=answerer):
            if isinstance(item, Answer):
                final = item
            else:
                first = time.perf_counter() - started if first is None else first
                pieces.append(item)
    except PaperchatError as exc:  # one failed question is a row, not a crash
        row.error = str(exc)
        return row
    total = time.perf_counter() - started
    assert final is not None
    papers = engine.search(q.question)
    row.answer, row.raw, row.refused = final.text, "".join(pieces), final.refused
    row.retrieved = [p.paper_id for p in papers]
    sentences = final.sentences if final.sentences or final.refused else \
        judge_text(final, papers, checker)
    row.sentences = [s.as_dict() for s in sentences]
    row.metrics = answer_scores(q, final, sentences)
    row.metrics.update(first_token_seconds=first if first is not None else total,
                       total_seconds=total)
    return row


def judge_text(answer: Answer, papers: list[RetrievedPaper], checker: Any) -> list[CheckedSentence]:
    """Verdicts for an answer that has none (the extractive one): its sources in the order of
    its own numbering, then the other retrieved papers (for corrections)."""
    by_id = {p.paper_id: p for p in papers}
    ordered = [by_id.get(c.paper_id) for c in sorted(answer.citations, key=lambda c: c.n)]
    if any(p is None for p in ordered) or [c.n for c in answer.citations] != \
            list(range(1, len(answer.citations) + 1)):
        return []  # numbering the checker cannot follow; counted as not judged
    rest = [p for p in papers if p.paper_id not in {c.paper_id for c in answer.citations}]
    return checker.check(as_claims(answer.text),
                         [*ordered, *rest]).sentences  # type: ignore[list-item]


_URL_CELL = re.compile(r"^(?:https?://\S+|not in the corpus)?$")


def as_claims(text: str) -> str:
    """The claims of a composed answer as lines the checker reads: a table row becomes its cited
    label and its cells ("**KIVI** [1]: approach. result."), and what states nothing (the table's
    header and rule, an uncited framing line such as "5 papers in the corpus address X:", a code
    link) is left out, so that it is not judged as a sentence."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not cited_numbers(stripped):
            continue
        if stripped.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", stripped)[1:-1]]
            said = [c if c.endswith((".", "!", "?")) else c + "." for c in cells[1:]
                    if not _URL_CELL.match(c)]
            out.append(f"{cells[0]}: {' '.join(said)}")
        else:
            out.append(line)
    return "\n".join(out)


def answer_scores(q: EvalQuestion, answer: Answer,
                  sentences: Sequence[CheckedSentence]) -> dict[str, float | None]:
    scores: dict[str, float | None] = dict.fromkeys(COLUMNS)
    # An LLM that declines ("the sources do not answer") declines, whatever the engine decided.
    scores["refusal_accuracy"] = m.coverage_correct(
        q.answerable, "declined" if answer.refused else answer.coverage)
    if answer.refused:
        if q.answerable:
            scores["key_fact_recall"] = m.key_fact_recall("", q.key_facts)
        return scores
    scores["words"] = float(len(answer.text.split()))
    scores["key_fact_recall"] = m.key_fact_recall(answer.text, q.key_facts)
    numbers = m.cited_numbers(answer.text)
    known = {c.n for c in answer.citations}
    scores["citation_valid"] = 1.0 if numbers and all(n in known for n in numbers) else 0.0
    if sentences:
        verdicts = [s.verdict for s in sentences]
        scores["supported_as_cited"] = verdicts.count("supported") / len(verdicts)
        scores["unsupported_share"] = verdicts.count("unsupported") / len(verdicts)
        scores["supported_share"] = 1.0 - scores["unsupported_share"]
    return scores


def summarize_answerers(rows: Sequence[AnswerRow]) -> dict[str, dict[str, Any]]:
    """Per answerer and column: mean (time: also p50/p95) and 95% bootstrap interval."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r.answerer for r in rows):
        mine = [r for r in rows if r.answerer == name]
        stats: dict[str, Any] = {"questions": len(mine), "errors": sum(bool(r.error)
                                                                         for r in mine)}
        verdicts = [s["verdict"] for r in mine for s in r.sentences]
        stats["sentences"] = {v: verdicts.count(v) for v in
                              ("supported", "corrected", "added", "unsupported")}
        for column in COLUMNS:
            values = [r.metrics.get(column) for r in mine]
            if m.present(values):
                stats[column] = {"mean": m.mean(values), "ci": m.bootstrap_ci(values),
                                 "p50": m.percentile(values, 50),
                                 "p95": m.percentile(values, 95), "n": len(m.present(values))}
        out[name] = stats
    return out


def comparison_markdown(rows: Sequence[AnswerRow]) -> list[str]:
    """The report's section: one column per answerer, the same questions and retrieval."""
    summary = summarize_answerers(rows)
    names = list(summary)
    n = max((s["questions"] for s in summary.values()), default=0)
    lines = [
        "## Answerers on the same questions",
        "",
        f"{n} questions, hybrid retrieval, each answered by {', '.join(f'`{a}`' for a in names)}."
        " Sentences of every answer are judged by the same support check (rag/support.py): "
        "supported as cited, corrected or given a citation by the check, or unsupported. "
        "Times are per question on this machine (mean; p50 / p95 below).",
        "",
        "| metric | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for column, label in COLUMNS.items():
        cells = []
        for name in names:
            stat = summary[name].get(column)
            if stat is None:
                cells.append("–")
            elif column.endswith("seconds") or column == "words":
                cells.append(f"{stat['mean']:.1f} ({stat['p50']:.1f} / {stat['p95']:.1f})")
            else:
                low, high = stat["ci"]
                cells.append(f"{stat['mean']:.3f} [{low:.2f}, {high:.2f}]")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    counts = " · ".join(
        f"`{name}`: " + ", ".join(f"{v} {k}" for k, v in summary[name]["sentences"].items())
        + (f"; {summary[name]['errors']} errors" if summary[name]["errors"] else "")
        for name in names)
    lines += ["", f"Sentences: {counts}.", ""]
    return lines


def load_rows(path: Path) -> list[AnswerRow]:
    """The rows of an ``answerers.jsonl`` a run wrote."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(AnswerRow(**json.loads(line)))
    return rows


def recheck(rows: list[AnswerRow], dataset: Dataset, papers: dict[str, Any],
            checker: Any) -> list[AnswerRow]:
    """The LLM rows judged again from what the model wrote (``raw``) with ``checker`` (a new
    threshold, say); the model's words are the run's, only verdicts, marks and the metrics that
    depend on them change. Extractive rows are kept as they are (they quote their sources)."""
    from paperchat.rag.types import Answer, RetrievedPaper

    questions = {q.id: q for q in dataset.questions}
    out = []
    for row in rows:
        if row.answerer == "extractive" or row.error or row.refused or not row.raw:
            out.append(row)
            continue
        sources = [RetrievedPaper(rank=i, paper_id=pid, title=papers[pid].title, score=0.0,
                                  abstract=papers[pid].abstract, urls=[])
                   for i, pid in enumerate(row.retrieved, start=1)]
        checked = checker.check(row.raw, sources)
        answer = Answer(question=row.question, text=checked.text, citations=checked.citations,
                        refused=False, sentences=checked.sentences)
        metrics = answer_scores(questions[row.id], answer, checked.sentences)
        metrics.update({k: row.metrics.get(k) for k in ("first_token_seconds", "total_seconds")})
        out.append(replace(row, answer=checked.text, metrics=metrics,
                           sentences=[s.as_dict() for s in checked.sentences]))
    return out
