"""`paperchat bench`: ingest against its raw limit and against llama-index, latency, cold start,
memory, and scale runs at 10k and 100k synthetic papers. Writes benchmarks/results.json, a PNG of
latency versus corpus size, and the results section of BENCHMARKS.md.

Run it on an otherwise idle machine: every figure is wall-clock time.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from paperchat.errors import PaperchatError
from paperchat.ingest.chunking import Chunker
from paperchat.ingest.pipeline import run_ingest
from paperchat.ingest.sources import collect
from paperchat.ingest.store import PaperStore
from paperchat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
DATASETS = Path(__file__).resolve().parent / "datasets"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p95_ms": round(float(np.percentile(ms, 95)), 1),
        "n": len(ms),
    }


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def questions(limit: int) -> list[str]:
    out = []
    for name in ("dev.jsonl", "test.jsonl"):
        with open(DATASETS / name, encoding="utf-8") as fh:
            out += [json.loads(line)["question"] for line in fh if line.strip()]
    return out[:limit]


# -- ingest ---------------------------------------------------------------------------------------


def bench_ingest(work: Path, with_llamaindex: bool = True) -> dict[str, Any]:
    from paperchat.ingest.embedder import Embedder

    # A first ingest into an empty store (no Chroma client has opened it yet in this process).
    shutil.rmtree(work / "ours", ignore_errors=True)
    settings = Settings(home=work / "ours")
    embedder = settings.embedder
    load_s = timed(lambda: embedder.model)  # the torch model: the raw baseline runs on it
    # One-time cost per machine and model, like the model download it replaces: export the
    # graph into an empty cache folder, load it and check it against torch.
    shutil.rmtree(work / "onnx-export", ignore_errors=True)
    fresh = Embedder(settings.ingest.model, cache_dir=work / "onnx-export")
    export_s = timed(lambda: fresh.onnx)
    papers = collect([DATA]).papers
    chunker = Chunker(embedder, embedder.max_tokens, settings.ingest.chunk_overlap)
    texts = [c.embed_text for p in papers for c in chunker.chunk(p)]
    embedder.embed(texts[:64])  # warm-up: first batches pay one-off allocation costs
    embedder.model.encode(texts[:64])

    # The raw limit: sentence-transformers' own encode, default batch size, same texts.
    raw_s = timed(lambda: embedder.model.encode(texts, normalize_embeddings=True))
    ours_encode_s = timed(lambda: embedder.embed(texts))
    ours_s = timed(lambda: run_ingest(settings, [DATA]))
    reingest_s = timed(lambda: run_ingest(settings, [DATA]))
    # The opt-in int8 graph: another store, since its vectors differ.
    int8 = Settings(home=work / "ours-int8").with_overrides(ingest={"backend": "onnx-int8"})
    int8.embedder.embed(texts[:64])
    int8_s = timed(lambda: run_ingest(int8, [DATA], rebuild=True))
    out: dict[str, Any] = {
        "papers": len(papers),
        "chunks": len(texts),
        "backend": embedder.backend_name,
        "batch_size": settings.ingest.batch_size,
        "model_load_s": round(load_s, 2),
        "onnx_export_once_s": round(export_s, 2),
        "raw_encode_s": round(raw_s, 2),
        "ours_encode_only_s": round(ours_encode_s, 2),
        "ours_s": round(ours_s, 2),
        "ratio_ours_to_raw": round(ours_s / raw_s, 3),
        "reingest_unchanged_s": round(reingest_s, 2),
        "ours_int8_s": round(int8_s, 2),
        "ratio_int8_to_raw": round(int8_s / raw_s, 3),
        "raw_chunks_per_s": round(len(texts) / raw_s, 1),
        "ours_chunks_per_s": round(len(texts) / ours_encode_s, 1),
    }
    if with_llamaindex:
        li_s = _llamaindex_default(papers, embedder.source, work / "llamaindex")
        out["llamaindex_default_s"] = round(li_s, 2)
        out["ratio_ours_to_llamaindex"] = round(ours_s / li_s, 3)
    return out


def _llamaindex_default(papers: list[Any], model_path: str, folder: Path) -> float:
    """llama-index's default pipeline: VectorStoreIndex.from_documents over ChromaVectorStore."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Document, StorageContext, VectorStoreIndex

    try:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.vector_stores.chroma import ChromaVectorStore
    except ImportError as exc:
        raise PaperchatError(
            f"Timing llama-index's pipeline needs the bench extra ({exc.name} is missing): "
            "pip install 'paperchat[bench]', or run the bench with --no-llamaindex."
        ) from exc

    shutil.rmtree(folder, ignore_errors=True)
    client = chromadb.PersistentClient(
        path=str(folder), settings=ChromaSettings(anonymized_telemetry=False)
    )
    collection = client.create_collection("llamaindex", embedding_function=None)
    embed = HuggingFaceEmbedding(model_name=model_path, device="cpu")
    embed.get_text_embedding("warm up")
    docs = [Document(text=f"{p.title}\n{p.abstract}") for p in papers]
    storage = StorageContext.from_defaults(
        vector_store=ChromaVectorStore(chroma_collection=collection)
    )
    return timed(
        lambda: VectorStoreIndex.from_documents(docs, storage_context=storage, embed_model=embed)
    )


