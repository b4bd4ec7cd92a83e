"""Compare two eval runs: which questions flipped, which metrics moved, and whether to gate.

A run is a folder written by ``eval.report.write_report`` (its results.jsonl and meta.json).
A *flip* is a question whose pass/fail metric (hit@k, refusal, citation validity) changed.
A *regression* is a metric of the gated system whose mean dropped by more than the tolerance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paperchat.eval import metrics as m
from paperchat.eval.dataset import BadDataset
from paperchat.eval.run import GATED_METRICS, QuestionResult

FLIP_METRICS = ("hit@1", "hit@5", "hit@10", "refusal_accuracy", "citation_valid")
DEFAULT_TOLERANCE = 0.02


@dataclass
class Flip:
    system: str
    id: str
    metric: str
    before: float
    after: float

    @property
    def worse(self) -> bool:
        return self.after < self.before


@dataclass
class Comparison:
    """Flips and mean changes from run A (before) to run B (after)."""

    flips: list[Flip]
    deltas: dict[str, dict[str, tuple[float, float]]]  # system -> metric -> (before, after)
    regressions: list[str]  # "hybrid mrr 0.812 -> 0.771 (-0.041)"
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.regressions)


def load_results(folder: Path) -> tuple[list[QuestionResult], dict[str, Any]]:
    path = folder / "results.jsonl"
    if not path.is_file():
        raise BadDataset(f"{folder} is not an eval run folder (no results.jsonl).")
    results = [QuestionResult.from_dict(json.loads(line))
               for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return results, meta


def compare(
    before: list[QuestionResult],
    after: list[QuestionResult],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    gate: tuple[str, ...] = ("hybrid",),
    metrics: tuple[str, ...] = GATED_METRICS,
) -> Comparison:
    """Compare per question and per metric; regressions only for systems in ``gate``."""
    old = {(r.system, r.id): r for r in before}
    new = {(r.system, r.id): r for r in after}
    shared = [key for key in new if key in old]
    flips = []
    for key in shared:
        for name in FLIP_METRICS:
            a, b = old[key].metrics.get(name), new[key].metrics.get(name)
            if a is not None and b is not None and a != b:
                flips.append(Flip(key[0], key[1], name, a, b))
    notes = []
    only_old = sorted({i for s, i in old} - {i for s, i in new})
    only_new = sorted({i for s, i in new} - {i for s, i in old})
    if only_old or only_new:
        notes.append(f"questions only in A: {len(only_old)}, only in B: {len(only_new)}; "
                     "means are over the questions both runs share")
    deltas: dict[str, dict[str, tuple[float, float]]] = {}
    regressions = []
    for system in dict.fromkeys(s for s, _ in shared):
        keys = [k for k in shared if k[0] == system]
        for name in metrics:
            a = m.mean([old[k].metrics.get(name) for k in keys])
            b = m.mean([new[k].metrics.get(name) for k in keys])
            if a is None or b is None:
                continue
            deltas.setdefault(system, {})[name] = (a, b)
            if system in gate and a - b > tolerance:
                regressions.append(f"{system} {name} {a:.3f} -> {b:.3f} ({b - a:+.3f})")
    return Comparison(flips=flips, deltas=deltas, regressions=regressions, notes=notes)


def render(comparison: Comparison, tolerance: float) -> str:
    lines = []
    lines += [f"note: {n}" for n in comparison.notes]
    worse = [f for f in comparison.flips if f.worse]
    better = [f for f in comparison.flips if not f.worse]
    lines.append(f"{len(worse)} flips to worse, {len(better)} to better")
    for f in sorted(comparison.flips, key=lambda f: (f.system, f.id, f.metric)):
        arrow = "✗" if f.worse else "✓"
        lines.append(f"  {arrow} {f.system:7} {f.id:12} {f.metric:17} {f.before:g} -> {f.after:g}")
    lines.append("mean changes:")
    for system, changes in comparison.deltas.items():
        moved = [f"{name} {a:.3f}->{b:.3f}" for name, (a, b) in changes.items()
                 if abs(b - a) >= 5e-4]
        lines.append(f"  {system}: " + (", ".join(moved) if moved else "no change"))
    if comparison.regressions:
        lines.append(f"REGRESSION beyond {tolerance:g}:")
        lines += [f"  {r}" for r in comparison.regressions]
    else:
        lines.append(f"no metric dropped beyond {tolerance:g}")
    return "\n".join(lines)
