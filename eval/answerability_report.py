"""The answerability part of an eval report: outcomes per kind of question, and calibration.

Unanswerable questions succeed when declined or answered in part (with what is missing said);
answerable ones when not declined. The calibration plot bins our system's P(the corpus covers
the question) and shows the share of questions in each bin whose topic the corpus covers (the
label the model is fitted on: answerable, or a detail question about a paper that is present).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from paperchat.eval.run import EvalRun, QuestionResult

OUTCOMES = ("answered", "partial", "declined")
COVERED_KINDS = ("detail_near_miss",)
# Targets of issue 11, on the test split: unanswerable declined or partial, answerable declined.
UNANSWERABLE_TARGET = 0.90
ANSWERABLE_DECLINED_TARGET = 0.03


def group(r: QuestionResult) -> str:
    return r.kind or r.type if not r.answerable else r.type


def outcome_rows(results: list[QuestionResult]) -> list[dict[str, Any]]:
    """Per group (unanswerable kinds, then answerable types): counts of each outcome and the
    share handled correctly."""
    groups: dict[str, list[QuestionResult]] = {}
    for r in results:
        if r.coverage is not None:
            groups.setdefault(group(r), []).append(r)
    rows = []
    for name, rs in sorted(groups.items(), key=lambda g: (g[1][0].answerable, g[0])):
        counts = {o: sum(r.coverage == o for r in rs) for o in OUTCOMES}
        ok = sum((r.coverage != "declined") if r.answerable else (r.coverage != "answered")
                 for r in rs)
        rows.append({"group": name, "answerable": rs[0].answerable, "n": len(rs), **counts,
                     "correct": ok / len(rs)})
    return rows


def headline(results: list[QuestionResult]) -> dict[str, float]:
    """The two targets' figures: unanswerable declined-or-partial, answerable declined."""
    un = [r for r in results if not r.answerable and r.coverage is not None]
    an = [r for r in results if r.answerable and r.coverage is not None]
    out = {}
    if un:
        handled = sum(r.coverage != "answered" for r in un)
        out["unanswerable_declined_or_partial"] = handled / len(un)
    if an:
        out["answerable_declined"] = sum(r.coverage == "declined" for r in an) / len(an)
    return out


def markdown(run: EvalRun) -> list[str]:
    """The report's "Answerability" section for our system (the run's first)."""
    results = run.of(run.systems[0])
    rows = outcome_rows(results)
    if not rows:
        return []
    head = headline(results)
    lines = ["## Answerability (ours)", ""]
    if "unanswerable_declined_or_partial" in head:
        lines.append(f"Unanswerable questions declined or partial: "
                     f"**{head['unanswerable_declined_or_partial']:.3f}** (target ≥ "
                     f"{UNANSWERABLE_TARGET:.2f}); answerable questions declined: "
                     f"**{head.get('answerable_declined', 0.0):.3f}** (target ≤ "
                     f"{ANSWERABLE_DECLINED_TARGET:.2f}).")
        lines.append("")
    lines += ["| question kind | answerable | n | answered | partial | declined | correct |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['group']} | {'yes' if row['answerable'] else 'no'} | {row['n']} "
                     f"| {row['answered']} | {row['partial']} | {row['declined']} "
                     f"| {row['correct']:.3f} |")
    lines += ["", "![calibration of the coverage model](calibration.png)", ""]
    return lines


def covered_label(r: QuestionResult) -> int:
    return int(r.answerable or r.kind in COVERED_KINDS)


def reliability(results: list[QuestionResult], bins: int = 5) -> list[tuple[float, float, int]]:
    """(mean predicted, observed covered share, count) per probability bin."""
    rows = [(r.probability, covered_label(r)) for r in results if r.probability is not None]
    out = []
    edges = np.linspace(0, 1, bins + 1)
    for lo, hi in itertools.pairwise(edges):
        inside = [(p, y) for p, y in rows if lo <= p < hi or (hi == 1 and p == 1)]
        if inside:
            out.append((float(np.mean([p for p, _ in inside])),
                        float(np.mean([y for _, y in inside])), len(inside)))
    return out


def plot_calibration(run: EvalRun, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = run.of(run.systems[0])
    points = reliability(results)
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    if points:
        xs, ys, ns = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=f"{run.dataset.name} ({sum(ns)} questions)")
        for x, y, n in points:
            ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xlabel("predicted P(corpus covers the question)")
    ax.set_ylabel("observed share covered")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Coverage model calibration")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