# -- latency, cold start, memory ------------------------------------------------------------------


def bench_latency(settings: Settings, qs: Sequence[str]) -> dict[str, Any]:
    """Search, then each question answered twice: first sight, on a cold cache (its papers'
    sentences, roles and vectors are read from the store, where ingest wrote them) and warm
    (in the engine's memory)."""
    from paperchat.rag.engine import Engine

    shutil.rmtree(settings.sentences_dir, ignore_errors=True)
    engine = Engine(settings)
    for q in qs[:3]:
        engine.search(q)  # loads the model, the store and the BM25 index
    search = [timed(lambda q=q: engine.search(q)) for q in qs]
    first = [timed(lambda q=q: engine.answer(q)) for q in qs]
    warm = [timed(lambda q=q: engine.answer(q)) for q in qs]
    return {
        "search": percentiles(search),
        "answer": percentiles(warm),
        "answer_first_sight": percentiles(first),
        "analysis": bench_analysis(engine, qs),
    }


def bench_analysis(engine: Any, qs: Sequence[str]) -> dict[str, float]:
    """What the answerability step adds to an answer: the question analysis alone, and the
    whole decision (analysis, features, coverage model) as the engine times it."""
    analyzer = engine.analyzer()
    analysis = [timed(lambda q=q: analyzer.analyze(q)) for q in qs]
    decision = [engine.answer(q).timings.get("analyze", 0.0) for q in qs]
    return {"analysis": percentiles(analysis), "decision": percentiles(decision)}


