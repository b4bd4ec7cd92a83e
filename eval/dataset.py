"""Eval sets: JSON Lines of questions with their gold papers, loaded and checked before a run."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from paperchat.errors import PaperchatError

QuestionType = Literal["factual", "paraphrase", "named", "technique", "comparison", "terse",
                       "unanswerable"]
QUESTION_TYPES: tuple[str, ...] = get_args(QuestionType)
# Why an unanswerable question has no answer in the corpus (see eval/datasets/README.md).
UnanswerableKind = Literal["out_of_domain", "unknown_name", "topic_near_miss", "detail_near_miss"]
UNANSWERABLE_KINDS: tuple[str, ...] = get_args(UnanswerableKind)
DATASETS = Path(__file__).resolve().parent / "datasets"


class BadDataset(PaperchatError):
    """An eval set that cannot be used as it is: missing, malformed, or naming unknown papers."""

    exit_code = 2


@dataclass(frozen=True)
class EvalQuestion:
    """One question of an eval set. Unanswerable questions have no gold papers.

    ``unanswerable_kind`` says why an unanswerable question has no answer; a
    ``detail_near_miss`` question asks about papers that are in the corpus (``about_paper_ids``)
    for a ``detail`` their abstracts do not give. ``absent_regex`` is the case-insensitive pattern
    that was checked to match no title + abstract (for ``detail_near_miss``: not the about-papers').
    """

    id: str
    type: str
    question: str
    gold_paper_ids: tuple[str, ...]
    gold_titles: tuple[str, ...]
    key_facts: tuple[str, ...]
    answerable: bool
    reference_answer: str
    unanswerable_kind: str | None = None
    about_paper_ids: tuple[str, ...] = ()
    detail: str | None = None
    absent_regex: str | None = None

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
    # The bundled splits must say why each unanswerable question is unanswerable; other sets
    # (fixtures, older or hand-made files) may leave unanswerable_kind out.
    bundled = path.resolve().parent == DATASETS
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
        question = parse_question(record, where, require_kind=bundled)
        if question.id in seen:
            raise BadDataset(f"{where}: duplicate id {question.id!r}")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise BadDataset(f"{path} holds no questions.")
    name = path.stem
    return Dataset(name=name, path=path, sha256=hashlib.sha256(raw).hexdigest(),
                   questions=tuple(questions))


def parse_question(record: Any, where: str, *, require_kind: bool = False) -> EvalQuestion:
    """Check one record against the schema; the message names the file, line and field.

    With ``require_kind`` an unanswerable question must carry an ``unanswerable_kind``.
    """
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
    kind, about, detail, absent_regex = _unanswerable_fields(record, answerable, where)
    if require_kind and not answerable and kind is None:
        raise BadDataset(f"{where}: an unanswerable question needs unanswerable_kind "
                         f"({', '.join(UNANSWERABLE_KINDS)})")
    return EvalQuestion(
        id=str(record["id"]),
        type=qtype,
        question=str(record["question"]),
        gold_paper_ids=tuple(dict.fromkeys(lists["gold_paper_ids"])),
        gold_titles=tuple(lists["gold_titles"]),
        key_facts=tuple(lists["key_facts"]),
        answerable=answerable,
        reference_answer=str(record.get("reference_answer") or ""),
        unanswerable_kind=kind,
        about_paper_ids=about,
        detail=detail,
        absent_regex=absent_regex,
    )


def _unanswerable_fields(record: dict[str, Any], answerable: bool, where: str
                         ) -> tuple[str | None, tuple[str, ...], str | None, str | None]:
    """The optional fields of unanswerable rows, checked against the row's kind.

    ``unanswerable_kind`` must be one of UNANSWERABLE_KINDS; it is required only where the caller
    asks (the bundled splits), so that older or hand-made sets still load. Answerable rows carry
    none of these fields.
    """
    present = [name for name in ("unanswerable_kind", "about_paper_ids", "detail", "absent_regex")
               if record.get(name) not in (None, [], "")]
    if answerable:
        if present:
            raise BadDataset(f"{where}: an answerable question cannot have {', '.join(present)}")
        return None, (), None, None
    kind = record.get("unanswerable_kind")
    if kind is not None and kind not in UNANSWERABLE_KINDS:
        raise BadDataset(f"{where}: unanswerable_kind {kind!r} is not one of "
                         f"{', '.join(UNANSWERABLE_KINDS)}")
    about = record.get("about_paper_ids") or []
    if not isinstance(about, list) or not all(isinstance(v, str) and v for v in about):
        raise BadDataset(f"{where}: about_paper_ids must be a list of paper ids")
    detail = record.get("detail")
    if detail is not None and not (isinstance(detail, str) and detail.strip()):
        raise BadDataset(f"{where}: detail must be a non-empty string")
    if kind == "detail_near_miss":
        if not about or detail is None:
            raise BadDataset(
                f"{where}: a detail_near_miss question needs about_paper_ids and detail")
    elif about or detail is not None:
        raise BadDataset(
            f"{where}: about_paper_ids and detail belong to detail_near_miss questions")
    absent_regex = record.get("absent_regex")
    if absent_regex is not None:
        if not isinstance(absent_regex, str) or not absent_regex:
            raise BadDataset(f"{where}: absent_regex must be a non-empty string")
        try:
            re.compile(absent_regex)
        except re.error as exc:
            raise BadDataset(f"{where}: absent_regex does not compile ({exc})") from exc
    return kind, tuple(dict.fromkeys(about)), detail, absent_regex


def check_gold_papers(dataset: Dataset, known_ids: set[str] | dict[str, Any]) -> None:
    """Refuse a set whose gold papers are not in the store: its scores would silently be zero.

    The papers a detail_near_miss question asks about must be in the store too, or the question
    would be off-topic instead of a near miss.
    """
    unknown = [(q.id, pid) for q in dataset.questions
               for pid in q.gold_paper_ids + q.about_paper_ids if pid not in known_ids]
    if unknown:
        shown = ", ".join(f"{qid}: {pid}" for qid, pid in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise BadDataset(
            f"{dataset.path} names {len(unknown)} gold paper(s) the store does not hold "
            f"({shown}{more}). The eval set is written for the bundled corpus: build the store "
            "with `paperchat ingest` (no path), or point PAPERCHAT_HOME at one that was."
        )
