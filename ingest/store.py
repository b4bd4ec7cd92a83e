"""The paper store: chunks and vectors in Chroma, and the store's BM25 index (ingest.lexical).

Every chunk of a paper carries the paper's metadata; chunk 0 also carries the whole abstract,
so the papers themselves are the chunk-0 records. The collection's metadata names the embedding
model, its dimension and the chunking that built it, and a revision that changes with every
write, which tells a BM25 index (here or in another process) whether it is current.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from paperchat.errors import ModelMismatch, StoreMissing, StoreUnavailable, is_connection_error
from paperchat.ingest.lexical import LexicalCache, LexicalIndex, index_folder
from paperchat.ingest.names import paper_names
from paperchat.ingest.sentence_index import SentenceIndex, SentenceRecord, StoredSentences

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from paperchat.ingest.chunking import Chunk
    from paperchat.ingest.records import Paper
    from paperchat.settings import Settings

SCHEMA = 1
GET_PAGE = 5000
_LIST_FIELDS = ("sources", "authors", "categories", "urls")


@dataclass(frozen=True)
class StoredPaper:
    """A paper as the store holds it."""

    paper_id: str
    title: str
    abstract: str
    urls: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    date: str = ""
    url: str = ""
    names: list[str] = field(default_factory=list)  # names it defines (ingest.names)

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> StoredPaper:
        return cls(
            paper_id=str(meta["paper_id"]),
            title=str(meta.get("title", "")),
            abstract=str(meta.get("abstract", "")),
            urls=list(meta.get("urls") or []),
            sources=list(meta.get("sources") or []),
            authors=list(meta.get("authors") or []),
            categories=list(meta.get("categories") or []),
            date=str(meta.get("date", "")),
            url=str(meta.get("url", "")),
            names=_names(meta),
        )

    @property
    def links(self) -> list[str]:
        return ([self.url] if self.url and self.url not in self.urls else []) + self.urls


@dataclass(frozen=True)
class Held:
    """What the store holds of one paper, for deciding what an ingest must redo."""

    text_hash: str
    meta_hash: str
    n_chunks: int
    present: int

    @property
    def complete(self) -> bool:
        return self.present == self.n_chunks


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: str
    paper_id: str
    text: str
    similarity: float


def connect(settings: Settings) -> ClientAPI:
    """A Chroma client: HTTP when ``chroma_url`` is set, embedded files under ``home`` otherwise."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        try:
            return chromadb.HttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises plain ValueError/ConnectError here
            raise StoreUnavailable(
                f"Cannot reach the Chroma server at {settings.chroma_url}: {exc}"
            ) from exc
    settings.home.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.home / "chroma"), settings=chroma_settings)


