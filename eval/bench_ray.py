"""Ray ingest benchmark: embedding throughput with 1 and 2 actors, scaling efficiency, the
projection for the full arXiv snapshot, a `chroma run` server's write rate, and the driver's
peak memory as the corpus grows. Writes benchmarks/ray.json, benchmarks/ray_scaling.png and
the section between the ray-bench markers of BENCHMARKS.md.

    python -m paperchat.eval.bench_ray --records 400 --rss-sizes 2000,20000
    python -m paperchat.eval.bench_ray --only-memory --rss-sizes "" \
        --first-server-sizes 1000,3000,10000
    python -m paperchat.eval.bench_ray --only-memory --rss-sizes "" \
        --first-server-sizes 1000,10000,30000 --hash-embedder
    python -m paperchat.eval.bench_ray --only-memory --rss-sizes "" \
        --first-server-sizes 30000,100000 --hash-embedder --object-store-mb 512

``--hash-embedder``: the first ingests into a server embed with ``hash_embed`` instead of the
model (see ``use_hash_embedder``), so that they reach sizes whose real embedding would take
hours here: for the driver's memory only, their throughput means nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from paperchat.eval.synth_arxiv import Pool, write
from paperchat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- ray-bench:start -->", "<!-- ray-bench:end -->"
ARXIV = 2_700_000
WORKERS = (8, 32, 128)


def load() -> float:
    return round(os.getloadavg()[0], 2)


# -- throughput -----------------------------------------------------------------------------------


def bench_actors(work: Path, source: Path, actors: int) -> dict[str, Any]:
    """One first ingest of ``source`` on a fresh local cluster with ``actors`` embedders."""
    from paperchat.ingest.ray_ingest import run_ray_ingest

    home = work / f"actors-{actors}"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home).with_overrides(
        ingest={"engine": "ray"}, ray={"actors": actors, "num_cpus": 2}
    )
    timings: dict[str, float] = {}
    before = load()
    summary = run_ray_ingest(settings, [source], timings=timings)
    embed_s = timings["embed_and_write_s"]
    return {
        "actors": actors,
        "papers": summary.papers,
        "chunks": summary.chunks_written,
        "total_s": round(summary.seconds, 2),
        **{k: round(v, 2) for k, v in timings.items()},
        "chunks_per_s": round(summary.chunks_written / embed_s, 2),
        "load_before": before,
        "load_after": load(),
    }


def bench_local(work: Path, source: Path) -> dict[str, Any]:
    """The local engine on the same file, for reference."""
    from paperchat.ingest.pipeline import run_ingest

    home = work / "local"
    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home)
    settings.embedder.embed(["warm up"])
    summary = run_ingest(settings, [source])
    return {"chunks": summary.chunks_written, "total_s": round(summary.seconds, 2),
            "chunks_per_s": round(summary.chunks_written / summary.seconds, 2)}


# -- chroma server write rate ---------------------------------------------------------------------


class _Server:
    def __init__(self, path: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        chroma = Path(sys.executable).parent / "chroma"
        self.proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port",
             str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("chroma run did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_mb(self) -> float:
        """The server process's peak resident memory so far (VmHWM), in MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def bench_chroma_writes(work: Path, vectors: np.ndarray, total: int) -> list[dict[str, Any]]:
    """Chunks per second that a `chroma run` server takes (HNSW insert + metadata), with one
    and with two writers, each sending batches of 1000 chunks with paperchat-sized metadata."""
    from paperchat.ingest.store import connect

    rows = []
    for writers in (1, 2):
        folder = work / f"chroma-{writers}"
        shutil.rmtree(folder, ignore_errors=True)
        server = _Server(folder)
        try:
            settings = Settings(home=work / "client", chroma_url=server.url)
            collection = connect(settings).create_collection(
                "bench", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
            text = "x" * 700  # a chunk's text: about 700 characters

            def send(worker: int, collection: Any = collection, writers: int = writers,
                     text: str = text) -> None:
                for start in range(worker * 1000, total, writers * 1000):
                    n = min(1000, total - start)
                    idx = np.arange(start, start + n) % len(vectors)
                    collection.add(
                        ids=[f"p{worker}-{start + i}#0" for i in range(n)],
                        documents=[text] * n,
                        metadatas=[{"paper_id": f"p{start + i}", "chunk": 0, "n_chunks": 1,
                                    "title": "t" * 80, "text_hash": "h" * 16,
                                    "meta_hash": "m" * 16} for i in range(n)],
                        embeddings=vectors[idx],
                    )

            t0 = time.perf_counter()
            threads = [threading.Thread(target=send, args=(w,)) for w in range(writers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            seconds = time.perf_counter() - t0
            rows.append({"writers": writers, "chunks": total, "seconds": round(seconds, 2),
                         "chunks_per_s": round(total / seconds, 1), "load": load()})
        finally:
            server.stop()
    return rows


# -- driver memory --------------------------------------------------------------------------------

_DRIVER = """
import json, resource, sys, threading, time
from paperchat.settings import Settings
from paperchat.ingest.ray_ingest import run_ray_ingest

peak = {"RssAnon": 0, "RssShmem": 0, "VmRSS": 0}
done = threading.Event()

def sample():
    while not done.is_set():
        for line in open("/proc/self/status"):
            name, _, value = line.partition(":")
            if name in peak:
                peak[name] = max(peak[name], int(value.split()[0]))
        time.sleep(0.05)

threading.Thread(target=sample, daemon=True).start()
if sys.argv[5]:  # a setup hook for every Ray worker, added to ray_session's own ray.init call
    import ray

    _init = ray.init

    def _init_with_hook(*args, **kwargs):
        return _init(*args, runtime_env={"worker_process_setup_hook": sys.argv[5]}, **kwargs)

    ray.init = _init_with_hook
settings = Settings(home=sys.argv[1], chroma_url=sys.argv[4]).with_overrides(
    ingest={"engine": "ray"})
started = time.perf_counter()
if sys.argv[3] == "first":  # an empty store: everything up to the embedding, then stop
    from paperchat.ingest import ray_ingest
    from paperchat.ingest.shards import plan

    store = settings.store(create=True)
    store.check_dimension(settings.embedder.dimension)
    parts = plan([sys.argv[2]], "auto", settings.ray.read_block_mb << 20).parts
    with ray_ingest.ray_session(settings):
        ray_ingest.build_datasets(settings, parts, 0, False)
    counts = {"papers": 0, "added": 0, "unchanged": 0, "chunks_written": 0,
              "seconds": time.perf_counter() - started}
else:
    summary = run_ray_ingest(settings, [sys.argv[2]])
    counts = {k: summary.as_dict()[k]
              for k in ("papers", "added", "unchanged", "chunks_written", "seconds")}
done.set()
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "peak_private_mb": peak["RssAnon"] / 1024,
                  "peak_shared_mb": peak["RssShmem"] / 1024, **counts}))
"""


def driver_peak(home: Path, source: Path, run: str = "ingest",
                chroma_url: str = "", worker_hook: str = "") -> dict[str, Any]:
    """Peak memory of the driver process alone (not Ray's workers), printed by the process
    itself at the end of a `--engine ray` ingest: its ru_maxrss, and the peaks of its private
    (RssAnon) and shared (RssShmem: pages of Ray's object store it has read) resident memory,
    sampled every 50 ms. ``run="first"``: a first ingest into an empty store, stopped where the
    embedding would start (reading, the shuffle, the diff, the blocks to embed cut and kept).
    ``chroma_url``: the store is that Chroma server's (the driver writes to it over HTTP).
    ``worker_hook``: the import path of a function every Ray worker runs when it starts
    (``worker_process_setup_hook``; the driver itself does not run it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _DRIVER, str(home), str(source), run,
                           chroma_url, worker_hook],
                          env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def prefill(home: Path, source: Path) -> None:
    """A store that already holds every paper of ``source`` (chunk texts, metadata and hashes
    as an ingest writes them; vectors of the right shape, not embedded), so that a Ray ingest
    of ``source`` finds them all unchanged and exercises reading, the shuffle and the diff at
    full size without hours of embedding."""
    from paperchat.ingest.chunking import Chunker
    from paperchat.ingest.sources import collect

    shutil.rmtree(home, ignore_errors=True)
    settings = Settings(home=home)
    store = settings.store(create=True)
    embedder = settings.embedder
    chunker = Chunker(embedder, embedder.max_tokens, settings.ingest.chunk_overlap)
    papers = collect([source]).papers
    rng = np.random.default_rng(0)
    store.begin_write()
    for start in range(0, len(papers), 2000):
        group = papers[start : start + 2000]
        chunks = [c for p in group for c in chunker.chunk(p)]
        vectors = rng.standard_normal((len(chunks), embedder.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.replace(group, chunks, vectors)
    store.commit()


# -- report ---------------------------------------------------------------------------------------


def project(per_worker: float, efficiency: float, chunks_per_paper: float,
            write_rate: float) -> list[dict[str, Any]]:
    chunks = ARXIV * chunks_per_paper
    rows = []
    for workers in WORKERS:
        embed_s = chunks / (per_worker * workers * efficiency)
        rows.append({"workers": workers, "embed_hours": round(embed_s / 3600, 2),
                     "one_chroma_server_hours": round(chunks / write_rate / 3600, 2),
                     "hours": round(max(embed_s, chunks / write_rate) / 3600, 2)})
    return rows


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    runs = results["actors"]
    left.bar([str(r["actors"]) for r in runs], [r["chunks_per_s"] for r in runs],
             color="#4c72b0")
    left.axhline(results["local"]["chunks_per_s"], color="gray", linestyle="--",
                 label="local engine (whole ingest)")
    left.set_xlabel("embedding actors (1 CPU each)")
    left.set_ylabel("chunks / s (embed + write stage)")
    left.set_title("measured on this 2-core machine", fontsize=10)
    left.legend(fontsize=8)
    proj = results["projection"]
    right.plot([p["workers"] for p in proj], [p["embed_hours"] for p in proj], "o-",
               label="embedding (projected)")
    right.plot([p["workers"] for p in proj], [p["one_chroma_server_hours"] for p in proj],
               "s--", label="one Chroma server's write rate")
    right.set_xscale("log", base=2)
    right.set_yscale("log")
    right.set_xlabel("embedding workers")
    right.set_ylabel("hours for 2.7M abstracts")
    right.set_title("projection for the arXiv snapshot", fontsize=10)
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(r: dict[str, Any]) -> str:
    one, two = r["actors"][0], r["actors"][1]
    lines = [
        f"Run {r['date']} on {r['machine']}, git {r['git']}; load average before / after "
        f"each run in the tables (other sessions were using the cores when it is above 0).",
        "",
        f"Throughput: a first ingest of {one['papers']} generated arXiv records "
        f"({one['chunks']} chunks) on a local Ray cluster (`num_cpus=2`). Chunks per second "
        "is over the embed + write stage (actors chunk and embed, the driver writes to "
        "embedded Chroma and builds BM25).",
        "",
        "| engine | chunks/s | embed + write stage | read + shuffle + decide | Ray start "
        "| whole ingest | load before / after |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for a in r["actors"]:
        lines.append(
            f"| Ray, {a['actors']} actor{'s' if a['actors'] > 1 else ''} | {a['chunks_per_s']} "
            f"| {a['embed_and_write_s']} s | {a['read_and_decide_s']} s | {a['ray_init_s']} s "
            f"| {a['total_s']} s | {a['load_before']} / {a['load_after']} |"
        )
    lines += [
        f"| local engine | {r['local']['chunks_per_s']} | | | | {r['local']['total_s']} s | |",
        "",
        f"Scaling efficiency, 2 actors against 1: {r['efficiency']} "
        f"({two['chunks_per_s']} / (2 x {one['chunks_per_s']})).",
        "",
        "Chroma server (`chroma run`, local disk) write rate, batches of 1000 chunks with "
        "paperchat-sized metadata and 384-d vectors:",
        "",
        "| writers | chunks | seconds | chunks/s | load |",
        "| --- | --- | --- | --- | --- |",
    ]
    for w in r["chroma"]:
        lines.append(f"| {w['writers']} | {w['chunks']:,} | {w['seconds']} | "
                     f"{w['chunks_per_s']} | {w['load']} |")
    return "\n".join([*lines, *_projection_and_memory(r)])


def _projection_and_memory(r: dict[str, Any]) -> list[str]:
    p = r["projection_assumptions"]
    lines: list[str] = []
    lines += [
        "",
        f"Projection for the arXiv snapshot ({ARXIV:,} abstracts x {p['chunks_per_paper']} "
        f"chunks per abstract, as in the generated records = {p['chunks']:,} chunks): "
        f"{p['per_worker']} chunks/s per worker (the 1-actor rate measured here, one CPU "
        f"core each), times the measured efficiency {r['efficiency']} at every size; "
        "embedding and writing overlap, so the slower of the two sets the time.",
        "",
        "| workers | embedding | one Chroma server's writes | ingest (the slower) |",
        "| --- | --- | --- | --- |",
    ]
    for row in r["projection"]:
        lines.append(f"| {row['workers']} | {row['embed_hours']} h | "
                     f"{row['one_chroma_server_hours']} h | {row['hours']} h |")
    lines += ["", "Driver peak memory (the driver process alone; Ray's workers not included). "
              "Private: its own heap (RssAnon); shared: pages of Ray's object store it has "
              "mapped while reading results (RssShmem, bounded by the object store's size):",
              "", "Runs: *first ingest*, into an empty store, embedding everything; *all "
              "held*, every record already in the store (written beforehand with the same "
              "chunks, metadata and hashes, not embedded), so the run reads, shuffles and "
              "diffs them all and writes nothing; *first, to the embedding*, the same records "
              "into an empty store, stopped where the embedding starts (read, shuffle, diff, "
              "and every paper to embed cut into blocks and kept in the object store); "
              "*first ingest, Chroma server*, a first ingest that embeds everything and writes "
              "it to a fresh `chroma run` server on this machine (`chroma_url`), whose own peak "
              "RSS is in the last column but one; *..., embedding replaced by a hash embedder*, "
              "the same with the actors' model forward passes replaced by `hash_embed` "
              "(`--hash-embedder`: float32 unit vectors of the model's dimension from a hash of "
              "each text; the model still loads, for its tokenizer; chunks, sentences, metadata, "
              "writes and the BM25 commit are unchanged): for memory only, its seconds are no "
              "ingest's time. "
              "The other runs use embedded Chroma, which the driver writes itself.",
              "", "| records | run | papers held already | embedded | peak RSS | private "
              "| shared | seconds | Chroma server peak RSS | measured |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in r["driver_memory"]:
        when = f"{m['date']}, git {m['git']}" if "date" in m else f"{r['date']} (the run above)"
        lines.append(f"| {m['records']:,} | {_run(m)} | {m['unchanged']:,} "
                     f"| {m['chunks_written']:,} chunks | {m['peak_rss_mb']:.0f} MB "
                     f"| {m.get('peak_private_mb', 0):.0f} MB "
                     f"| {m.get('peak_shared_mb', 0):.0f} MB | {m['seconds']:.1f} "
                     f"| {_server_rss(m)} | {when} |")
    lines += ["", "![Ray ingest scaling](benchmarks/ray_scaling.png)"]
    return lines


def _server_rss(m: dict[str, Any]) -> str:
    return f"{m['server_peak_rss_mb']:.0f} MB" if "server_peak_rss_mb" in m else ""


def write_report(results: dict[str, Any], out: Path, doc: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "ray.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out / "ray_scaling.png")
    text = doc.read_text()
    if START not in text:
        text += f"\n## Ingest on Ray\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{START}\n{markdown(results)}\n{END}{tail}")


def memory(rss_sizes: list[int], records: int, work: Path, pool: Pool,
           first: bool = True) -> list[dict[str, Any]]:
    rows = []
    for n in rss_sizes:
        big = work / f"arxiv-{n}.jsonl"
        if not big.exists():
            write(n, big, pool)
        home = work / f"rss-{n}"
        if n > records:
            if not (home / "chroma").exists():
                prefill(home, big)  # held already: no embedding, the rest at full size
        else:
            shutil.rmtree(home, ignore_errors=True)
        rows.append({"records": n, "run": "all held" if n > records else "first ingest",
                     **driver_peak(home, big)})
        print(f"rss {n}: {rows[-1]}", file=sys.stderr)
        if n > records and first:  # the same records into an empty store, up to the embedding
            fresh = work / f"first-{n}"
            shutil.rmtree(fresh, ignore_errors=True)
            rows.append({"records": n, "run": "first, to the embedding",
                         **driver_peak(fresh, big, "first")})
            shutil.rmtree(fresh, ignore_errors=True)
            print(f"rss {n} first: {rows[-1]}", file=sys.stderr)
    return rows


SERVER_RUN = "first ingest, Chroma server"
HASH_RUN = ("first ingest, Chroma server; embedding replaced by a hash embedder (memory only; "
            "throughput not meaningful)")
HASH_HOOK = "paperchat.eval.bench_ray.use_hash_embedder"


def hash_embed(texts: list[str], dimension: int) -> np.ndarray:
    """Unit-length float32 vectors of ``dimension``, one per text, drawn from a generator seeded
    with a hash of the text: the same text gives the same vector, and no model runs."""
    out = np.empty((len(texts), dimension), dtype=np.float32)
    for i, text in enumerate(texts):
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        out[i] = np.random.default_rng(seed).standard_normal(dimension, dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def use_hash_embedder() -> None:
    """A Ray worker setup hook (``--hash-embedder``): in the worker that runs it, every
    ``Embedder`` embeds with ``hash_embed`` at the model's own dimension (asked of the model once
    per worker). Nothing else changes: the model still loads (the chunker counts word pieces with
    its tokenizer), papers are chunked the same, and the same chunks, sentences and metadata are
    written. Only the model's forward passes are gone, and with them the embedding's time."""
    from paperchat.ingest.embedder import Embedder

    model_embed = Embedder.embed
    dimensions: dict[str, int] = {}

    def embed(self: Embedder, texts: list[str]) -> np.ndarray:
        if self.name not in dimensions:
            dimensions[self.name] = int(model_embed(self, ["dimension"]).shape[1])
        return hash_embed(list(texts), dimensions[self.name])

    Embedder.embed = embed  # type: ignore[method-assign]


def _check_hash_vectors(url: str, home: Path) -> int:
    """Sentences read back from the server whose vectors are ``hash_embed``'s (all of those read:
    the hook ran in the actors). Returns how many were compared."""
    from paperchat.ingest.store import PaperStore

    store = PaperStore.open(Settings(home=home, chroma_url=url))
    collection = store.sentences.collection()
    assert collection is not None
    got = collection.get(limit=100, include=["documents", "embeddings"])
    vectors = np.asarray(got["embeddings"], dtype=np.float32)
    expected = hash_embed(list(got["documents"] or []), vectors.shape[1])
    if not np.allclose(vectors, expected, atol=1e-5):
        raise RuntimeError("the stored vectors are not the hash embedder's: the hook did not run")
    return len(vectors)


def memory_server(sizes: list[int], work: Path, pool: Pool,
                  hashed: bool = False) -> list[dict[str, Any]]:
    """A first ingest that embeds everything, written into a fresh `chroma run` server: the
    collection's index lives in the server, so the driver's memory is its own. Also the
    server's peak RSS (VmHWM), where the index went. ``hashed``: the actors embed with
    ``hash_embed`` (``use_hash_embedder``), not the model; the rest of the ingest is the same."""
    rows = []
    for n in sizes:
        big = work / f"arxiv-{n}.jsonl"
        if not big.exists():
            write(n, big, pool)
        home, data = work / f"server-home-{n}", work / f"server-data-{n}"
        for folder in (home, data):
            shutil.rmtree(folder, ignore_errors=True)
        server = _Server(data)
        try:
            before = load()
            row = driver_peak(home, big, "ingest", server.url, HASH_HOOK if hashed else "")
            capped = os.environ.get("PAPERCHAT_RAY__OBJECT_STORE_MB")
            label = (HASH_RUN if hashed else SERVER_RUN) + (
                f"; local object store {capped} MB (ray.object_store_mb)" if capped else "")
            row = {"records": n, "run": label, **row,
                   "server_peak_rss_mb": round(server.peak_rss_mb(), 1),
                   "load_before": before, "load_after": load()}
            if hashed:
                row["hash_vectors_checked"] = _check_hash_vectors(server.url, home)
            rows.append(row)
        finally:
            server.stop()
        for folder in (home, data):
            shutil.rmtree(folder, ignore_errors=True)
        print(f"server {n}: {rows[-1]}", file=sys.stderr)
    return rows


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of ``new``, and those of ``old`` at the sizes ``new`` did not measure; each row
    says when and at which commit it was measured."""
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                         capture_output=True, text=True).stdout.strip()
    edited = [f for f in ("ingest/ray_ingest.py", "eval/bench_ray.py")
              if subprocess.run(["git", "diff", "--quiet", "HEAD", "--", f], cwd=ROOT).returncode]
    stamp = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
             "git": git + "".join(f" + uncommitted {f}" for f in edited)}
    measured = {_row_key(m): {**m, **stamp} for m in new}
    kept = [m for m in old if _row_key(m) not in measured]
    return sorted([*kept, *measured.values()], key=_row_key)


