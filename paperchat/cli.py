"""The `paperchat` command. Subcommands follow the pipeline: ingest, search, ask, serve, eval.

Domain errors become one line on stderr and an exit code here, at the edge; nothing below
prints or exits.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from paperchat.errors import PaperchatError

app = typer.Typer(
    name="paperchat",
    help="Cited answers from research-paper abstracts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain: "[default: retrieval.mode]" is text, not rich markup.
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _root() -> None:
    """Cited answers from research-paper abstracts."""


def user_errors(fn: F) -> F:
    """Turn paperchat's own errors into a message and an exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PaperchatError as exc:
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(exc.exit_code) from None
        except FileNotFoundError as exc:  # a config file named but missing, say
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def load_settings(**groups: dict[str, Any]) -> Any:
    """Settings from env and config file, with this command's flags on top."""
    from pydantic import ValidationError

    from paperchat.settings import Settings

    try:
        return Settings().with_overrides(**{k: v for k, v in groups.items() if v})
    except ValidationError as exc:
        raise PaperchatError(f"bad configuration: {exc}") from exc


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False))


# Choices of the options that take one: typer lists them in --help and refuses any other value
# with click's one message ("Invalid value for '--mode': ..."), exit 2. They mirror the tuples
# of the modules that use them (tests/test_rag_cli.py checks), without importing those modules
# before a command runs.


class Format(StrEnum):
    auto = "auto"
    daily = "daily"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class Mode(StrEnum):
    hybrid = "hybrid"
    dense = "dense"
    bm25 = "bm25"


class AnswererName(StrEnum):
    extractive = "extractive"
    openai = "openai"
    ollama = "ollama"
    llamacpp = "llamacpp"


class LlmAnswerer(StrEnum):
    openai = "openai"
    ollama = "ollama"
    llamacpp = "llamacpp"


@app.command()
@user_errors
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Files or folders of papers [default: the bundled corpus].")] = None,
    fmt: Annotated[Format, typer.Option(
        "--format", help="How to read the files (auto: by suffix and content).")] = Format.auto,
    rebuild: Annotated[bool, typer.Option(help="Drop the store and build it anew.")] = False,
    prune: Annotated[bool, typer.Option(help="Remove stored papers not in these sources.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 if any record was skipped.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    model: Annotated[str | None, typer.Option(help="Embedding model (name or folder).")] = None,
    device: Annotated[str | None, typer.Option(help="Torch device for embedding.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Texts per embedding batch.")] = None,
    engine: Annotated[str | None, typer.Option(
        help="local, or ray (Ray Data on a Ray cluster) [default: ingest.engine].")] = None,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster: auto, host:port or ray://host:port; none starts a local one "
        "[default: ray.address].")] = None,
    actors: Annotated[int | None, typer.Option(
        min=1, help="Embedding actors on Ray [default: ray.actors].")] = None,
) -> None:
    """Parse papers, chunk and embed them into the store. Re-running embeds only what changed."""
    from paperchat.ingest.pipeline import run_ingest
    from paperchat.ingest.sources import bundled_corpus

    overrides = {k: v for k, v in {"model": model, "device": device, "batch_size": batch_size,
                                   "engine": engine}.items() if v is not None}
    on_ray = {k: v for k, v in {"address": address, "actors": actors}.items() if v is not None}
    settings = load_settings(ingest=overrides, ray=on_ray)
    summary = run_ingest(settings, paths or [bundled_corpus()], fmt=fmt.value,  # type: ignore[arg-type]
                         rebuild=rebuild, prune=prune, progress=None if quiet else _tqdm_progress)
    for problem in summary.problems:
        typer.secho(f"warning: {problem}", fg=typer.colors.YELLOW, err=True)
    if as_json:
        emit_json(summary.as_dict())
    else:
        typer.echo(
            f"{summary.papers} papers from {summary.files} files ({summary.entries} entries): "
            f"{summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
            f"{summary.skipped} skipped, {summary.removed} removed; "
            f"{summary.chunks_written} chunks embedded, {summary.chunks_in_store} in the store at "
            f"{summary.store}; "
            f"{summary.seconds:.1f} s"
        )
    if strict and summary.problems:
        raise typer.Exit(1)


