"""Reports of an eval run: report.md, results.jsonl, summary.json, meta.json and PNG plots.

``write_report`` fills a run folder and refreshes ``<home>/eval/latest/`` from it, which is where
the UI's Eval tab reads report.md and the plots.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from paperchat.eval import answerability_report
from paperchat.eval import metrics as m
from paperchat.eval.run import (
    ANSWER_METRICS,
    JUDGE_METRICS,
    METRICS,
    RETRIEVAL_METRICS,
    EvalRun,
    QuestionResult,
)

HEADLINE = ("hit@5", "mrr", "ndcg@10", "refusal_accuracy", "citation_support", "key_fact_recall")
REPO = Path(__file__).resolve().parent.parent


def summarize(results: Iterable[QuestionResult]) -> dict[str, dict[str, Any]]:
    """Per system and metric: mean, 95% bootstrap interval and count; latency percentiles."""
    by_system: dict[str, list[QuestionResult]] = {}
    for r in results:
        by_system.setdefault(r.system, []).append(r)
    summary: dict[str, dict[str, Any]] = {}
    for system, rows in by_system.items():
        stats: dict[str, Any] = {}
        for name in METRICS:
            values = [r.metrics.get(name) for r in rows]
            if m.present(values):
                stats[name] = {"mean": m.mean(values), "ci": m.bootstrap_ci(values),
                               "n": len(m.present(values))}
        for stage in ("answer_seconds", "search_seconds"):
            values = [getattr(r, stage) for r in rows]
            if m.present(values):
                stats[stage] = {"p50": m.percentile(values, 50), "p95": m.percentile(values, 95)}
        summary[system] = stats
    return summary


def write_report(run: EvalRun, out: Path, latest: Path | None = None) -> Path:
    """Write the run into ``out`` (created) and mirror it to ``latest``; returns report.md."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(run.results)
    meta = run_metadata(run)
    with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for r in run.results:
            fh.write(json.dumps(r.as_dict(), ensure_ascii=False) + "\n")
    if run.answerers:
        from paperchat.eval.answerers import summarize_answerers

        with (out / "answerers.jsonl").open("w", encoding="utf-8") as fh:
            for row in run.answerers:
                fh.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
        (out / "answerers.json").write_text(
            json.dumps(summarize_answerers(run.answerers), indent=2), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (out / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    plot_metrics(summary, run.systems, out / "metrics.png")
    plot_latency(run, out / "latency.png")
    answerability_report.plot_calibration(run, out / "calibration.png")
    report = out / "report.md"
    report.write_text(render_markdown(run, summary, meta), encoding="utf-8")
    if latest is not None:
        refresh_latest(out, latest)
    return report


def refresh_latest(out: Path, latest: Path) -> None:
    """Replace ``latest`` by a copy of ``out``. The copy is finished before two renames swap it
    in, so a reader (the UI's Eval tab) never sees a half-written report."""
    staging, old = latest.with_name(latest.name + ".new"), latest.with_name(latest.name + ".old")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    shutil.copytree(out, staging)
    if latest.exists():
        latest.rename(old)
    staging.rename(latest)
    shutil.rmtree(old, ignore_errors=True)


def run_metadata(run: EvalRun) -> dict[str, Any]:
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_sha": _git("rev-parse", "HEAD") or "unknown",
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "dataset": {"name": run.dataset.name, "path": str(run.dataset.path),
                    "sha256": run.dataset.sha256, "questions": len(run.dataset)},
        "config": run.config,
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in
                     ("llama-index-core", "sentence-transformers", "chromadb", "bm25s")},
    }


# -- markdown ----------------------------------------------------------------------------------