def _row_key(m: dict[str, Any]) -> tuple[int, str]:
    return m["records"], _run(m)


def _run(m: dict[str, Any]) -> str:
    return m.get("run") or ("first ingest" if m["added"] else "all held")


def run(records: int, rss_sizes: list[int], chroma_chunks: int, out: Path, work: Path,
        server_sizes: list[int] | None = None, hashed: bool = False) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    pool = Pool()
    source = write(records, work / f"arxiv-{records}.jsonl", pool)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip(),
    }
    print("actors…", file=sys.stderr)
    results["actors"] = [bench_actors(work, source, n) for n in (1, 2)]
    one, two = results["actors"]
    results["efficiency"] = round(two["chunks_per_s"] / (2 * one["chunks_per_s"]), 3)
    print("local…", file=sys.stderr)
    results["local"] = bench_local(work, source)
    print("chroma…", file=sys.stderr)
    stored = Settings(home=work / "actors-1").store().collection.get(include=["embeddings"])
    results["chroma"] = bench_chroma_writes(work, np.asarray(stored["embeddings"]),
                                            chroma_chunks)
    per_paper = one["chunks"] / one["papers"]
    best_write = max(w["chunks_per_s"] for w in results["chroma"])
    results["projection_assumptions"] = {
        "per_worker": one["chunks_per_s"], "chunks_per_paper": round(per_paper, 3),
        "chunks": round(ARXIV * per_paper), "write_rate": best_write}
    results["projection"] = project(one["chunks_per_s"], results["efficiency"], per_paper,
                                    best_write)
    print("driver memory…", file=sys.stderr)
    results["driver_memory"] = memory(rss_sizes, records, work, pool)
    results["driver_memory"] += memory_server(server_sizes or [], work, pool, hashed)
    write_report(results, out, ROOT / "BENCHMARKS.md")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="Ray ingest benchmark")
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--rss-sizes", default="1000,20000,100000")
    parser.add_argument("--chroma-chunks", type=int, default=20000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    parser.add_argument("--only-memory", action="store_true",
                        help="measure the driver's memory again, keep the rest of ray.json")
    parser.add_argument("--first-server-sizes", default="",
                        help="records of first ingests (embedding everything) into a fresh "
                        "`chroma run` server, measuring the driver's memory, e.g. 1000,10000")
    parser.add_argument("--object-store-mb", type=int, default=0,
                        help="the local cluster's object store for the first ingests into a "
                        "server (ray.object_store_mb; default: Ray's)")
    parser.add_argument("--hash-embedder", action="store_true",
                        help="the --first-server-sizes runs' actors embed with a hash of each text "
                        "(unit length, the model's dimension) instead of the model: the driver's "
                        "memory at sizes the model takes hours to embed; throughput not meaningful")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "ray-bench")
    args = parser.parse_args()
    if args.object_store_mb:  # the driver subprocesses read it as their setting
        os.environ["PAPERCHAT_RAY__OBJECT_STORE_MB"] = str(args.object_store_mb)
    sizes = [int(s) for s in args.rss_sizes.split(",") if s.strip()]
    server_sizes = [int(s) for s in args.first_server_sizes.split(",") if s.strip()]
    if args.only_memory:  # measure the driver again, keep the rest of the last run
        results = json.loads((args.out / "ray.json").read_text())
        args.work.mkdir(parents=True, exist_ok=True)
        pool = Pool()
        new = memory(sizes, args.records, args.work, pool)
        new += memory_server(server_sizes, args.work, pool, args.hash_embedder)
        results["driver_memory"] = merge(results.get("driver_memory", []), new)
        write_report(results, args.out, ROOT / "BENCHMARKS.md")
    else:
        results = run(args.records, sizes, args.chroma_chunks, args.out, args.work,
                      server_sizes, args.hash_embedder)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
