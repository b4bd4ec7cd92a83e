"""Abstract sentences with their roles and vectors, stored at ingest beside the chunks.

A second Chroma collection, ``<collection>-sentences``, holds one record per abstract sentence
(id ``paper_id#s<i>``, metadata ``paper_id``, ``index``, ``role``), so that no answer embeds a
sentence on first sight and the sentences follow the store wherever it lives (embedded files or
a Chroma server). A paper's sentences are written just before its chunks and deleted with them:
a paper whose chunks are complete has its sentences, whatever killed an earlier ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from paperchat.errors import is_connection_error
from paperchat.ingest.roles import Role, tag_roles

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from paperchat.ingest.records import Paper

SUFFIX = "-sentences"


@dataclass(frozen=True)
class SentenceRecord:
    """One sentence of an abstract, as stored (its vector travels beside it)."""

    paper_id: str
    index: int
    role: Role
    text: str

    @property
    def id(self) -> str:
        return f"{self.paper_id}#s{self.index}"

    @property
    def metadata(self) -> dict[str, Any]:
        return {"paper_id": self.paper_id, "index": self.index, "role": self.role}


@dataclass(frozen=True)
class StoredSentences:
    """A paper's sentences, in abstract order, with their roles and unit vectors."""

    paper_id: str
    sentences: list[str]
    roles: list[Role]
    vectors: np.ndarray  # (len(sentences), dim)


def sentence_records(papers: Sequence[Paper]) -> list[SentenceRecord]:
    """Every abstract sentence of these papers with its role: what an ingest embeds (the
    ``text`` of each) and writes with :meth:`SentenceIndex.write`. Any ingest path (local, Ray)
    uses this, so sentences are split and tagged the same way everywhere."""
    from paperchat.rag.text import split_sentences

    records: list[SentenceRecord] = []
    for paper in papers:
        sentences = split_sentences(paper.abstract)
        for i, (text, role) in enumerate(zip(sentences, tag_roles(sentences), strict=True)):
            records.append(SentenceRecord(paper.paper_id, i, role, text))
    return records


Call = Callable[..., Any]


class SentenceIndex:
    """The sentence collection of a store. ``call`` wraps Chroma calls (connection errors)."""

    def __init__(self, client: ClientAPI, name: str, call: Call, batch: Callable[[], int]) -> None:
        self.client = client
        self.name = name + SUFFIX
        self._call = call
        self._batch = batch
        self._collection: Collection | None = None

    def collection(self, *, create: bool = False) -> Collection | None:
        """The collection; None when this store was built before sentences were stored."""
        if self._collection is None:
            if create:
                self._collection = self._call(
                    self.client.get_or_create_collection, self.name, embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}})
            else:
                try:
                    self._collection = self._call(self.client.get_collection, self.name)
                except Exception as exc:  # missing: an older store; connection errors go up
                    if not _missing(exc):
                        raise
                    return None
        return self._collection

    def write(self, records: Sequence[SentenceRecord], vectors: np.ndarray) -> None:
        if not records:
            return
        collection = self.collection(create=True)
        assert collection is not None
        size = self._batch()
        for start in range(0, len(records), size):
            part = records[start:start + size]
            self._call(collection.upsert, ids=[r.id for r in part],
                       documents=[r.text for r in part], metadatas=[r.metadata for r in part],
                       embeddings=vectors[start:start + size])

    def delete(self, paper_ids: Sequence[str]) -> None:
        collection = self.collection()
        if collection is None:
            return
        for start in range(0, len(paper_ids), 500):
            part = list(paper_ids[start:start + 500])
            self._call(collection.delete, where={"paper_id": {"$in": part}})

    def papers_held(self, get: Callable[..., dict[str, list[Any]]]) -> set[str]:
        """Papers whose sentences are stored (``get`` reads the collection in pages)."""
        collection = self.collection()
        if collection is None:
            return set()
        got = get(collection, where={"index": 0}, include=["metadatas"])
        return {str(m["paper_id"]) for m in got["metadatas"] or []}

    def of(self, paper_ids: Sequence[str],
           counts: Mapping[str, int] | None = None) -> dict[str, StoredSentences]:
        """The stored sentences of these papers (papers without any are left out): one read.
        With ``counts`` (each paper's number of sentences, which its abstract gives) the read is
        by id ("PID#s0" ...), a primary-key lookup: at 100k papers it took 3.4 ms where the
        metadata filter took 55 ms (p50 of 20 reads of 5 papers, BENCHMARKS.md)."""
        collection = self.collection()
        if collection is None or not paper_ids:
            return {}
        include = ["embeddings", "documents", "metadatas"]
        if counts is not None and all(pid in counts for pid in paper_ids):
            ids = [f"{pid}#s{i}" for pid in paper_ids for i in range(counts[pid])]
            got = self._call(collection.get, ids=ids, include=include) if ids else \
                {"documents": [], "metadatas": [], "embeddings": []}
        else:
            got = self._call(collection.get, where={"paper_id": {"$in": list(paper_ids)}},
                             include=include)
        rows: dict[str, list[tuple[int, str, Role, Any]]] = {}
        for doc, meta, vec in zip(got["documents"], got["metadatas"], got["embeddings"],
                                  strict=True):
            rows.setdefault(str(meta["paper_id"]), []).append(
                (int(meta["index"]), doc or "", meta.get("role", "other"), vec))
        out = {}
        for pid, items in rows.items():
            items.sort(key=lambda r: r[0])
            if [r[0] for r in items] != list(range(len(items))):
                continue  # half-written: treat as absent, the caller embeds
            out[pid] = StoredSentences(
                pid, [r[1] for r in items], [r[2] for r in items],
                np.asarray([r[3] for r in items], dtype=np.float32))
        return out

    def drop(self) -> None:
        try:
            self.client.delete_collection(self.name)
        except Exception as exc:
            if not _missing(exc):
                raise
        self._collection = None


def _missing(exc: Exception) -> bool:
    """Whether Chroma said the collection does not exist (older versions raise ValueError)."""
    from chromadb.errors import NotFoundError

    return isinstance(exc, NotFoundError | ValueError) and not is_connection_error(exc)