# Runs a command and prints its peak resident memory (KB). A child's ru_maxrss starts at the
# size of the process that forked it, so the command must be forked by a small process like
# this one, not by the benchmark (2 GB of models by then).
_PEAK = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def bench_cold_start(home: Path, runs: int = 3) -> dict[str, Any]:
    exe = str(Path(sys.executable).parent / "paperchat")
    env = {**os.environ, "PAPERCHAT_HOME": str(home)}
    q = "Which papers reduce the memory of the KV cache during LLM inference, and how?"
    ask, rss = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _PEAK, exe, "ask", q, "--json"], env=env,
                              check=True, capture_output=True, text=True)
        ask.append(time.perf_counter() - t0)
        rss.append(int(done.stdout.strip().splitlines()[-1]) / 1024)
    ask_rss = max(rss)
    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ui_s, ui_rss = None, None
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1):
                    ui_s = time.perf_counter() - t0
                    break
            except OSError:
                time.sleep(0.1)
        ui_rss = _peak_rss_mb(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return {
        "cli_ask_s": round(statistics.median(ask), 2),
        "cli_ask_runs_s": [round(a, 2) for a in ask],
        "cli_peak_rss_mb": round(ask_rss),
        "ui_ready_s": ui_s and round(ui_s, 2),
        "ui_peak_rss_mb": ui_rss,
    }


def _peak_rss_mb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        return None
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- scale ----------------------------------------------------------------------------------------


def bench_scale(
    work: Path, sizes: Sequence[int], qs: Sequence[str], chunks_per_s: float
) -> list[dict[str, Any]]:
    from paperchat.eval.synthetic import composed_vectors, make_corpus, sentence_pool

    settings = Settings(home=work / "pool")
    real = collect([DATA]).papers
    sentences, words = sentence_pool(real)
    sentence_vectors = settings.embedder.embed(sentences)
    rows = []
    for n in sizes:
        home = work / f"scale-{n}"
        shutil.rmtree(home, ignore_errors=True)
        corpus = make_corpus(n, sentences, words)
        vectors = composed_vectors(corpus, sentence_vectors)
        sized = Settings(home=home)
        store = PaperStore.open(sized, create=True)
        t0 = time.perf_counter()
        store.begin_write()
        group = 2000
        by_paper: dict[str, list[int]] = {}
        for i, chunk in enumerate(corpus.chunks):
            by_paper.setdefault(chunk.paper_id, []).append(i)
        for start in range(0, n, group):
            papers = corpus.papers[start : start + group]
            idx = [i for p in papers for i in by_paper[p.paper_id]]
            store.replace(papers, [corpus.chunks[i] for i in idx], vectors[idx],
                          _pool_sentences(settings, papers, sentences, sentence_vectors))
        store.commit()
        write_s = time.perf_counter() - t0
        latency = bench_latency(sized, qs)
        rows.append(
            {
                "papers": n,
                "chunks": len(corpus.chunks),
                "write_and_index_s": round(write_s, 1),
                "embed_s_projected": round(len(corpus.chunks) / chunks_per_s, 1),
                "disk_mb": round(_du(home) / 2**20, 1),
                **latency,
            }
        )
        print(f"scale {n}: {json.dumps(rows[-1])}", file=sys.stderr)
    return rows


def _pool_sentences(settings: Settings, papers: Sequence[Any], pool: list[str],
                    vectors: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """The sentence records of synthetic papers with their pool sentences' real vectors (the
    few a re-split does not give back whole are embedded)."""
    from paperchat.ingest.sentence_index import sentence_records

    records = sentence_records(papers)
    where = {text: i for i, text in enumerate(pool)}
    out = np.zeros((len(records), vectors.shape[1]), dtype=np.float32)
    missing = [k for k, r in enumerate(records) if r.text not in where]
    for k, r in enumerate(records):
        if r.text in where:
            out[k] = vectors[where[r.text]]
    if missing:
        out[missing] = settings.embedder.embed([records[k].text for k in missing])
    return records, out


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# -- report ---------------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["scale"]
    sizes = [r["papers"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for what, style in (("search", "o-"), ("answer", "s-"), ("answer_first_sight", "^--")):
        for pct, alpha in (("p50_ms", 1.0), ("p95_ms", 0.5)):
            ax.plot(
                sizes, [r[what][pct] for r in rows], style, alpha=alpha, label=f"{what} {pct[:3]}"
            )
    ax.set_xscale("log")
    ax.set_xlabel("papers in the store")
    ax.set_ylabel("latency (ms; models loaded)")
    ax.set_title("paperchat latency vs corpus size (2 CPU cores)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(results: dict[str, Any]) -> str:
    i, lat, cold = results["ingest"], results["latency"], results["cold_start"]
    search, answer, first = lat["search"], lat["answer"], lat["answer_first_sight"]
    lines = [
        f"Run {results['date']} on {results['machine']}, git {results['git']}.",
        "",
        "| measure | result | target |",
        "| --- | --- | --- |",
        f"| ingest 624 papers ({i['chunks']} chunks), ours ({i['backend']} backend, batch "
        f"{i['batch_size']}) | {i['ours_s']} s (encode alone: {i['ours_encode_only_s']} s) | |",
        f"| raw `SentenceTransformer.encode` of the same texts (torch, default batch 32) "
        f"| {i['raw_encode_s']} s | |",
        f"| ratio ours / raw encode | {i['ratio_ours_to_raw']} | <= 1.0 |",
        f"| opt-in `backend=onnx-int8` ingest (int8 weights) | {i['ours_int8_s']} s "
        f"(ratio to raw: {i['ratio_int8_to_raw']}) | |",
        f"| one-time ONNX export + check against torch (per machine and model) "
        f"| {i['onnx_export_once_s']} s | |",
    ]
    if "llamaindex_default_s" in i:
        lines.append(
            f"| llama-index default pipeline (from_documents + ChromaVectorStore) | "
            f"{i['llamaindex_default_s']} s (ratio ours / it: {i['ratio_ours_to_llamaindex']}) | |"
        )
    lines += [
        f"| re-ingest, unchanged corpus | {i['reingest_unchanged_s']} s | <= 3 s |",
        f"| search p50 / p95, 624 papers | {search['p50_ms']} / {search['p95_ms']} ms "
        "| p50 <= 50 ms |",
        f"| extractive answer p50 / p95, 624 papers, warm | {answer['p50_ms']} / "
        f"{answer['p95_ms']} ms | p50 <= 150 ms |",
        f"| extractive answer p50 / p95, 624 papers, cold cache (sentences read from the store) "
        f"| {first['p50_ms']} / {first['p95_ms']} ms | p50 <= 50 ms |",
        f"| answerability step p50 / p95 (analysis + decision), 624 papers "

        f"| {lat['analysis']['decision']['p50_ms']} / {lat['analysis']['decision']['p95_ms']} ms "

        "| p50 <= 5 ms |",
        f"| CLI cold start to first answer (median of {len(cold['cli_ask_runs_s'])}) "
        f"| {cold['cli_ask_s']} s | <= 6 s |",
        f"| UI cold start to ready | {cold['ui_ready_s']} s | |",
        f"| peak memory: CLI ask / UI | {cold['cli_peak_rss_mb']} / "
        f"{cold['ui_peak_rss_mb']} MB | |",
        "",
        "Scale (synthetic corpora, see below for how they are built). Answers: warm / cold "
        "cache (the question's papers seen for the first time: their sentences are read from "
        "the store).",
        "",
        "| papers | chunks | write + index | embedding (projected) | disk | search p50 / p95 "
        "| answer p50 / p95, warm | answer p50 / p95, cold cache |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["scale"]:
        lines.append(
            f"| {r['papers']:,} | {r['chunks']:,} | {r['write_and_index_s']} s "
            f"| {r['embed_s_projected']} s | {r['disk_mb']} MB "
            f"| {r['search']['p50_ms']} / {r['search']['p95_ms']} ms "
            f"| {r['answer']['p50_ms']} / {r['answer']['p95_ms']} ms "
            f"| {r['answer_first_sight']['p50_ms']} / {r['answer_first_sight']['p95_ms']} ms |"
        )
    lines += ["", "![latency vs corpus size](benchmarks/latency_vs_size.png)"]
    return "\n".join(lines)


def write_report(results: dict[str, Any], out: Path, doc: Path | None) -> None:
    """results.json and the plot into ``out``; the results section of ``doc`` when given."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if results.get("scale"):
        plot(results, out / "latency_vs_size.png")
    if doc is None:
        return
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{START}\n{markdown(results)}\n{END}{tail}")


def run(
    sizes: Sequence[int], n_questions: int, out: Path, work: Path, with_llamaindex: bool = True,
    doc: Path | None = None,
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    qs = questions(n_questions)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "git": _git_sha(),
    }
    out.mkdir(parents=True, exist_ok=True)
    partial = out / "results.partial.json"  # what a run that dies midway still leaves

    def checkpoint() -> None:
        partial.write_text(json.dumps(results, indent=2) + "\n")

    print("ingest…", file=sys.stderr)
    results["ingest"] = bench_ingest(work, with_llamaindex)
    checkpoint()
    corpus = Settings(home=work / "ours")
    print("latency…", file=sys.stderr)
    results["latency"] = bench_latency(corpus, qs)
    checkpoint()
    print("cold start…", file=sys.stderr)
    results["cold_start"] = bench_cold_start(work / "ours")
    checkpoint()
    print("scale…", file=sys.stderr)
    results["scale"] = [
        {
            "papers": 624,
            "chunks": results["ingest"]["chunks"],
            "write_and_index_s": results["ingest"]["ours_s"],
            "embed_s_projected": results["ingest"]["ours_encode_only_s"],
            "disk_mb": round(_du(work / "ours") / 2**20, 1),
            **results["latency"],
        }
    ]
    results["scale"] += bench_scale(
        work, [s for s in sizes if s > 624], qs, results["ingest"]["ours_chunks_per_s"]
    )
    write_report(results, out, doc)
    partial.unlink(missing_ok=True)
    return results


def _git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