def render_markdown(run: EvalRun, summary: dict[str, dict[str, Any]], meta: dict[str, Any]) -> str:
    systems = run.systems
    ds = meta["dataset"]
    config = run.config
    lines = [
        f"# paperchat eval: `{ds['name']}`",
        "",
        f"{ds['questions']} questions · dataset sha256 `{ds['sha256'][:16]}` · "
        f"git `{meta['git_sha'][:12]}`{' (dirty)' if meta['git_dirty'] else ''} · "
        f"{meta['created']}",
        "",
        f"Systems: {', '.join(_system_label(s) for s in systems)}. Retrieval metrics are "
        f"paper-level over the top {config['retrieve_k']}; answers by the "
        f"`{config['settings']['answer']['answerer']}` answerer; citation support judged by "
        f"`{config['support']}`; LLM judge: "
        f"{'`' + config['judge'] + '`' if config.get('judge') else 'none (offline run)'}.",
        "",
    ]
    if config.get("judge_error"):
        lines += [f"**The LLM judge failed:** {config['judge_error']}", ""]
    lines += ["## Aggregate (mean, bootstrap 95% interval)", ""]
    lines += _aggregate_table(summary, systems)
    if run.answerers:
        from paperchat.eval.answerers import comparison_markdown

        lines += ["", *comparison_markdown(run.answerers)]
    lines += ["", "## By question type", ""]
    lines += _type_table(run, systems)
    lines += ["", "## Answers by question type (ours, answered questions)", "",
              "Key facts, words and citations of our answers; beside them the whole abstract "
              "of the top retrieved paper (a baseline to beat on key facts with fewer words) "
              "and the oracle extract (gold-abstract sentences picked for the key facts in as "
              "many words as ours: the ceiling of extraction).", ""]
    lines += answer_type_table(run.of(systems[0]), [q.type for q in run.dataset.questions])
    lines += ["", "By the shape the answer took (answered questions of every type; a single-paper "
              "answer is `one_paper`):", ""]
    lines += answer_shape_table(run.of(systems[0]))
    lines += ["", *answerability_report.markdown(run)]
    lines += ["", "## Per question", "",
              "✗ marks a miss: no gold paper in the top 5, or a wrong refusal. Ranks are the "
              "first gold paper's rank in the top 10 (– none).", ""]
    lines += _question_table(run, systems)
    errors = [r for r in run.results if r.error]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {r.system} {r.id}: {r.error}" for r in errors]
    lines += ["", "![metrics per system](metrics.png)", "", "![latency](latency.png)", ""]
    return "\n".join(lines)


def _aggregate_table(summary: dict[str, dict[str, Any]], systems: list[str]) -> list[str]:
    rows = [_row(["metric", *(_system_label(s) for s in systems)]),
            _row(["---"] * (len(systems) + 1))]
    for name, label in METRICS.items():
        if not any(name in summary.get(s, {}) for s in systems):
            continue
        means = {s: summary[s][name]["mean"] for s in systems if name in summary.get(s, {})}
        best = max(means.values())
        cells = []
        for s in systems:
            stat = summary.get(s, {}).get(name)
            if stat is None:
                cells.append("–")
                continue
            low, high = stat["ci"]
            text = f"{stat['mean']:.3f} [{low:.2f}, {high:.2f}]"
            cells.append(f"**{text}**" if len(means) > 1 and stat["mean"] == best else text)
        rows.append(_row([label, *cells]))
    for stage, label in (("answer_seconds", "answer"), ("search_seconds", "search")):
        if any(stage in summary.get(s, {}) for s in systems):
            cells = [_latency(summary[s][stage]) if stage in summary.get(s, {}) else "–"
                     for s in systems]
            rows.append(_row([f"{label} latency p50 / p95", *cells]))
    return rows


def _latency(stat: dict[str, float]) -> str:
    return f"{stat['p50'] * 1000:.0f} / {stat['p95'] * 1000:.0f} ms"


def _type_table(run: EvalRun, systems: list[str]) -> list[str]:
    shown = ("hit@5", "mrr", "refusal_accuracy", "key_fact_recall")
    header = ["type", "n", *(f"{_system_label(s)}: {' / '.join(METRICS[n] for n in shown)}"
                             for s in systems)]
    rows = [_row(header), _row(["---"] * len(header))]
    types = list(dict.fromkeys(q.type for q in run.dataset.questions))
    for qtype in types:
        cells = []
        for s in systems:
            picked = [r for r in run.of(s) if r.type == qtype]
            cells.append(" / ".join(_fmt(m.mean([r.metrics.get(n) for r in picked]))
                                    for n in shown))
        n = sum(q.type == qtype for q in run.dataset.questions)
        rows.append(_row([qtype, str(n), *cells]))
    return rows


ANSWER_COLUMNS = (
    ("key_fact_recall", "key facts", "{:.2f}"), ("words", "words", "{:.0f}"),
    ("citation_precision", "cit. precision", "{:.2f}"),
    ("citation_recall", "cit. recall", "{:.2f}"), ("faithful", "faithful", "{:.2f}"),
    ("baseline_key_fact_recall", "top abstract: key facts", "{:.2f}"),
    ("baseline_words", "top abstract: words", "{:.0f}"),
    ("oracle_key_fact_recall", "oracle: key facts", "{:.2f}"),
    ("oracle_words", "oracle: words", "{:.0f}"),
)


def answer_type_table(results: list[QuestionResult], types: list[str]) -> list[str]:
    """Per question type (and all answerable ones): our answers' key facts, words, citation
    precision and recall, faithfulness, and the two reference answers."""
    answered = [r for r in results if r.answerable and r.refused is False]
    groups = [(t, [r for r in answered if r.type == t]) for t in dict.fromkeys(types)]
    groups.append(("all answerable", answered))
    return _answer_rows(groups, "type")


