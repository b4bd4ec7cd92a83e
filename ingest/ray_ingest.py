"""Ingest on a Ray cluster with Ray Data: the local path's rules, run as a streaming dataset.

    parts of the sources ──read (tasks, in parallel, streamed)──┐
    what the store holds ──read in pages (tasks)────────────────┴─ union ─ groupby(paper id)
        ─ merge duplicates, decide what to redo (``pipeline.redo``); kept in the object store
        ─ chunk + embed (a pool of actors, each loading the ONNX model once)
        ─ this process: writes in groups to the store (replace / update_metadata / delete)
        ─ a one-off worker on this machine: the new revision and its BM25 index (commit)

Every step reuses the local path's pieces (parsers, ``Paper`` ids and hashes, ``Chunker``,
``Embedder``, ``PaperStore``), so both engines build the same store. This process never holds the
corpus: rows stream through it ``ROWS_PER_BATCH`` at a time and it keeps only counters, the
papers of the write in flight, and the first 10,000 skipped records' messages. Nor does it hold
the store's indexes when it need not: counting the store's chunks and bringing its BM25 index
up to date (which reads every paper's title and abstract) run in a one-off worker on this
machine (``_store_job``), since embedded Chroma loads a collection's vector index into whichever
process first reads it. Only when it writes does this process hold that index (the store's
own; with a Chroma server it stays in the server). Duplicates of a paper are merged in the
order of the files and lines they come from, as the local path merges them.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from paperchat.errors import PaperchatError
from paperchat.ingest.pipeline import (
    IngestSummary,
    Progress,
    ProgressFactory,
    groups_written,
    open_store,
    redo,
)
from paperchat.ingest.records import Paper, Problem
from paperchat.ingest.sentence_index import SentenceRecord, sentence_records
from paperchat.ingest.shards import Part, plan, read_part
from paperchat.ingest.sources import Format
from paperchat.ingest.store import GET_PAGE, Held, PaperStore
from paperchat.settings import Settings

if TYPE_CHECKING:
    import ray.data

    from paperchat.ingest.chunking import Chunk

ROWS_PER_BATCH = 256  # decided rows this process converts to Python at a time, whatever the blocks
# Ray keeps a task's result smaller than its ``max_direct_call_object_size`` (100 KB unless the
# cluster says otherwise) in the memory of the process that submitted the task, and Ray Data
# submits every task from this process: so every block that waits (the shuffle's pieces, kept
# until all its inputs are read; the papers to embed, kept until the actors take them) is made
# larger than that, or it lands in this process's memory: 1.5 KB a paper to embed (74 MB at
# 50,000), the inventory's rows once the shuffle has 5 partitions, and every record from about
# 35 on. A read task holds up to two blocks: 8 MB, up to 100 MB at 200 partitions.
PIECE_BYTES = 256 << 10  # the least a block (or a shuffle piece of one) should hold
MIN_BLOCK_BYTES = 4 << 20  # the least a read task gathers before it emits a block
HELD_PAGE_BYTES = 128 << 10  # the least one page of the store's inventory comes to, as rows
SMALL_BLOCKS_BYTES = 16 << 20  # papers to embed up to this size go in blocks of one actor call
_FILE = 1 << 40  # order key: file number * _FILE + line (or record number) within the file
KEEP_PROBLEMS = 10_000  # messages of skipped records kept for the summary; all are counted


def run_ray_ingest(
    settings: Settings,
    paths: Sequence[str | Path],
    *,
    fmt: Format = "auto",
    rebuild: bool = False,
    prune: bool = False,
    progress: ProgressFactory | None = None,
    timings: dict[str, float] | None = None,
) -> IngestSummary:
    """``run_ingest`` on Ray: the same summary, the same store. ``timings``, when given, gets
    the seconds of each stage (for the benchmark)."""
    started = time.perf_counter()
    stages = timings if timings is not None else {}
    planned = plan(paths, fmt, settings.ray.read_block_mb << 20)
    store = open_store(settings, rebuild)
    store.check_dimension(settings.embedder.dimension)  # also exports the ONNX graph once
    summary = IngestSummary(files=planned.files, store=store.where)
    problems = _Problems()
    for problem in planned.problems:
        problems.add(-1, str(problem))
    writer = _Writer(store, progress(0) if progress else Progress(), settings.ray.write_papers)
    stages["plan_s"] = time.perf_counter() - started
    with ray_session(settings):
        stages["ray_init_s"] = time.perf_counter() - started - stages["plan_s"]
        mark = time.perf_counter()
        pages = math.ceil(_store_job(settings, "count") / GET_PAGE)
        built = build_datasets(settings, planned.parts, pages, prune)
        stages["read_and_decide_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        # The decided rows in slices (their blocks are whole partitions); the embedded ones a
        # block at a time (one actor call's papers, at most a few hundred).
        rest, embedded = built or (None, None)
        streams = [(d, n) for d, n in ((rest, ROWS_PER_BATCH), (embedded, None)) if d is not None]
        try:
            for dataset, rows in streams:
                for batch in dataset.iter_batches(batch_size=rows, batch_format="numpy"):
                    for row in _rows(batch):
                        _take(row, summary, problems, writer)
            summary.chunks_written = writer.finish()
            stages["embed_and_write_s"] = time.perf_counter() - mark
        except BaseException:
            writer.abandon()
            raise
        mark = time.perf_counter()
        # A new revision and its BM25 index when anything was written; else the index is only
        # brought up to date (built when missing, free when current), as the local path does.
        summary.chunks_in_store = _store_job(settings, "commit" if writer.started else "lexical")
        stages["commit_s"] = time.perf_counter() - mark
    summary.skipped = problems.count
    summary.problems = problems.messages()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _take(row: dict[str, Any], summary: IngestSummary, problems: _Problems,
          writer: _Writer) -> None:
    """Count one decided row and hand what it needs written to the writer."""
    todo = str(row["todo"])
    summary.entries += int(row["entries"])
    if todo == "problem":
        problems.add(int(row["order"]), str(row["problem"]))
    elif todo == "stale":
        summary.removed += 1
        writer.delete(str(row["paper_id"]))
    elif todo != "none":
        summary.papers += 1
        summary.count(todo)  # type: ignore[arg-type]
        if todo in ("add", "embed"):
            texts = json.loads(str(row["texts"]))
            vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(texts), -1)
            paper = _paper(row["paper"])
            records = sentence_records([paper])
            sentences = np.frombuffer(row["sentence_vectors"], dtype=np.float32).reshape(
                len(records), vectors.shape[1])
            writer.replace(paper, texts, vectors, (records, sentences))
        elif todo == "metadata":
            writer.update_metadata(_paper(row["paper"]), int(row["held_chunks"]))


def _store_job(settings: Settings, job: str) -> int:
    """``job`` on the store, in a worker of this machine that runs it alone and exits: ``count``;
    ``commit``, a new revision and its BM25 index; ``lexical``, the BM25 index brought up to the
    store's revision. Returns the chunks in the store after it.

    Both indexes grow with the store: embedded Chroma loads the collection's vector index into
    the process that first reads it (even to count), and building BM25 reads every paper's
    title and abstract. Done here, this process holds neither; the worker's exit gives the
    memory back. It runs on this machine because the BM25 index is saved under ``home``, as
    the local path saves it. Under Ray Client this process is not on the cluster: it runs here.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if ray.util.client.ray.is_connected():
        return _run_store_job(settings, job)
    task = ray.remote(
        num_cpus=0,  # runs while the embedding actors may still hold every CPU
        max_calls=1,
        scheduling_strategy=NodeAffinitySchedulingStrategy(
            ray.get_runtime_context().get_node_id(), soft=False),
    )(_run_store_job)
    return int(ray.get(task.remote(_portable(settings), job)))