def _tqdm_progress(total: int) -> Any:
    from tqdm import tqdm

    # total 0: not known ahead (the Ray engine decides what to embed as the papers stream by)
    return tqdm(total=total or None, unit="chunk", desc="embedding", file=sys.stderr,
                mininterval=0.5)


@app.command()
@user_errors
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 7860).")] = None,
    share: Annotated[bool, typer.Option(help="Also open a public Gradio link (needs auth).")] = (
        False
    ),
) -> None:
    """Start the web UI, with its API (ask, search) for gradio_client and as MCP tools at
    http://HOST:PORT/gradio_api/mcp/."""
    from paperchat.ui.serve import serve as run_server

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    run_server(load_settings(ui=overrides), share=share)


# -- search and ask: the answer engine --------------------------------------------------------

SourceOpt = Annotated[list[str] | None, typer.Option(
    "--source", help="Only papers from this source file (repeat for several).")]
HasCodeOpt = Annotated[bool, typer.Option("--has-code", help="Only papers with a code link.")]
DateFromOpt = Annotated[str, typer.Option(help="Only papers dated on/after (ISO prefix).")]
DateToOpt = Annotated[str, typer.Option(help="Only papers dated on/before (ISO prefix).")]
AuthorOpt = Annotated[str, typer.Option(help="Only papers with an author containing this.")]
CategoryOpt = Annotated[str, typer.Option(help="Only papers in this category (e.g. cs.CL).")]
KOpt = Annotated[int | None, typer.Option("-k", "--top-k", min=1, max=50,
                                          help="Papers to retrieve [default: retrieval.top_k].")]
ModeOpt = Annotated[Mode | None, typer.Option(
    help="Retriever [default: retrieval.mode].", show_default=False)]
BatchOpt = Annotated[Path | None, typer.Option(
    "--batch", help="File with one question per line (or JSONL with a 'question' field); "
    "prints one JSON object per line.")]


def _filters(source: list[str] | None, has_code: bool, date_from: str, date_to: str,
             author: str, category: str) -> Any:
    from paperchat.rag.types import Filters

    return Filters(sources=tuple(source or ()), has_code=True if has_code else None,
                   date_from=date_from, date_to=date_to, author=author, category=category)


def _engine_settings(mode: Mode | None, answerer: AnswererName | None = None) -> Any:
    return load_settings(retrieval={"mode": mode.value} if mode else {},
                         answer={"answerer": answerer.value} if answerer else {})


def _questions(text: str | None, batch: Path | None) -> list[str]:
    """The questions of a --batch file (plain lines or JSONL), or the one given."""
    if batch is None:
        if text is None:
            raise typer.BadParameter("give a question, or --batch FILE")
        return [text]
    if not batch.is_file():
        raise typer.BadParameter(f"no such file: {batch}")
    out = []
    for n, line in enumerate(batch.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                line = str(json.loads(line)["question"])
            except (ValueError, KeyError, TypeError) as exc:
                raise typer.BadParameter(
                    f"{batch}:{n}: not JSON with a 'question' field ({exc})") from exc
        out.append(line)
    return out


@app.command()
@user_errors
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    batch: BatchOpt = None,
    k: KOpt = None,
    mode: ModeOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    source: SourceOpt = None,
    has_code: HasCodeOpt = False,
    date_from: DateFromOpt = "",
    date_to: DateToOpt = "",
    author: AuthorOpt = "",
    category: CategoryOpt = "",
) -> None:
    """List the papers that best match a query, with their retrieval scores."""
    from paperchat.errors import BadQuestion
    from paperchat.rag.engine import Engine

    engine = Engine(_engine_settings(mode))
    filters = _filters(source, has_code, date_from, date_to, author, category)
    for q in _questions(query, batch):
        try:
            papers = engine.search(q, k=k, filters=filters)
        except BadQuestion as exc:
            if batch is None:
                raise
            emit_json({"query": q, "error": str(exc)})
            continue
        if as_json or batch is not None:
            emit_json({"query": q, "results": [
                {"rank": p.rank, "paper_id": p.paper_id, "title": p.title, "score": p.score}
                for p in papers]})
        elif not papers:
            typer.echo("No papers match.")
        else:
            for p in papers:
                typer.echo(f"{p.rank:>2}. {p.score:.4f}  {p.title}  ({p.paper_id})")


