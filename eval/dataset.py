"""Eval sets: JSON Lines of questions with their gold papers, loaded and checked before a run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from ingest.errors import PaperchatError

QuestionType = Literal["factual", "paraphrase", "named", "technique", "comparison", "unanswerable"]
QUESTION_TYPES: tuple[str, ...] = get_args(QuestionType)
DATASETS = Path(__file__).resolve().parent / "datasets"


class BadDataset(PaperchatError):
    """An eval set that cannot be used as it is: missing, malformed, or naming unknown papers."""

    exit_code = 2


@dataclass(frozen=True)
class EvalQuestion:
    """One question of an eval set. Unanswerable questions have no gold papers."""

    id: str
    type: str
    question: str
    gold_paper_ids: tuple[str, ...]
    gold_titles: tuple[str, ...]
    key_facts: tuple[str, ...]
    answerable: bool
    reference_answer: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Dataset:
    """A loaded eval set and the hash that identifies its exact contents in a report."""

    name: str
    path: Path
    sha256: str
    questions: tuple[EvalQuestion, ...]

    def __len__(self) -> int:
        return len(self.questions)


def dataset_path(split: str) -> Path:
    """The bundled file of a split (``dev``, ``test``), or ``split`` itself when it is a path."""
    candidate = Path(split)
    if candidate.suffix == ".jsonl" or candidate.is_file():
        return candidate
    return DATASETS / f"{split}.jsonl"


def load_dataset(split_or_path: str | Path) -> Dataset:
    path = dataset_path(str(split_or_path))
    if not path.is_file():
        raise BadDataset(f"No eval set at {path}.")
    raw = path.read_bytes()
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for lineno, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadDataset(f"{where}: not JSON ({exc.msg})") from exc
        question = parse_question(record, where)
        if question.id in seen:
            raise BadDataset(f"{where}: duplicate id {question.id!r}")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise BadDataset(f"{path} holds no questions.")
    name = path.stem
    return Dataset(name=name, path=path, sha256=hashlib.sha256(raw).hexdigest(),
                   questions=tuple(questions))


def parse_question(record: Any, where: str) -> EvalQuestion:
    """Check one record against the schema; the message names the file, line and field."""
    if not isinstance(record, dict):
        raise BadDataset(f"{where}: a question must be a JSON object")
    required = ("id", "type", "question", "answerable")
    missing = [name for name in required if name not in record]
    if missing:
        raise BadDataset(f"{where}: missing {', '.join(missing)}")
    qtype = record["type"]
    if qtype not in QUESTION_TYPES:
        raise BadDataset(f"{where}: type {qtype!r} is not one of {', '.join(QUESTION_TYPES)}")
    if not isinstance(record["answerable"], bool):
        raise BadDataset(f"{where}: answerable must be true or false")
    if not str(record["question"]).strip():
        raise BadDataset(f"{where}: empty question")
    lists = {name: record.get(name) or []
             for name in ("gold_paper_ids", "gold_titles", "key_facts")}
    for name, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadDataset(f"{where}: {name} must be a list of strings")
    answerable = record["answerable"]
    if answerable and not lists["gold_paper_ids"]:
        raise BadDataset(f"{where}: an answerable question needs gold_paper_ids")
    if (qtype == "unanswerable") == answerable:
        raise BadDataset(f"{where}: type {qtype!r} disagrees with answerable={answerable}")
    return EvalQuestion(
        id=str(record["id"]),
        type=qtype,
        question=str(record["question"]),
        gold_paper_ids=tuple(dict.fromkeys(lists["gold_paper_ids"])),
        gold_titles=tuple(lists["gold_titles"]),
        key_facts=tuple(lists["key_facts"]),
        answerable=answerable,
        reference_answer=str(record.get("reference_answer") or ""),
    )


def check_gold_papers(dataset: Dataset, known_ids: set[str] | dict[str, Any]) -> None:
    """Refuse a set whose gold papers are not in the store: its scores would silently be zero."""
    unknown = [(q.id, pid) for q in dataset.questions for pid in q.gold_paper_ids
               if pid not in known_ids]
    if unknown:
        shown = ", ".join(f"{qid}: {pid}" for qid, pid in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise BadDataset(
            f"{dataset.path} names {len(unknown)} gold paper(s) the store does not hold "
            f"({shown}{more}). Was the store built from data/?"
        )