def _run_store_job(settings: Settings, job: str) -> int:
    store = PaperStore.open(settings)
    if job == "commit":
        store.commit()
    elif job == "lexical":
        store.lexical()
    return store.count()


@contextmanager
def ray_session(settings: Settings) -> Iterator[None]:
    """Joins the cluster the settings name, or starts a local one for this ingest. A session the
    caller already opened (``ray.init`` in a test, a notebook) is used as it is."""
    try:
        import ray
    except ImportError as exc:
        raise PaperchatError(
            "The Ray engine needs Ray: pip install 'paperchat[ray]'"
        ) from exc
    if ray.is_initialized():
        yield
        return
    address = settings.ray.address or None
    if address and address != "auto":
        _check_reachable(address)
    try:
        ray.init(
            address=address,
            num_cpus=None if address else settings.ray.num_cpus,
            object_store_memory=None if address or not settings.ray.object_store_mb
            else settings.ray.object_store_mb * 1024 * 1024,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="WARNING",
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise PaperchatError(f"Cannot reach the Ray cluster at {address}: {exc}") from exc
    try:
        yield
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail in seconds on an address where nothing listens (``ray.init`` retries for minutes)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=5):
            return
    except (OSError, ValueError) as exc:
        raise PaperchatError(
            f"Cannot reach the Ray cluster at {address}: {exc}. Start one with `ray start "
            "--head`, or leave the address empty to start a local one for this ingest."
        ) from exc


