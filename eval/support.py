"""Judges of citation support: does a cited abstract back up the sentence that cites it?

Also the calibration of the LLM answers' per-sentence check (``rag.support``) on hand-labelled
sentences (``eval/datasets/llm_sentences.jsonl``): precision and recall of its "unsupported"
verdict at each threshold (``paperchat eval support``).

``embedding`` (the default) runs offline with the store's own embedding model; ``nli:FOLDER``
uses a local cross-encoder NLI model; ``llm`` asks the configured judge LLM. Each takes
(sentence, cited texts) pairs and gives one verdict per pair (``eval.metrics.Judge``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperchat.errors import PaperchatError
from paperchat.rag.text import split_sentences

if TYPE_CHECKING:
    from paperchat.eval.metrics import Judge
    from paperchat.ingest.embedder import Embedder



Pairs = list[tuple[str, list[str]]]  # (answer sentence, the texts it cites)


def _verbatim(sentence: str, texts: list[str]) -> bool:
    """A sentence quoted from a cited text needs no judge (the extractive answerer quotes)."""
    needle = " ".join(sentence.split()).rstrip(".")
    return any(needle in " ".join(t.split()) for t in texts)


class EmbeddingSupport:
    """Supported when the sentence is quoted from, or close to some sentence (or the whole) of,
    a cited text."""

    name = "embedding"

    def __init__(self, embedder: Embedder, threshold: float) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self._cache: dict[str, np.ndarray] = {}  # cited text -> vectors of it and its sentences

    def scores(self, pairs: Pairs) -> list[float]:
        """Best cosine similarity of each sentence to its cited texts, their sentences included."""
        new = [t for t in dict.fromkeys(t for _, texts in pairs for t in texts)
               if t not in self._cache]
        parts = [[t, *split_sentences(t)] for t in new]
        vectors = self.embedder.embed([p for group in parts for p in group])
        start = 0
        for text, group in zip(new, parts, strict=True):
            self._cache[text] = vectors[start:start + len(group)]
            start += len(group)
        claims = self.embedder.embed([sentence for sentence, _ in pairs])
        return [max(float(np.max(self._cache[t] @ claim)) for t in texts)
                for claim, (_, texts) in zip(claims, pairs, strict=True)]

    def __call__(self, pairs: Pairs) -> list[bool]:
        quoted = [_verbatim(sentence, texts) for sentence, texts in pairs]
        rest = [p for p, q in zip(pairs, quoted, strict=True) if not q]
        scores = iter(self.scores(rest) if rest else [])
        return [q or next(scores) >= self.threshold for q in quoted]


class NLISupport:
    """Supported when a local NLI cross-encoder says the cited texts entail the sentence."""

    def __init__(self, model: str) -> None:
        try:
            from sentence_transformers import CrossEncoder
        except ImportError as exc:  # pragma: no cover - sentence-transformers is a dependency
            raise PaperchatError("NLI support needs sentence-transformers") from exc
        try:
            self.model = CrossEncoder(model)
        except OSError as exc:
            raise PaperchatError(
                f"Cannot load the NLI model {model!r}: give a local folder of a cross-encoder "
                "NLI model (nli:/path/to/model)."
            ) from exc
        labels = {v.lower(): int(k) for k, v in self.model.config.id2label.items()}
        if "entailment" not in labels:
            raise PaperchatError(f"{model!r} has no 'entailment' label; is it an NLI model?")
        self.entailment = labels["entailment"]
        self.name = f"nli:{model}"

    def __call__(self, pairs: Pairs) -> list[bool]:
        if not pairs:
            return []
        scores = self.model.predict([(" ".join(texts), sentence) for sentence, texts in pairs])
        return [int(np.argmax(row)) == self.entailment for row in np.atleast_2d(scores)]


_LLM_PROMPT = (
    "Passage:\n{passage}\n\nClaim: {claim}\n\n"
    "Is the claim fully supported by the passage? Answer with one word, yes or no."
)


class LLMSupport:
    """Supported when the judge LLM answers yes to 'does the passage support the claim?'."""

    def __init__(self, llm: Any, model_name: str) -> None:
        self.llm = llm
        self.name = f"llm:{model_name}"

    def __call__(self, pairs: Pairs) -> list[bool]:
        replies = [self.llm.complete(_LLM_PROMPT.format(passage="\n\n".join(texts), claim=s))
                   for s, texts in pairs]
        return [str(r).strip().lower().startswith("yes") for r in replies]


def make_support(spec: str, embedder: Embedder, threshold: float, llm: Any = None,
                 llm_name: str = "") -> Judge:
    """The judge named by ``spec``: ``embedding`` (at ``threshold``, the settings'
    ``answer.support_threshold``: one threshold for the answer's check and the eval's),
    ``embedding:0.7``, ``nli:FOLDER`` or ``llm``."""
    kind, _, arg = spec.partition(":")
    if kind == "embedding":
        return EmbeddingSupport(embedder, float(arg) if arg else threshold)
    if kind == "nli" and arg:
        return NLISupport(arg)
    if kind == "llm":
        if llm is None:
            raise PaperchatError("--support llm needs a judge LLM (--judge, or an LLM answerer).")
        return LLMSupport(llm, llm_name)
    raise PaperchatError(f"Unknown support judge {spec!r}: use embedding, nli:FOLDER or llm.")


# -- calibrating the per-sentence check of LLM answers (rag/support.py) --------------------------

LABELS = Path(__file__).resolve().parent / "datasets" / "llm_sentences.jsonl"


@dataclass(frozen=True)
class LabelledSentence:
    """A sentence an LLM wrote, the sources it was answered from, and a person's label."""

    id: str
    question: str
    sentence: str
    written: tuple[int, ...]  # the citations the model wrote, numbered over ``retrieved``
    retrieved: tuple[str, ...]  # paper ids, [1] first
    supported: bool  # does some retrieved abstract state it (numbers, names and all)?
    note: str = ""