class PaperStore:
    """Chunks, vectors and papers in one Chroma collection, with a BM25 index kept current."""

    def __init__(self, settings: Settings, client: ClientAPI, collection: Collection) -> None:
        self.settings = settings
        self.client = client
        self.collection = collection
        self._lexical = LexicalCache(index_folder(settings.home, settings.collection))
        self.sentences = SentenceIndex(client, settings.collection, self._call, self._batch)

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, settings: Settings, *, create: bool = False) -> PaperStore:
        where = settings.chroma_url or str(settings.home)
        if not settings.chroma_url and not create and not (settings.home / "chroma").exists():
            raise StoreMissing(where)
        client = connect(settings)
        try:
            collection = client.get_collection(settings.collection)
        except Exception as exc:
            if is_connection_error(exc):
                raise StoreUnavailable(f"Cannot reach the Chroma server at {where}: {exc}") from exc
            if not create:
                raise StoreMissing(where) from exc
            embedder = settings.embedder
            collection = client.create_collection(
                settings.collection,
                metadata=cls._identity(settings, embedder.name, embedder.dimension),
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
        store = cls(settings, client, collection)
        store.check_model()
        return store

    @staticmethod
    def _identity(settings: Settings, model: str, dim: int) -> dict[str, Any]:
        return {
            "paperchat_schema": SCHEMA,
            "embed_model": model,
            "embed_dim": dim,
            "chunk_tokens": settings.ingest.chunk_tokens,
            "chunk_overlap": settings.ingest.chunk_overlap,
            "revision": "empty",
        }

    @property
    def meta(self) -> dict[str, Any]:
        return dict(self.collection.metadata or {})

    def check_model(self) -> None:
        """Refuse a store built with another embedding model than the settings name."""
        built_with = self.meta.get("embed_model")
        wanted = self.settings.embedder.name
        if built_with != wanted:
            raise ModelMismatch(
                f"The store at {self.where} was built with the embedding model {built_with!r}, "
                f"but the settings ask for {wanted!r}. Use that model "
                f"(PAPERCHAT_INGEST__MODEL), or rebuild: paperchat ingest --rebuild <sources>."
            )

    def check_chunking(self) -> None:
        """Refuse to add chunks made another way than the ones already stored."""
        meta, ingest = self.meta, self.settings.ingest
        if (meta.get("chunk_tokens"), meta.get("chunk_overlap")) != (
            ingest.chunk_tokens,
            ingest.chunk_overlap,
        ):
            raise ModelMismatch(
                f"The store at {self.where} was chunked with chunk_tokens="
                f"{meta.get('chunk_tokens')}, chunk_overlap={meta.get('chunk_overlap')}; the "
                f"settings say {ingest.chunk_tokens}, {ingest.chunk_overlap}. Rebuild with "
                "paperchat ingest --rebuild <sources>."
            )

    def check_dimension(self, dim: int) -> None:
        if int(self.meta.get("embed_dim", dim)) != dim:
            raise ModelMismatch(
                f"The store at {self.where} holds {self.meta.get('embed_dim')}-dimensional "
                f"vectors, but the model gives {dim}. Rebuild: paperchat ingest --rebuild "
                "<sources>."
            )

    @property
    def where(self) -> str:
        return self.settings.chroma_url or str(self.settings.home)

    @classmethod
    def drop(cls, settings: Settings) -> None:
        """Delete the collection and its BM25 index (for ``ingest --rebuild``)."""
        client = connect(settings)
        for name in (settings.collection, settings.collection + "-sentences"):
            try:
                client.delete_collection(name)
            except Exception as exc:
                if is_connection_error(exc):
                    raise StoreUnavailable(
                        f"Cannot reach the Chroma server at {settings.chroma_url}"
                    ) from exc
        LexicalCache(index_folder(settings.home, settings.collection)).remove()

    # -- reading ------------------------------------------------------------------------------

    def count(self) -> int:
        return self._call(self.collection.count)

    def inventory(self) -> dict[str, Held]:
        """Per paper: hashes, chunks expected and chunks present (fewer after a killed ingest)."""
        present = Counter(cid.rsplit("#", 1)[0] for cid in self._get(include=[])["ids"])
        firsts = self._get(where={"chunk": 0}, include=["metadatas"])
        held = {}
        for meta in firsts["metadatas"] or []:
            pid = str(meta["paper_id"])
            held[pid] = Held(
                str(meta["text_hash"]),
                str(meta["meta_hash"]),
                int(meta["n_chunks"]),
                present.get(pid, 0),
            )
        for pid, count in present.items():  # chunks whose chunk 0 is gone: incomplete too
            held.setdefault(pid, Held("", "", -1, count))
        return held

    def papers(self, ids: Sequence[str] | None = None) -> dict[str, StoredPaper]:
        """Papers by id (all of them when ``ids`` is None)."""
        if ids is not None and not ids:
            return {}
        where: dict[str, Any] = {"chunk": 0}
        if ids is not None:
            where = {"$and": [{"chunk": 0}, {"paper_id": {"$in": list(ids)}}]}
        got = self._get(where=where, include=["metadatas"])
        return {
            str(m["paper_id"]): StoredPaper.from_metadata(dict(m)) for m in got["metadatas"] or []
        }

    def chunks_of(self, paper_ids: Sequence[str]) -> dict[str, list[str]]:
        """Chunk texts of each paper, in order."""
        if not paper_ids:
            return {}
        got = self._get(
            where={"paper_id": {"$in": list(paper_ids)}}, include=["documents", "metadatas"]
        )
        rows = sorted(
            zip(got["metadatas"] or [], got["documents"] or [], strict=True),
            key=lambda r: (str(r[0]["paper_id"]), int(r[0]["chunk"])),
        )
        out: dict[str, list[str]] = {}
        for meta, doc in rows:
            out.setdefault(str(meta["paper_id"]), []).append(doc)
        return out

    def sentences_of(self, paper_ids: Sequence[str],
                     counts: Mapping[str, int] | None = None) -> dict[str, StoredSentences]:
        """The stored sentences (roles, vectors) of these papers; absent for papers ingested
        before sentences were stored. ``counts``: each paper's number of sentences, when known
        (a read by id, see ``SentenceIndex.of``)."""
        return self.sentences.of(paper_ids, counts)

    def papers_with_sentences(self) -> set[str]:
        return self.sentences.papers_held(lambda c, **kw: self._get(collection=c, **kw))

    def dense(
        self, vector: np.ndarray, n: int, where: dict[str, Any] | None = None
    ) -> list[ChunkHit]:
        """Nearest chunks to ``vector`` (cosine similarity, best first)."""
        self.check_dimension(int(vector.shape[-1]))
        total = self.count()
        if total == 0:
            return []
        got = self._call(
            self.collection.query,
            query_embeddings=[vector.tolist()],
            n_results=min(n, total),
            where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        hits = []
        for cid, doc, meta, dist in zip(
            got["ids"][0],
            got["documents"][0],
            got["metadatas"][0],
            got["distances"][0],
            strict=True,
        ):
            hits.append(ChunkHit(cid, str(meta["paper_id"]), doc or "", 1.0 - float(dist)))
        return hits

    def lexical(self) -> LexicalIndex:
        """The BM25 index for the store's current revision (see ``LexicalCache``)."""
        return self._lexical.current(self.revision(), self.papers)

    def revision(self) -> str:
        """The revision as the store holds it now. Another process (a shared Chroma server, or
        an ingest beside a running UI) may have written since this collection object was
        fetched: it is read anew."""
        collection = self._call(self.client.get_collection, self.settings.collection)
        self.collection = collection
        return str(self.meta.get("revision", ""))

    # -- writing ------------------------------------------------------------------------------

    def replace(
        self, papers: Sequence[Paper], chunks: Sequence[Chunk], vectors: np.ndarray,
        sentences: tuple[Sequence[SentenceRecord], np.ndarray] | None = None,
    ) -> None:
        """Write these papers' chunks (and sentences), replacing whatever the store held for
        them. Sentences land first: a paper whose chunks are all present has its sentences."""
        by_paper: dict[str, int] = Counter(c.paper_id for c in chunks)
        meta_of = {p.paper_id: p for p in papers}
        self.delete([p.paper_id for p in papers])
        if sentences is not None:
            self.sentences.write(*sentences)
        ids, docs, metas = [], [], []
        for chunk in chunks:
            ids.append(chunk.id)
            docs.append(chunk.text)
            metas.append(
                _chunk_metadata(meta_of[chunk.paper_id], chunk.index, by_paper[chunk.paper_id])
            )
        for start in range(0, len(ids), self._batch()):
            end = start + self._batch()
            self._call(
                self.collection.add,
                ids=ids[start:end],
                documents=docs[start:end],
                metadatas=metas[start:end],
                embeddings=vectors[start:end],
            )

    def update_metadata(self, papers: Iterable[Paper], n_chunks: dict[str, int]) -> None:
        """Rewrite the metadata of papers whose text (and so vectors) did not change."""
        ids, metas = [], []
        for paper in papers:
            n = n_chunks[paper.paper_id]
            for i in range(n):
                ids.append(f"{paper.paper_id}#{i}")
                metas.append(_chunk_metadata(paper, i, n))
        for start in range(0, len(ids), self._batch()):
            self._call(
                self.collection.update,
                ids=ids[start : start + self._batch()],
                metadatas=metas[start : start + self._batch()],
            )

    def delete(self, paper_ids: Sequence[str]) -> None:
        for start in range(0, len(paper_ids), 500):
            part = list(paper_ids[start : start + 500])
            self._call(self.collection.delete, where={"paper_id": {"$in": part}})
        self.sentences.delete(paper_ids)

    def begin_write(self) -> None:
        """Mark the store as being written, so no reader trusts a BM25 index built before."""
        self._set_revision("writing-" + uuid.uuid4().hex[:12])

    def commit(self) -> str:
        """Mark a new revision and bring the BM25 index up to it. Returns the revision."""
        revision = uuid.uuid4().hex[:12]
        self._set_revision(revision)
        self.lexical()
        return revision

    def _set_revision(self, revision: str) -> None:
        meta = self.meta
        meta["revision"] = revision
        self._call(self.collection.modify, metadata=meta)

    # -- plumbing -----------------------------------------------------------------------------

    def _batch(self) -> int:
        return min(1000, int(self.client.get_max_batch_size()))

    def _get(self, **kwargs: Any) -> dict[str, list[Any]]:
        """``collection.get`` in pages: one call for 100k records fails inside Chroma's SQLite
        ("too many SQL variables"), so read ``GET_PAGE`` at a time and join the pages."""
        include = kwargs.get("include", [])
        collection = kwargs.pop("collection", None) or self.collection
        out: dict[str, list[Any]] = {"ids": [], **{name: [] for name in include}}
        offset = 0
        while True:
            page = self._call(collection.get, limit=GET_PAGE, offset=offset, **kwargs)
            out["ids"] += page["ids"]
            for name in include:
                out[name] += page[name] or []
            if len(page["ids"]) < GET_PAGE:
                return out
            offset += GET_PAGE

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if is_connection_error(exc):
                raise StoreUnavailable(
                    f"Lost the connection to the Chroma server at {self.where}: {exc}. "
                    "Is `chroma run` up?"
                ) from exc
            raise


def _chunk_metadata(paper: Paper, index: int, n_chunks: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "paper_id": paper.paper_id,
        "chunk": index,
        "n_chunks": n_chunks,
        "title": paper.title,
        "text_hash": paper.text_hash,
        "meta_hash": paper.meta_hash,
        "has_code": paper.has_code,
        "date": paper.date,
        "url": paper.url,
        "source_id": paper.source_id,
    }
    for name in _LIST_FIELDS:
        values = [v for v in getattr(paper, name) if v]
        if values:  # Chroma refuses empty lists
            meta[name] = values
    if index == 0:
        meta["abstract"] = paper.abstract
        names = paper_names(paper.title, paper.abstract)
        if names:
            meta["names"] = names
    return meta


def _names(meta: dict[str, Any]) -> list[str]:
    """The names a stored paper defines; computed anew for a paper stored before names were
    (the next ingest writes them, as a metadata-only update)."""
    if "names" in meta:
        return list(meta["names"] or [])
    return paper_names(str(meta.get("title", "")), str(meta.get("abstract", "")))