def build_datasets(
    settings: Settings, parts: Sequence[Part], held_pages: int, prune: bool
) -> tuple[ray.data.Dataset, ray.data.Dataset | None] | None:
    """The whole ingest up to the writes: (decided papers with nothing to embed, skipped
    records; papers chunked and embedded by the actor pool, or None when there are none).

    The decisions are computed and kept in Ray's object store (spilled to disk when large)
    before this returns: the groupby waits for all its input anyway, and the actor pool then
    never holds the CPUs that the reads and the shuffle need, on a cluster of any size."""
    import ray.data
    from ray.data.context import ShuffleStrategy

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the CLI shows its own bar: chunks in the store
    context.print_on_execution_start = False
    # Sort-based shuffle runs as plain tasks on reused workers; the hash shuffle's aggregator
    # actors each cost a process start (seconds on a small machine) for no gain at this size.
    context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    portable = _portable(settings)
    size = sum(p.end - p.start for p in parts)
    partitions = max(2, min(200, size // (32 << 20) + held_pages // 4))
    # The sort shuffle cuts each block it reads into one piece per partition.
    block_bytes = max(MIN_BLOCK_BYTES, partitions * PIECE_BYTES)
    groups = _groups(parts, block_bytes)
    sources = ray.data.from_items(
        [{"parts": json.dumps([asdict(p) for p in g])} for g in groups],
        override_num_blocks=len(groups),
    ).map_batches(_read_parts, batch_size=1, fn_kwargs={"block_bytes": block_bytes}
                  ) if parts else None
    per_task = max(1, math.ceil(block_bytes / HELD_PAGE_BYTES))
    tasks = [{"first": p, "count": min(per_task, held_pages - p)}
             for p in range(0, held_pages, per_task)]
    held = ray.data.from_items(tasks, override_num_blocks=max(1, len(tasks))).map_batches(
        _held_rows, batch_size=1, fn_kwargs={"settings": portable, "block_bytes": block_bytes}
    ) if held_pages else None
    if sources is None and held is None:
        return None  # nothing to read, nothing held
    rows = sources.union(held) if sources is not None and held is not None else sources or held
    assert rows is not None
    decided = rows.groupby("key", num_partitions=partitions).map_groups(
        _decide, fn_kwargs={"prune": prune}, batch_format="numpy"
    ).materialize()
    rest = decided.map_batches(_select, fn_kwargs={"embed": False}, batch_format="numpy")
    chosen = decided.map_batches(
        _select, fn_kwargs={"embed": True}, batch_format="numpy"
    ).materialize()
    papers, nbytes = chosen.count(), chosen.size_bytes() or 0
    if papers == 0:
        return rest, None
    # Blocks of one actor call each, cut now: a repartition after the pool starts would wait
    # for CPUs that the pool holds. Past SMALL_BLOCKS_BYTES, blocks of several calls, each over
    # PIECE_BYTES (see there).
    calls = 1
    if nbytes > SMALL_BLOCKS_BYTES:
        calls = math.ceil(PIECE_BYTES * papers / nbytes / settings.ray.batch_size)
    to_embed = chosen.repartition(
        target_num_rows_per_block=settings.ray.batch_size * calls).materialize()
    embedded = to_embed.map_batches(
        _embedder_class(portable),
        compute=ray.data.ActorPoolStrategy(size=settings.ray.actors),
        batch_size=settings.ray.batch_size,
        num_cpus=settings.ray.cpus_per_actor,
        batch_format="numpy",
    )
    return rest, embedded


def _select(batch: dict[str, np.ndarray], embed: bool) -> dict[str, np.ndarray]:
    wanted = np.isin(batch["todo"], ["add", "embed"]) == embed
    return {name: column[wanted] for name, column in batch.items()}


# -- reading (tasks) --------------------------------------------------------------------------


def _groups(parts: Sequence[Part], block_bytes: int) -> list[list[Part]]:
    """Parts in file order, in groups of at least ``block_bytes`` (but the last): one read task
    each, so that small files make blocks of that size too."""
    groups: list[list[Part]] = []
    size = block_bytes
    for part in parts:
        if size >= block_bytes:
            groups.append([])
            size = 0
        groups[-1].append(part)
        size += part.end - part.start
    return groups


def _read_parts(batch: dict[str, np.ndarray], block_bytes: int) -> Iterator[dict[str, list[Any]]]:
    """Rows of the parts of each group in ``batch``, in blocks of ``block_bytes`` or more (a
    generator: Ray streams them)."""
    blocks = _Blocks(block_bytes)
    for group in batch["parts"]:
        for fields in json.loads(str(group)):
            part = Part(**fields)
            base = part.file_no * _FILE
            for seq, item in read_part(part):
                if isinstance(item, Problem):
                    counted = item.reason.startswith("title has no letters")  # an entry
                    row = _problem_row(base + seq, str(item), int(counted))
                else:
                    data = json.dumps(asdict(item), ensure_ascii=False)
                    row = {"key": item.paper_id, "kind": "record", "order": base + seq,
                           "data": data, "n": 1}
                if (full := blocks.add(row)) is not None:
                    yield full
    yield from blocks.rest()


def _held_rows(batch: dict[str, np.ndarray], settings: Settings,
               block_bytes: int) -> Iterator[dict[str, list[Any]]]:
    """What the store holds, pages (``GET_PAGE`` chunks) ``first`` to ``first + count`` per
    task: chunk counts per paper and the hashes of chunk 0, as rows to meet the sources' rows
    in the groupby, in blocks of ``block_bytes`` or more.

    All of these reads are done before the first write: the groupby waits for every input."""
    store = PaperStore.open(settings)
    blocks = _Blocks(block_bytes)
    for first, count in zip(batch["first"], batch["count"], strict=True):
        for page in range(int(first), int(first) + int(count)):
            offset = page * GET_PAGE
            ids = store._call(store.collection.get, include=[], limit=GET_PAGE,
                              offset=offset)["ids"]
            counts: dict[str, int] = {}
            for cid in ids:
                pid = cid.rsplit("#", 1)[0]
                counts[pid] = counts.get(pid, 0) + 1
            rows = [{"key": pid, "kind": "present", "order": 0, "data": "", "n": n}
                    for pid, n in counts.items()]
            firsts = store._call(
                store.collection.get,
                where={"chunk": 0},
                include=["metadatas"],
                limit=GET_PAGE,
                offset=offset,
            )
            for meta in firsts["metadatas"] or []:
                data = json.dumps([meta["text_hash"], meta["meta_hash"], int(meta["n_chunks"])])
                rows.append({"key": str(meta["paper_id"]), "kind": "held", "order": 0,
                             "data": data, "n": 0})
            for row in rows:
                if (full := blocks.add(row)) is not None:
                    yield full
    yield from blocks.rest()


# -- deciding (one call per paper id) -----------------------------------------------------------


def _decide(group: dict[str, np.ndarray], prune: bool) -> dict[str, list[Any]]:
    """Merge one paper's records in file order and decide what to redo, as ``run_ingest`` does."""
    kinds = group["kind"]
    out = _Rows()
    if str(group["key"][0]).startswith("!"):
        for i in range(len(kinds)):
            out.add(**_decided(str(group["key"][i]), "problem", order=int(group["order"][i]),
                               problem=str(group["data"][i]), entries=int(group["n"][i])))
        return out.take()
    records = sorted(
        (int(group["order"][i]), str(group["data"][i]))
        for i in range(len(kinds)) if kinds[i] == "record"
    )
    present = sum(int(group["n"][i]) for i in range(len(kinds)) if kinds[i] == "present")
    hashes = [json.loads(str(group["data"][i])) for i in range(len(kinds)) if kinds[i] == "held"]
    held = None
    if hashes:
        held = Held(hashes[0][0], hashes[0][1], hashes[0][2], present)
    elif present:  # chunks whose chunk 0 is gone: incomplete, as in PaperStore.inventory
        held = Held("", "", -1, present)
    pid = str(group["key"][0])
    if not records:
        todo = "stale" if prune and held is not None else "none"
        out.add(**_decided(pid, todo))
        return out.take()
    paper = _paper(records[0][1])
    for _, data in records[1:]:
        paper.merge(_paper(data))
    todo = redo(paper, held)
    out.add(**_decided(
        pid, todo, order=records[0][0], entries=len(records),
        paper=json.dumps(asdict(paper), ensure_ascii=False),
        held_chunks=held.n_chunks if held is not None else 0,
    ))
    return out.take()


def _decided(pid: str, todo: str, *, order: int = 0, entries: int = 0, paper: str = "",
             held_chunks: int = 0, problem: str = "") -> dict[str, Any]:
    return {"paper_id": pid, "todo": todo, "order": order, "entries": entries, "paper": paper,
            "held_chunks": held_chunks, "problem": problem}


# -- chunking and embedding (actors) ------------------------------------------------------------


def _embedder_class(settings: Settings) -> type[_Embed]:
    # The settings travel inside the class rather than as constructor arguments, which Ray
    # would keep in the object store and warn about (an actor restart needs them).
    return type("Embed", (_Embed,), {"settings": settings})


class _Embed:
    """One embedding actor: loads the model once, then chunks and embeds the papers to redo."""

    settings: Settings

    def __init__(self) -> None:
        from paperchat.ingest.chunking import Chunker
        from paperchat.ingest.embedder import Embedder

        settings = self.settings
        ingest = settings.ingest
        self.embedder = Embedder(
            ingest.model,
            device=ingest.device,
            batch_size=ingest.batch_size,
            backend=ingest.backend,
            cache_dir=ingest.cache_dir,
            threads=max(1, round(settings.ray.cpus_per_actor)),
        )
        limit = ingest.chunk_tokens or self.embedder.max_tokens
        self.chunker = Chunker(
            self.embedder,
            max_tokens=min(limit, self.embedder.max_tokens),
            overlap=ingest.chunk_overlap,
        )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        todo = batch["todo"]
        chunked: dict[int, list[Chunk]] = {
            i: self.chunker.chunk(_paper(batch["paper"][i]))
            for i in range(len(todo)) if todo[i] in ("add", "embed")
        }
        # Each paper's abstract sentences are embedded with its chunks, as the local path does
        # (the driver derives the same records from the paper: sentence_records is pure).
        sentences = {i: [r.text for r in sentence_records([_paper(batch["paper"][i])])]
                     for i in chunked}
        vectors = self.embedder.embed(
            [c.embed_text for cs in chunked.values() for c in cs]
            + [t for ts in sentences.values() for t in ts])
        texts, blobs, sentence_blobs, at = [], [], [], 0
        for i in range(len(todo)):
            chunks = chunked.get(i, [])
            texts.append(json.dumps([c.text for c in chunks], ensure_ascii=False))
            blobs.append(np.ascontiguousarray(vectors[at : at + len(chunks)]).tobytes())
            at += len(chunks)
        for i in range(len(todo)):
            n = len(sentences.get(i, []))
            sentence_blobs.append(np.ascontiguousarray(vectors[at : at + n]).tobytes())
            at += n
        return {**batch, "texts": np.array(texts, dtype=object),
                "vectors": np.array(blobs, dtype=object),
                "sentence_vectors": np.array(sentence_blobs, dtype=object)}


# -- writing (this process) ---------------------------------------------------------------------


class _Writer:
    """Writes in groups of ``group`` papers on one thread, one write in flight at most,
    so the store is written while the next rows are embedded, and a killed ingest leaves whole
    papers (each paper's chunk 0 records how many chunks it has; a partial one is redone)."""

    def __init__(self, store: PaperStore, bar: Progress, group: int) -> None:
        self.store = store
        self.group = group
        self.bar = bar
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperchat-write")
        self.pending: Future[int] | None = None
        self.written = 0
        self.groups = 0  # writes landed
        self.started = False
        self.papers: list[Paper] = []
        self.chunks: list[Chunk] = []
        self.vectors: list[np.ndarray] = []
        self.sentence_records: list[SentenceRecord] = []
        self.sentence_vectors: list[np.ndarray] = []
        self.meta: list[tuple[Paper, int]] = []
        self.stale: list[str] = []

    def replace(self, paper: Paper, texts: list[str], vectors: np.ndarray,
                sentences: tuple[list[SentenceRecord], np.ndarray]) -> None:
        from paperchat.ingest.chunking import Chunk

        self.papers.append(paper)
        self.chunks += [Chunk(paper.paper_id, i, t, t) for i, t in enumerate(texts)]
        self.vectors.append(vectors)
        self.sentence_records += sentences[0]
        self.sentence_vectors.append(sentences[1])
        if len(self.papers) >= self.group:
            self._flush()

    def update_metadata(self, paper: Paper, n_chunks: int) -> None:
        self.meta.append((paper, n_chunks))
        if len(self.meta) >= self.group:
            self._flush()

    def delete(self, paper_id: str) -> None:
        self.stale.append(paper_id)
        if len(self.stale) >= 500:
            self._flush()

    def finish(self) -> int:
        """Writes what is left; the caller commits (``started``: something was written)."""
        self._flush()
        self._landed()
        self.pool.shutdown()
        self.bar.close()
        return self.written

    def abandon(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.bar.close()

    def _flush(self) -> None:
        if not (self.papers or self.meta or self.stale):
            return
        if not self.started:
            self.store.begin_write()
            self.started = True
        papers, chunks, meta, stale = self.papers, self.chunks, self.meta, self.stale
        vectors = (
            np.concatenate(self.vectors) if self.vectors else np.zeros((0, 0), np.float32)
        )
        sentences = (self.sentence_records, np.concatenate(self.sentence_vectors)
                     if self.sentence_vectors else np.zeros((0, 0), np.float32))
        self.papers, self.chunks, self.vectors, self.meta, self.stale = [], [], [], [], []
        self.sentence_records, self.sentence_vectors = [], []
        self._landed()
        self.pending = self.pool.submit(self._write, papers, chunks, vectors, sentences, meta,
                                        stale)

    def _write(self, papers: list[Paper], chunks: list[Chunk], vectors: np.ndarray,
               sentences: tuple[list[SentenceRecord], np.ndarray],
               meta: list[tuple[Paper, int]], stale: list[str]) -> int:
        if papers:
            self.store.replace(papers, chunks, vectors, sentences)
        if meta:
            self.store.update_metadata([p for p, _ in meta], {p.paper_id: n for p, n in meta})
        if stale:
            self.store.delete(stale)
        return len(chunks)

    def _landed(self) -> None:
        if self.pending is not None:
            n = self.pending.result()
            self.pending = None
            self.written += n
            self.groups += 1
            self.bar.update(n)
            groups_written(self.store.settings, self.groups)


class _Problems:
    """Skipped records: all counted, the first ``KEEP_PROBLEMS`` in file order kept, so a
    corpus full of bad lines cannot fill the driver's memory."""

    def __init__(self) -> None:
        self.count = 0
        self._heap: list[tuple[int, str]] = []  # (-order, message): the latest on top

    def add(self, order: int, message: str) -> None:
        self.count += 1
        heapq.heappush(self._heap, (-order, message))
        if len(self._heap) > KEEP_PROBLEMS:
            heapq.heappop(self._heap)

    def messages(self) -> list[str]:
        kept = [m for _, m in sorted(self._heap, key=lambda item: (-item[0], item[1]))]
        if self.count > len(kept):
            kept.append(f"... and {self.count - len(kept)} more skipped records")
        return kept


# -- rows -------------------------------------------------------------------------------------


class _Rows:
    """Column lists built row by row: the batch format Ray Data takes back from a function."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {}
        self.n = 0

    def add(self, **row: Any) -> None:
        for name, value in row.items():
            self.columns.setdefault(name, []).append(value)
        self.n += 1

    def __len__(self) -> int:
        return self.n

    def take(self) -> dict[str, list[Any]]:
        out, self.columns, self.n = self.columns, {}, 0
        return out


class _Blocks:
    """Rows gathered into blocks of at least ``size`` bytes, the last one too when there are
    that many: a full block waits until the next one fills, so that a short tail joins it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.rows = _Rows()
        self.bytes = 0
        self.full: dict[str, list[Any]] | None = None

    def add(self, row: dict[str, Any]) -> dict[str, list[Any]] | None:
        """Adds ``row``; returns a block to emit, or None."""
        self.rows.add(**row)
        self.bytes += len(row["key"]) + len(row["data"]) + 32
        if self.bytes < self.size:
            return None
        out, self.full, self.bytes = self.full, self.rows.take(), 0
        return out

    def rest(self) -> list[dict[str, list[Any]]]:
        tail = self.rows.take() if len(self.rows) else None
        full, self.full = self.full, None
        if full is None or tail is None:
            return [b for b in (full, tail) if b is not None]
        return [{name: full[name] + tail[name] for name in full}]


def _problem_row(order: int, text: str, entries: int) -> dict[str, Any]:
    # Each skipped record is its own group: its key is unique.
    return {"key": f"!{order}:{text[:200]}", "kind": "problem", "order": order, "data": text,
            "n": entries}


def _rows(batch: dict[str, np.ndarray]) -> Iterator[dict[str, Any]]:
    names = list(batch)
    for i in range(len(batch[names[0]]) if names else 0):
        yield {name: batch[name][i] for name in names}


def _paper(data: Any) -> Paper:
    return Paper(**json.loads(str(data)))


def _portable(settings: Settings) -> Settings:
    """A copy to ship to workers, without the embedder this process may have built."""
    copy = settings.model_copy()
    copy.__dict__.pop("embedder", None)
    return copy
