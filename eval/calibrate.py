"""Fit the answerability model on an eval split: ``paperchat eval calibrate --split dev``.

Each question of the split is analysed and retrieved (no answer is written), giving the
features of ``rag/answerability.py``; a logistic regression (scikit-learn) learns P(the corpus
covers the question) from them. The label is 1 for answerable questions and for questions about
a detail of a paper that is present (the paper covers the topic; the missing detail is decided by
rule), 0 for the other unanswerable kinds. The threshold kept is the one with the best balanced
accuracy on the split among those that decline at most ``max_answerable_declined`` of its
answerable questions. The weights go to a JSON file, versioned with the code.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperchat.rag.answerability import FEATURES

if TYPE_CHECKING:
    from paperchat.eval.dataset import Dataset, EvalQuestion
    from paperchat.settings import Settings

MODEL_VERSION = 1
COVERED_KINDS = ("detail_near_miss",)  # unanswerable, yet the topic is covered
FAR_KINDS = ("out_of_domain", "unknown_name")  # always declined, never hedged


@dataclass
class Sample:
    id: str
    kind: str  # question type, or the unanswerable kind
    label: int  # 1: the corpus covers the topic
    values: dict[str, float]


def covered(q: EvalQuestion) -> int:
    return int(q.answerable or getattr(q, "unanswerable_kind", "") in COVERED_KINDS)


def collect(settings: Settings, dataset: Dataset) -> list[Sample]:
    from paperchat.rag.engine import Engine

    engine = Engine(settings)
    samples = []
    for q in dataset.questions:
        _, decision = engine.assess(q.question)
        kind = q.type if q.answerable else (getattr(q, "unanswerable_kind", "") or q.type)
        samples.append(Sample(q.id, kind, covered(q), dict(decision.features)))
    return samples


C_GRID = (0.1, 0.3, 1.0, 3.0)


def fit(samples: list[Sample], *, c: float | None = None,
        max_answerable_declined: float = 0.03) -> dict[str, Any]:
    """Logistic regression on standardised features; returns the model file's content. The
    regularisation ``c`` is chosen by cross-validation on the split unless given."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([[s.values[f] for f in FEATURES] for s in samples], dtype=float)
    y = np.array([s.label for s in samples])
    if len(set(y)) < 2:
        raise ValueError("calibration needs both covered and uncovered questions in the split")
    cv_accuracy = {value: cross_validated(x, y, value, max_answerable_declined)
                   for value in C_GRID}
    if c is None:
        c = max(C_GRID, key=lambda value: (cv_accuracy[value], -value))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
    model.fit((x - mean) / scale, y)
    p = model.predict_proba((x - mean) / scale)[:, 1]
    threshold = choose_threshold(p, y, max_answerable_declined)
    declined = p < threshold
    # Hedge (answer in part, with a warning) only above every question of the far-off kinds.
    far = [float(pi) for pi, s in zip(p, samples, strict=True) if s.kind in FAR_KINDS]
    hedge = min(threshold, round(max(far) + 0.01, 2)) if far else threshold
    return {
        "version": MODEL_VERSION,
        "features": list(FEATURES),
        "mean": mean.round(6).tolist(),
        "scale": scale.round(6).tolist(),
        "coef": model.coef_[0].round(6).tolist(),
        "intercept": round(float(model.intercept_[0]), 6),
        "threshold": round(threshold, 4),
        "hedge_threshold": round(hedge, 4),
        "info": {
            "fitted": dt.date.today().isoformat(),
            "questions": len(samples),
            "covered": int(y.sum()),
            "C": c,
            "cv_accuracy": {str(k): round(v, 4) for k, v in cv_accuracy.items()},
            "train_accuracy": round(float(np.mean(declined == (y == 0))), 4),
            "covered_declined": round(float(np.mean(declined[y == 1])), 4),
            "uncovered_declined": round(float(np.mean(declined[y == 0])), 4),
        },
    }


def cross_validated(x: np.ndarray, y: np.ndarray, c: float, max_declined: float,
                    folds: int = 5, repeats: int = 5) -> float:
    """Accuracy of answer/decline on held-out folds, the threshold chosen on each training part
    as :func:`fit` chooses it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    folds = max(2, min(folds, int(min(np.bincount(y)))))
    scores = []
    for seed in range(repeats):
        predicted = np.zeros(len(y))
        for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
            mean, scale = x[train].mean(axis=0), x[train].std(axis=0)
            scale[scale == 0] = 1.0
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
            model.fit((x[train] - mean) / scale, y[train])
            threshold = choose_threshold(model.predict_proba((x[train] - mean) / scale)[:, 1],
                                         y[train], max_declined)
            predicted[held] = model.predict_proba((x[held] - mean) / scale)[:, 1] >= threshold
        scores.append(float(np.mean(predicted == y)))
    return float(np.mean(scores))


def choose_threshold(p: np.ndarray, y: np.ndarray, max_answerable_declined: float) -> float:
    """The threshold with the best balanced accuracy that declines few covered questions."""
    best, best_score = 0.5, -1.0
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        declined = p < t
        covered_declined = float(np.mean(declined[y == 1]))
        if covered_declined > max_answerable_declined:
            continue
        score = (float(np.mean(declined[y == 0])) + 1 - covered_declined) / 2
        # Ties go to the middle of the plateau's start: the lowest threshold reaching the score.
        if score > best_score + 1e-9:
            best, best_score = float(t), score
    return best


def write(model: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
