"""Ingest: sources → papers → chunks → vectors → store, redoing only what changed.

We diff by content hash against what Chroma holds rather than running llama-index's
IngestionPipeline with a docstore: the hashes live in the chunk metadata of the same Chroma
collection, so they stay right when several processes share one Chroma server, a killed run
shows up as a paper with missing chunks, and a metadata-only change (a paper seen in one more
source file) is rewritten without re-embedding.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from paperchat.ingest.chunking import Chunk, Chunker
from paperchat.ingest.records import Paper
from paperchat.ingest.sentence_index import sentence_records
from paperchat.ingest.sources import Format, collect
from paperchat.ingest.store import Held, PaperStore
from paperchat.settings import Settings

# Papers embedded and written per step: big enough for efficient batches, small enough that a
# killed ingest loses little.
WRITE_GROUP = 256
# Exit status of an ingest stopped by the test hook ``ingest.test_stop_after_writes`` (EX_TEMPFAIL:
# run it again).
STOPPED_EXIT_CODE = 75


@dataclass
class IngestSummary:
    """What an ingest did. ``problems`` are 'file:line: reason' strings, one per skipped record."""

    files: int = 0
    entries: int = 0
    papers: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    removed: int = 0
    chunks_written: int = 0
    chunks_in_store: int = 0
    seconds: float = 0.0
    store: str = ""
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def count(self, todo: Redo) -> None:
        if todo == "add":
            self.added += 1
        elif todo == "unchanged":
            self.unchanged += 1
        else:
            self.updated += 1


Redo = Literal["add", "embed", "metadata", "unchanged"]


def redo(paper: Paper, have: Held | None) -> Redo:
    """What an ingest must do for ``paper`` given what the store holds of it: add it, embed it
    again (its text changed, or a killed run left it incomplete), rewrite only its metadata, or
    nothing. Both engines (local and Ray) decide with this."""
    if have is None:
        return "add"
    if have.text_hash != paper.text_hash or not have.complete:
        return "embed"
    if have.meta_hash != paper.meta_hash:
        return "metadata"
    return "unchanged"


ProgressFactory = Callable[[int], "Progress"]


class Progress:
    """Progress reporting for the embedding step; the CLI passes a tqdm-backed one."""

    def update(self, n: int) -> None: ...

    def close(self) -> None: ...


def run_ingest(
    settings: Settings,
    paths: Sequence[str | Path],
    *,
    fmt: Format = "auto",
    rebuild: bool = False,
    prune: bool = False,
    progress: ProgressFactory | None = None,
) -> IngestSummary:
    if settings.ingest.engine == "ray":
        from paperchat.ingest.ray_ingest import run_ray_ingest

        return run_ray_ingest(
            settings, paths, fmt=fmt, rebuild=rebuild, prune=prune, progress=progress
        )
    started = time.perf_counter()
    collected = collect(paths, fmt)
    summary = IngestSummary(
        files=collected.files,
        entries=collected.entries,
        papers=len(collected.papers),
        skipped=len(collected.problems),
        problems=[str(p) for p in collected.problems],
    )
    store = open_store(settings, rebuild)
    summary.store = store.where
    work = _plan(collected.papers, store, prune, summary)
    _apply(settings, store, work, summary, progress)
    summary.chunks_in_store = store.count()
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def open_store(settings: Settings, rebuild: bool) -> PaperStore:
    """The store to ingest into (emptied first for ``rebuild``), refusing other chunking."""
    if rebuild:
        PaperStore.drop(settings)
    store = settings.store(create=True)
    store.check_chunking()
    return store


@dataclass
class _Work:
    """What an ingest must write, decided against what the store holds."""

    to_embed: list[Paper]  # new, changed, or left incomplete by a killed run
    meta_only: dict[str, tuple[Paper, int]]  # unchanged text: (paper, chunks held)
    stale: list[str]  # papers no longer in the sources (``prune``)
    backfill: list[Paper]  # stored before sentences were: their sentences only

    @property
    def changed(self) -> bool:
        return bool(self.to_embed or self.meta_only or self.stale)


def _plan(papers: Sequence[Paper], store: PaperStore, prune: bool,
          summary: IngestSummary) -> _Work:
    held = store.inventory()
    work = _Work([], {}, [], [])
    for paper in papers:
        todo = redo(paper, held.get(paper.paper_id))
        summary.count(todo)
        if todo in ("add", "embed"):
            work.to_embed.append(paper)
        elif todo == "metadata":
            work.meta_only[paper.paper_id] = (paper, held[paper.paper_id].n_chunks)
    if prune:
        wanted = {p.paper_id for p in papers}
        work.stale = [pid for pid in held if pid not in wanted]
    # Stores built before sentences were stored at ingest get them now, once.
    embedding = {p.paper_id for p in work.to_embed}
    with_sentences = store.papers_with_sentences()
    work.backfill = [p for p in papers
                     if p.paper_id not in embedding and p.paper_id not in with_sentences]
    return work


def _apply(settings: Settings, store: PaperStore, work: _Work, summary: IngestSummary,
           progress: ProgressFactory | None) -> None:
    if work.changed:
        store.begin_write()
    if work.to_embed:
        summary.chunks_written = _embed_and_write(settings, store, work.to_embed, progress)
    if work.backfill:
        _embed_sentences(settings, store, work.backfill)
    if work.meta_only:
        store.update_metadata([p for p, _ in work.meta_only.values()],
                              {pid: n for pid, (_, n) in work.meta_only.items()})
    if work.stale:
        store.delete(work.stale)
        summary.removed = len(work.stale)
    if work.changed:
        store.commit()
    else:
        store.lexical()  # builds the BM25 index if it is missing; free when it is current


def groups_written(settings: Settings, groups: int) -> None:
    """Told how many groups of papers are now in the store, by both engines. The test hook
    ``ingest.test_stop_after_writes`` exits here, at once, as a killed ingest would."""
    stop = settings.ingest.test_stop_after_writes
    if stop and groups >= stop:
        os._exit(STOPPED_EXIT_CODE)


def _embed_and_write(
    settings: Settings, store: PaperStore, papers: list[Paper], progress: ProgressFactory | None
) -> int:
    embedder = settings.embedder
    store.check_dimension(embedder.dimension)
    limit = settings.ingest.chunk_tokens or embedder.max_tokens
    chunker = Chunker(
        embedder, max_tokens=min(limit, embedder.max_tokens), overlap=settings.ingest.chunk_overlap
    )
    groups = [papers[i : i + WRITE_GROUP] for i in range(0, len(papers), WRITE_GROUP)]
    chunked: list[list[Chunk]] = [[c for p in group for c in chunker.chunk(p)] for group in groups]
    bar = progress(sum(len(c) for c in chunked)) if progress else Progress()
    written, done = 0, 0
    # Group k is written to Chroma while group k+1 is embedded: the encoder and Chroma's
    # storage engine both release the GIL, so the writes cost (almost) no wall time. One write
    # is in flight at most and they land in order, so a crash still leaves whole groups.
    pending: tuple[Future[None], int] | None = None

    def landed() -> None:  # the bar counts chunks in the store, not chunks embedded
        nonlocal written, done
        if pending is not None:
            future, n = pending
            future.result()
            written, done = written + n, done + 1
            bar.update(n)
            groups_written(settings, done)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperchat-write") as writer:
        try:
            for group, chunks in zip(groups, chunked, strict=True):
                records = sentence_records(group)
                vectors = embedder.embed([c.embed_text for c in chunks] + [r.text for r in records])
                sentences = (records, vectors[len(chunks):])
                landed()
                pending = (writer.submit(store.replace, group, chunks, vectors[:len(chunks)],
                                         sentences), len(chunks))
            landed()
        finally:
            bar.close()
    return written


def _embed_sentences(settings: Settings, store: PaperStore, papers: list[Paper]) -> None:
    """Sentence vectors for papers whose chunks are stored already (older stores)."""
    for start in range(0, len(papers), WRITE_GROUP):
        records = sentence_records(papers[start : start + WRITE_GROUP])
        store.sentences.write(records, settings.embedder.embed([r.text for r in records]))