@app.command()
@user_errors
def ask(
    question: Annotated[str | None, typer.Argument(help="Your question.")] = None,
    batch: BatchOpt = None,
    answerer: Annotated[AnswererName | None, typer.Option(
        help="Who writes the answer [default: answer.answerer].", show_default=False)] = None,
    k: KOpt = None,
    mode: ModeOpt = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the answer as one JSON object.")] = False,
    source: SourceOpt = None,
    has_code: HasCodeOpt = False,
    date_from: DateFromOpt = "",
    date_to: DateToOpt = "",
    author: AuthorOpt = "",
    category: CategoryOpt = "",
) -> None:
    """Answer a question from the papers, citing them as [1], [2]."""
    from paperchat.errors import BadQuestion
    from paperchat.rag.engine import Engine
    from paperchat.rag.types import Answer

    engine = Engine(_engine_settings(mode, answerer))
    filters = _filters(source, has_code, date_from, date_to, author, category)
    for q in _questions(question, batch):
        if as_json or batch is not None:
            try:
                answer = engine.answer(q, filters=filters, k=k)
            except BadQuestion as exc:
                if batch is None:
                    raise
                emit_json({"question": q, "error": str(exc)})
                continue
            data = answer.as_dict()
            emit_json({"question": q, **data} if batch is not None else data)
            continue
        final: Answer | None = None
        for item in engine.stream(q, filters=filters, k=k):
            if isinstance(item, Answer):
                final = item
            else:
                typer.echo(item, nl=False)
        assert final is not None
        typer.echo("")
        _print_sources(final)


_VERDICT_MARK = {"supported": "✓", "corrected": "~", "added": "+", "unsupported": "✗"}


def _print_sources(answer: Any) -> None:
    for notice in answer.notices:
        typer.secho(f"note: {notice}", fg=typer.colors.YELLOW, err=True)
    if answer.sentences:  # an LLM answer: each sentence with its verdict, as checked
        typer.echo("\nChecked, sentence by sentence:")
        for s in answer.sentences:
            marks = "".join(f"[{n}]" for n in s.cites)
            why = f"  ({s.reason})" if s.reason else ""
            typer.secho(f"  {_VERDICT_MARK[s.verdict]} {s.verdict:<11} {marks:<6} {s.text}{why}",
                        fg=typer.colors.YELLOW if s.verdict == "unsupported" else None)
    else:
        for flag in answer.flags:
            typer.secho(f"flagged ({flag.reason}): {flag.sentence}", fg=typer.colors.YELLOW,
                        err=True)
    if answer.citations:
        typer.echo("\nSources:")
        for c in answer.citations:
            link = f"  {c.urls[0]}" if c.urls else ""
            typer.echo(f"[{c.n}] {c.title} ({c.paper_id}){link}")


eval_app = typer.Typer(help="Score our system and the BM25 and dense baselines on an eval set.")
app.add_typer(eval_app, name="eval")