def _answer_rows(groups: list[tuple[str, list[QuestionResult]]], first: str) -> list[str]:
    header = [first, "n", *(label for _, label, _ in ANSWER_COLUMNS)]
    rows = [_row(header), _row(["---"] * len(header))]
    for name, picked in groups:
        if not picked:
            continue
        cells = []
        for key, _, form in ANSWER_COLUMNS:
            value = m.mean([r.metrics.get(key) for r in picked])
            cells.append("–" if value is None else form.format(value))
        rows.append(_row([name, str(len(picked)), *cells]))
    return rows


def answer_shape_table(results: list[QuestionResult]) -> list[str]:
    """The columns of ``answer_type_table`` per answer shape (one paper, survey, comparison,
    open), over the answerable questions answered."""
    answered = [r for r in results if r.answerable and r.refused is False and r.shape]
    shapes = [s for s in ("one_paper", "survey", "comparison", "open")
              if any(r.shape == s for r in answered)]
    return _answer_rows([(s, [r for r in answered if r.shape == s]) for s in shapes], "shape")


def _question_table(run: EvalRun, systems: list[str]) -> list[str]:
    header = ["id", "type", "question", *(f"{_system_label(s)} rank" for s in systems),
              f"{_system_label(systems[0])} answer"]
    rows = [_row(header), _row(["---"] * len(header))]
    by_key = {(r.system, r.id): r for r in run.results}
    for q in run.dataset.questions:
        cells = [q.id, q.type, _short(q.question, 70)]
        for s in systems:
            r = by_key[(s, q.id)]
            cells.append(_rank_cell(r))
        cells.append(_answer_cell(by_key[(systems[0], q.id)]))
        rows.append(_row(cells))
    return rows


def _rank_cell(r: QuestionResult) -> str:
    if not r.gold:
        return "n/a"
    rank = next((i for i, pid in enumerate(r.retrieved, start=1) if pid in set(r.gold)), None)
    text = str(rank) if rank else "–"
    return f"{text} ✗" if r.metrics.get("hit@5") == 0.0 else text


def _answer_cell(r: QuestionResult) -> str:
    if r.error:
        return "error ✗"
    if r.refused is None:
        return "–"
    wrong = r.metrics.get("refusal_accuracy") == 0.0
    if r.refused:
        text = "declined"
    else:
        facts = r.metrics.get("key_fact_recall")
        support = r.metrics.get("citation_support")
        text = (r.coverage or "answered") + \
            (f", facts {facts:.2f}" if facts is not None else "") + \
            (f", support {support:.2f}" if support is not None else "")
    return f"{text} ✗" if wrong else text


def _system_label(system: str) -> str:
    return f"{system} (ours)" if system == "hybrid" else system


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- plots -------------------------------------------------------------------------------------


def plot_metrics(summary: dict[str, dict[str, Any]], systems: list[str], path: Path) -> None:
    """Grouped bars: the headline metrics, one bar per system, with 95% interval whiskers."""
    plt = _pyplot()
    names = [n for n in (*RETRIEVAL_METRICS, *ANSWER_METRICS, *JUDGE_METRICS)
             if n not in ("correctness", "words") and any(n in summary.get(s, {}) for s in systems)]
    fig, ax = plt.subplots(figsize=(max(8, len(names) * 0.9), 4.5))
    width = 0.8 / max(len(systems), 1)
    for i, s in enumerate(systems):
        stats = summary.get(s, {})
        xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(names))]
        means = [stats[n]["mean"] if n in stats else 0.0 for n in names]
        errs = [[max(0.0, stats[n]["mean"] - stats[n]["ci"][0]) if n in stats else 0.0
                 for n in names],
                [max(0.0, stats[n]["ci"][1] - stats[n]["mean"]) if n in stats else 0.0
                 for n in names]]
        ax.bar(xs, means, width, yerr=errs, capsize=2, label=_system_label(s))
    ax.set_xticks(range(len(names)), [METRICS[n] for n in names], rotation=35, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean (95% CI)")
    ax.set_title("Metrics per system")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_latency(run: EvalRun, path: Path) -> None:
    """Histogram of answer latency (search latency where no answers were made), per system."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    millis = {}
    for s in run.systems:
        rows = run.of(s)
        seconds = m.present([r.answer_seconds for r in rows]) or \
            m.present([r.search_seconds for r in rows])
        millis[s] = [x * 1000 for x in seconds]
    everything = [x for xs in millis.values() for x in xs] or [0.0]
    bins = list(np.linspace(0, max(everything) * 1.01 + 1, 25))
    for s, xs in millis.items():
        if xs:  # outlines, so that the systems' histograms stay readable where they overlap
            ax.hist(xs, bins=bins, histtype="step", linewidth=1.8, label=_system_label(s))
    ax.set_xlabel("latency per question (ms)")
    ax.set_ylabel("questions")
    ax.set_title("Answer latency")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never open a window or need a display
    import matplotlib.pyplot as plt

    return plt


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"