def load_labels(path: Path = LABELS) -> list[LabelledSentence]:
    """The hand-labelled sentences; a record that does not fit names its line."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            label = r["label"]
            if label not in ("supported", "unsupported"):
                raise ValueError(f"label {label!r} is not supported/unsupported")
            out.append(LabelledSentence(
                id=str(r["id"]), question=str(r["question"]), sentence=str(r["sentence"]),
                written=tuple(int(x) for x in r.get("written", [])),
                retrieved=tuple(str(p) for p in r["retrieved"]),
                supported=label == "supported", note=str(r.get("note", ""))))
        except (ValueError, KeyError, TypeError) as exc:
            raise PaperchatError(f"{path}:{n}: {exc}") from exc
    return out


@dataclass
class Calibration:
    """Precision and recall of the "unsupported" verdict at each threshold tried."""

    rows: list[dict[str, float]]  # threshold, precision, recall, f1, accuracy, flagged
    best: dict[str, float]
    labelled: int
    unsupported: int


def predicted_unsupported(labels: list[LabelledSentence], papers: dict[str, Any], bank: Any,
                          threshold: float, number_margin: float) -> list[bool]:
    """The checker's verdict for each labelled sentence, judged alone with its marks."""
    from paperchat.rag.support import SupportChecker
    from paperchat.rag.types import RetrievedPaper

    checker = SupportChecker(bank, threshold, number_margin)
    out = []
    for item in labels:
        sources = [RetrievedPaper(rank=i, paper_id=pid, title=papers[pid].title, score=0.0,
                                  abstract=papers[pid].abstract)
                   for i, pid in enumerate(item.retrieved, start=1)]
        marks = "".join(f"[{n}]" for n in item.written)
        checked = checker.check(f"{item.sentence} {marks}".strip(), sources)
        verdicts = [s.verdict for s in checked.sentences]
        out.append(bool(verdicts) and "unsupported" in verdicts)
    return out


def calibrate(labels: list[LabelledSentence], papers: dict[str, Any], bank: Any,
              thresholds: list[float], number_margin: float) -> Calibration:
    """Score the "unsupported" verdict against the labels at each threshold; the best is the
    one with the highest F1 (ties: the higher precision, so fewer good sentences are marked;
    then the middle of the tied range, the farthest from both edges)."""
    truth = [not item.supported for item in labels]
    rows = []
    for t in thresholds:
        said = predicted_unsupported(labels, papers, bank, t, number_margin)
        tp = sum(s and g for s, g in zip(said, truth, strict=True))
        fp = sum(s and not g for s, g in zip(said, truth, strict=True))
        fn = sum(g and not s for s, g in zip(said, truth, strict=True))
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        accuracy = sum(s == g for s, g in zip(said, truth, strict=True)) / len(truth)
        rows.append({"threshold": t, "precision": precision, "recall": recall, "f1": f1,
                     "accuracy": accuracy, "flagged": float(sum(said))})
    top = max((r["f1"], r["precision"]) for r in rows)
    tied = [r for r in rows if (r["f1"], r["precision"]) == top]
    best = tied[(len(tied) - 1) // 2]
    return Calibration(rows, best, len(labels), sum(truth))