@eval_app.callback(invoke_without_command=True)
@user_errors
def eval_run(
    ctx: typer.Context,
    split: Annotated[str, typer.Option(
        help="test (for reporting), dev (for tuning: calibrate thresholds on it, never on "
        "test), or a .jsonl file.")] = "test",
    out: Annotated[Path | None, typer.Option(
        help="Report folder (default: <home>/eval/<timestamp>/; <home>/eval/latest/ is "
        "refreshed either way).")] = None,
    systems: Annotated[str, typer.Option(help="Comma-separated retrieval modes to run.")] = (
        "hybrid,bm25,dense"),
    judge: Annotated[str | None, typer.Option(
        help="LLM judge: PROVIDER[:MODEL] (openai, ollama, llamacpp), or 'off'. Default: the "
        "answerer when it is an LLM, else none.")] = None,
    support: Annotated[str, typer.Option(
        help="Citation support judge: embedding[:THRESHOLD], nli:MODEL_FOLDER or llm.")] = (
        "embedding"),
    answerer: Annotated[LlmAnswerer | None, typer.Option(
        help="Also answer each question with this LLM answerer and compare it with the "
        "extractive one in the report.", show_default=False)] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Only N questions (each type in turn, to keep the mix).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Run every system over a split (test by default); write report.md, results.jsonl, plots
    and metadata; say which split ran."""
    if ctx.invoked_subcommand is not None:
        return
    from datetime import datetime

    from paperchat.eval.answerers import limit_questions
    from paperchat.eval.dataset import load_dataset
    from paperchat.eval.judge import make_judge
    from paperchat.eval.report import summarize, write_report
    from paperchat.eval.run import run_eval

    chosen = _eval_systems(systems)
    settings = load_settings(answer={"answerer": "extractive"} if answerer else {})
    dataset = limit_questions(load_dataset(split), limit)
    typer.echo(f"eval on split {split}: {len(dataset)} questions from {dataset.path}", err=True)
    root = settings.home / "eval"
    folder = out or root / datetime.now().strftime("%Y%m%d-%H%M%S")
    compared_rows = [] if answerer is None else _compare_answerers(  # first: the long part
        settings, dataset, answerer.value, folder, quiet)
    bar = _progress_bar(len(dataset) * len(chosen), "question", "eval", quiet)
    run = run_eval(settings, dataset, systems=chosen, support=support,
                   judge=make_judge(settings, judge),
                   progress=(lambda *_: bar.update(1)) if bar is not None else None)
    run.answerers = compared_rows
    if bar is not None:
        bar.close()
    report = write_report(run, folder, latest=root / "latest")
    if run.config.get("judge_error"):
        typer.secho(f"warning: LLM judge failed: {run.config['judge_error']}",
                    fg=typer.colors.YELLOW, err=True)
    _print_eval(split, len(dataset), report, chosen, summarize(run.results), as_json)


def _eval_systems(systems: str) -> list[str]:
    from paperchat.eval.run import SYSTEMS

    chosen = [s.strip() for s in systems.split(",") if s.strip()]
    if not chosen or any(s not in SYSTEMS for s in chosen):
        raise typer.BadParameter(f"takes some of {', '.join(SYSTEMS)}", param_hint="'--systems'")
    return chosen


def _progress_bar(total: int, unit: str, desc: str, quiet: bool) -> Any:
    if quiet:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, disable=None)


def _compare_answerers(settings: Any, dataset: Any, answerer: str, folder: Path,
                       quiet: bool) -> list[Any]:
    """Every question answered by the extractive answerer and by ``answerer``; rows are logged
    to answerers.partial.jsonl as they come."""
    from paperchat.eval.answerers import run_answerers

    compared = ("extractive", answerer)
    bar = _progress_bar(len(dataset) * len(compared), "answer", "answerers", quiet)
    rows = run_answerers(settings, dataset, compared,
                         progress=(lambda *_: bar.update(1)) if bar is not None else None,
                         log=folder / "answerers.partial.jsonl")
    if bar is not None:
        bar.close()
    return rows


def _print_eval(split: str, n: int, report: Path, systems: list[str],
                summary: dict[str, Any], as_json: bool) -> None:
    from paperchat.eval.report import HEADLINE
    from paperchat.eval.run import METRICS

    if as_json:
        emit_json({"split": split, "questions": n, "report": str(report), "summary": summary})
        return
    typer.echo(f"split {split}: {n} questions; report at {report}")
    typer.echo(f"{'':8}" + "".join(f"{METRICS[m]:>17}" for m in HEADLINE))
    for system in systems:
        stats = summary.get(system, {})
        typer.echo(f"{system:8}" + "".join(
            f"{stats[m]['mean']:>17.3f}" if m in stats else f"{'–':>17}" for m in HEADLINE))


@eval_app.command("compare")
@user_errors
def eval_compare(
    before: Annotated[Path, typer.Argument(help="Run folder A (the baseline).")],
    after: Annotated[Path, typer.Argument(help="Run folder B (the change).")],
    tolerance: Annotated[float, typer.Option(
        help="Largest drop of a mean allowed before exiting 1.")] = 0.02,
    gate: Annotated[str, typer.Option(help="Comma-separated systems whose drops fail.")] = (
        "hybrid"),
) -> None:
    """List per-question flips from A to B; exit 1 when a metric drops beyond the tolerance."""
    from paperchat.eval.compare import compare, load_results, render

    old, old_meta = load_results(before)
    new, new_meta = load_results(after)
    old_sha = old_meta.get("dataset", {}).get("sha256")
    new_sha = new_meta.get("dataset", {}).get("sha256")
    if old_sha and new_sha and old_sha != new_sha:
        typer.secho("warning: the two runs used different eval sets", fg=typer.colors.YELLOW,
                    err=True)
    result = compare(old, new, tolerance=tolerance,
                     gate=tuple(s.strip() for s in gate.split(",") if s.strip()))
    typer.echo(render(result, tolerance))
    if result.failed:
        raise typer.Exit(1)


@eval_app.command("recheck")
@user_errors
def eval_recheck(
    run: Annotated[Path, typer.Argument(help="A run folder holding answerers.jsonl.")],
    split: Annotated[str, typer.Option(help="The split the run used (dev, test or a file).")] = (
        "dev"),
) -> None:
    """Judge a run's LLM answers again, sentence by sentence, with the current support settings
    (after a recalibration); writes answerers-rechecked.jsonl and .md beside the run's."""
    from paperchat.eval.answerers import comparison_markdown, load_rows, recheck
    from paperchat.eval.dataset import load_dataset
    from paperchat.rag.engine import Engine
    from paperchat.rag.support import SupportChecker

    source = run / "answerers.jsonl"
    if not source.is_file():  # a run still going (or stopped): what it answered so far
        source = run / "answerers.partial.jsonl"
    if not source.is_file():
        raise PaperchatError(f"No answerers.jsonl in {run}: run `paperchat eval --answerer ...`")
    settings = load_settings()
    engine = Engine(settings)
    a = settings.answer
    rows = load_rows(source)
    llm = {r.id for r in rows if r.answerer != "extractive"}
    rows = [r for r in rows if r.id in llm]  # the questions both answerers got to
    rows = recheck(rows, load_dataset(split), engine.papers(),
                   SupportChecker(engine.bank, a.support_threshold, a.support_number_margin))
    with (run / "answerers-rechecked.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
    table = "\n".join(comparison_markdown(rows))
    (run / "answerers-rechecked.md").write_text(
        f"Rechecked with support_threshold {a.support_threshold}.\n\n{table}", encoding="utf-8")
    typer.echo(table)


@eval_app.command("support")
@user_errors
def eval_support(
    labels: Annotated[Path | None, typer.Option(
        help="Hand-labelled LLM sentences [default: eval/datasets/llm_sentences.jsonl].")] = None,
    low: Annotated[float, typer.Option(help="Lowest threshold tried.")] = 0.35,
    high: Annotated[float, typer.Option(help="Highest threshold tried.")] = 0.8,
    step: Annotated[float, typer.Option(help="Threshold step.")] = 0.025,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
) -> None:
    """Calibrate the LLM answers' support check: precision and recall of "unsupported" per
    threshold, on hand-labelled sentences."""
    from paperchat.eval.support import LABELS, calibrate, load_labels
    from paperchat.rag.engine import Engine

    settings = load_settings()
    engine = Engine(settings)
    items = load_labels(labels or LABELS)
    steps = round((high - low) / step) + 1
    result = calibrate(items, engine.papers(), engine.bank,
                       [round(low + i * step, 4) for i in range(steps)],
                       settings.answer.support_number_margin)
    if as_json:
        emit_json({"labelled": result.labelled, "unsupported": result.unsupported,
                   "best": result.best, "rows": result.rows})
        return
    typer.echo(f"{result.labelled} labelled sentences, {result.unsupported} unsupported; "
               f"'unsupported' verdict per threshold (now {settings.answer.support_threshold}):")
    typer.echo("threshold  precision  recall     F1  accuracy  flagged")
    for r in result.rows:
        mark = "  <- best F1" if r is result.best else ""
        typer.echo(f"{r['threshold']:>9.3f}  {r['precision']:>9.3f}  {r['recall']:>6.3f}  "
                   f"{r['f1']:>5.3f}  {r['accuracy']:>8.3f}  {int(r['flagged']):>7}{mark}")


@eval_app.command("calibrate")
@user_errors
def eval_calibrate(
    split: Annotated[str, typer.Option(help="The split to fit on: dev (never test).")] = "dev",
    out: Annotated[Path | None, typer.Option(
        help="Where to write the model (default: rag/answerability_model.json of this "
        "checkout).")] = None,
) -> None:
    """Fit the answerability model (answered / declined) on an eval split's questions."""
    from paperchat.eval.calibrate import collect, fit, write
    from paperchat.eval.dataset import load_dataset

    settings = load_settings()
    samples = collect(settings, load_dataset(split))
    model = fit(samples)
    target = out or Path(__file__).resolve().parent.parent / "rag" / "answerability_model.json"
    write(model, target)
    typer.echo(f"fitted on {len(samples)} questions of {split}; wrote {target}")
    emit_json(model["info"] | {"threshold": model["threshold"],
                               "hedge_threshold": model["hedge_threshold"],
                               "coef": dict(zip(model["features"], model["coef"], strict=True))})


@eval_app.command("suites")
@user_errors
def eval_suites(
    as_json: Annotated[bool, typer.Option("--json", help="Print rates and failures as JSON.")
                       ] = False,
) -> None:
    """Run the generated answerability suites (named papers, pairs, absent names)."""
    from paperchat.eval import suites
    from paperchat.rag.engine import Engine

    engine = Engine(load_settings())
    analyzer = engine.analyzer()
    outcomes = suites.run(engine, suites.build(analyzer.papers, analyzer.names))
    rates = suites.pass_rates(outcomes)
    failed = [{"suite": o.case.suite, "question": o.case.question, "why": o.why,
               "coverage": o.coverage, "missing": o.missing} for o in outcomes if not o.passed]
    if as_json:
        emit_json({"pass_rates": rates, "failures": failed})
        return
    for suite, rate in rates.items():
        typer.echo(f"{suite:7} {rate['cases']:5} cases  passed {rate['passed']:.3f}")
    for f in failed:
        typer.echo(f"  FAIL {f['suite']}: {f['question']!r}: {f['why']}")


@app.command()
@user_errors
def bench(
    sizes: Annotated[str, typer.Option(
        help="Also time synthetic corpora of these sizes, comma-separated (e.g. 10000,100000: "
        "tens of minutes). Default: only the bundled 624 papers.")] = "",
    questions: Annotated[int, typer.Option(min=1, help="Eval questions timed per corpus.")] = 40,
    out: Annotated[Path, typer.Option(help="Folder for results.json and plots.")] = Path(
        "benchmarks"),
    work: Annotated[Path | None, typer.Option(
        help="Scratch folder for the stores it builds [default: <home>/bench].",
        show_default=False)] = None,
    llamaindex: Annotated[bool, typer.Option(
        help="Also time llama-index's default pipeline.")] = True,
    write: Annotated[bool, typer.Option(
        "--write", help="Rewrite the results section of BENCHMARKS.md with this run.")] = False,
) -> None:
    """Measure ingest, latency, cold start and memory on the bundled corpus (and scale with
    --sizes); prints the results as JSON, and updates BENCHMARKS.md with --write."""
    from paperchat.eval import bench as benchmarks

    size_list = _sizes(sizes)
    folder = work or load_settings().home / "bench"
    doc = benchmarks.ROOT / "BENCHMARKS.md" if write else None
    results = benchmarks.run(size_list, questions, out, folder, with_llamaindex=llamaindex,
                             doc=doc)
    emit_json(results)
    if doc is not None:
        typer.echo(f"wrote {doc}", err=True)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a comma-separated list of numbers",
                                 param_hint="'--sizes'") from None
    if any(size <= 624 for size in sizes):
        raise typer.BadParameter("sizes are synthetic corpora larger than the bundled 624 "
                                 "papers", param_hint="'--sizes'")
    return sizes


def main() -> None:
    # Models are read from installed packages and local folders; never wait on a hub that the
    # machine cannot reach.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    app()


if __name__ == "__main__":
    main()
