"""Hybrid retrieval: dense chunks from Chroma plus BM25 over papers, fused and grouped to papers.

Filters become a Chroma ``where`` (sources, code link and category natively; dates and author
substrings, which Chroma cannot compare, as the list of paper ids that pass) and the same
predicate is applied to BM25's results, so every mode sees the same papers.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from paperchat.ingest.names import NameIndex
from paperchat.rag.analysis import Analyzer
from paperchat.rag.fusion import reciprocal_rank_fusion, relative_score_fusion
from paperchat.rag.types import Filters, RetrievedPaper

if TYPE_CHECKING:
    from paperchat.ingest.lexical import LexicalIndex
    from paperchat.ingest.store import PaperStore, StoredPaper
    from paperchat.settings import AnalysisSettings, Settings

MODES = ("hybrid", "dense", "bm25")


@dataclass
class Retrieval:
    """What one query found: the ranked papers, and the evidence used to judge them."""

    query: str
    vector: np.ndarray
    papers: list[RetrievedPaper]
    best_dense: float  # best chunk's cosine similarity to the query among the allowed papers
    best_bm25: float = 0.0  # best paper's BM25 score among the allowed ones (0 in dense mode)
    lexical: LexicalIndex | None = None  # the BM25 index this search used (for term statistics)


class Catalog:
    """All stored papers by id, and the question analyser over their names and terms, re-read
    when the store's revision changes."""

    def __init__(self, settings: AnalysisSettings | None = None) -> None:
        from paperchat.settings import AnalysisSettings

        self.settings = settings or AnalysisSettings()
        self.revision: str | None = None
        self.papers: dict[str, StoredPaper] = {}
        self._allowed: dict[Filters, list[str]] = {}
        self._analyzer: Analyzer | None = None
        self._lock = threading.Lock()

    def refresh(self, store: PaperStore, revision: str) -> None:
        with self._lock:
            if revision != self.revision:
                self.papers = store.papers()
                self._allowed = {}
                self._analyzer = None
                self.revision = revision

    def analyzer(self, lexical: LexicalIndex) -> Analyzer:
        """The question analyser for this revision: its name index is gathered from the names
        each paper's metadata holds (found at ingest), not from the texts."""
        with self._lock:
            if self._analyzer is None or self._analyzer.lexical is not lexical:
                names = name_index(self.papers, lexical, self.settings.name_max_mentions)
                self._analyzer = Analyzer(lexical, names, self.papers, self.settings)
            return self._analyzer


    def allowed(self, filters: Filters) -> list[str]:
        """Ids of the papers that pass ``filters`` (memoised per filter and revision)."""
        with self._lock:
            if filters not in self._allowed:
                self._allowed[filters] = sorted(
                    pid for pid, p in self.papers.items() if passes(p, filters)
                )
            return self._allowed[filters]


def name_index(papers: dict[str, StoredPaper], lexical: LexicalIndex,
               max_mentions: int) -> NameIndex:
    """The corpus's names, from the papers' stored names and BM25's term statistics."""

    def mentions(name: str) -> int:
        stems = [stem for _, stem in lexical.terms(name)]
        return len(lexical.papers_with_all(stems)) if stems else 0

    return NameIndex.build(((pid, p.names) for pid, p in papers.items()), mentions,
                           max_mentions=max_mentions)


def passes(paper: StoredPaper, filters: Filters) -> bool:
    """The filter predicate, the same one the Chroma ``where`` expresses."""
    if filters.sources and not set(filters.sources) & set(paper.sources):
        return False
    if filters.has_code is not None and bool(paper.urls) != filters.has_code:
        return False
    date = paper.date
    if filters.date_from and not (date and date[: len(filters.date_from)] >= filters.date_from):
        return False
    if filters.date_to and not (date and date[: len(filters.date_to)] <= filters.date_to):
        return False
    if filters.author and not any(filters.author.casefold() in a.casefold() for a in paper.authors):
        return False
    return not (filters.category and filters.category not in paper.categories)


def chroma_where(filters: Filters, allowed: Collection[str] | None = None) -> dict[str, Any] | None:
    """The Chroma ``where`` for ``filters``; ``allowed`` limits to these paper ids as well."""
    clauses: list[dict[str, Any]] = []
    if filters.sources:
        ors = [{"sources": {"$contains": s}} for s in filters.sources]
        clauses.append(ors[0] if len(ors) == 1 else {"$or": ors})
    if filters.has_code is not None:
        clauses.append({"has_code": filters.has_code})
    if filters.category:
        clauses.append({"categories": {"$contains": filters.category}})
    if allowed is not None:
        clauses.append({"paper_id": {"$in": sorted(allowed) or [""]}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class Retriever:
    """Ranks papers for a query: dense, BM25, or both fused (relative score fusion, or
    reciprocal rank fusion: ``retrieval.fusion``)."""

    def __init__(self, settings: Settings, store: PaperStore) -> None:
        self.settings = settings
        self.store = store
        self.catalog = Catalog(settings.analysis)

    def search(
        self,
        query: str,
        k: int,
        filters: Filters | None = None,
        mode: str = "hybrid",
        only: Collection[str] | None = None,
    ) -> Retrieval:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        filters = filters or Filters()
        lexical = self.store.lexical()
        self.catalog.refresh(self.store, lexical.revision)
        allowed = self._allowed(filters, only)
        vector = self.settings.embedder.embed_query(query)
        n = self.settings.retrieval.candidates
        # Dense always runs: its best similarity is evidence for the answerability decision.
        where = chroma_where(filters, allowed if self._needs_ids(filters, only) else None)
        hits = self.store.dense(vector, n, where) if allowed is None or allowed else []
        dense: dict[str, float] = {}
        passages: dict[str, list[str]] = {}
        for hit in hits:
            dense.setdefault(hit.paper_id, hit.similarity)
            passages.setdefault(hit.paper_id, []).append(hit.text)
        bm25 = {} if mode == "dense" else self._bm25(lexical, query, n, allowed)
        scores = self._fuse(mode, dense, bm25)
        ranked = sorted(scores, key=lambda pid: (-scores[pid], pid))[:k]
        papers = []
        for pid in ranked:
            stored = self.catalog.papers.get(pid)
            if stored is None:  # written after the catalog was read; next revision brings it
                continue
            papers.append(RetrievedPaper(
                rank=len(papers) + 1, paper_id=pid, title=stored.title,
                score=float(scores[pid]), dense=dense.get(pid), bm25=bm25.get(pid),
                passages=passages.get(pid) or [stored.abstract], abstract=stored.abstract,
                urls=stored.links,
            ))
        return Retrieval(query, vector, papers, float(max(dense.values(), default=0.0)),
                         float(max(bm25.values(), default=0.0)), lexical)

    def _bm25(self, lexical: LexicalIndex, query: str, n: int,
              allowed: list[str] | None) -> dict[str, float]:
        """The ``n`` best papers by BM25 among the allowed ones, best first."""
        fetch = n if allowed is None else len(self.catalog.papers)
        allowed_set = None if allowed is None else set(allowed)
        scores: dict[str, float] = {}
        for pid, score in lexical.search(query, fetch):
            if allowed_set is None or pid in allowed_set:
                scores[pid] = score
                if len(scores) >= n:
                    break
        return scores

    def _fuse(self, mode: str, dense: dict[str, float],
              bm25: dict[str, float]) -> dict[str, float]:
        if mode == "dense":
            return dict(dense)
        if mode == "bm25":
            return dict(bm25)
        r = self.settings.retrieval
        weights = [r.dense_weight, r.bm25_weight]
        if r.fusion == "relative":
            return relative_score_fusion([dense, bm25], weights=weights)
        return reciprocal_rank_fusion([list(dense), list(bm25)], k=r.rrf_k, weights=weights)

    def _allowed(self, filters: Filters, only: Collection[str] | None) -> list[str] | None:
        if filters.empty and only is None:
            return None
        ids = self.catalog.allowed(filters)
        if only is not None:
            keep = set(only)
            ids = [i for i in ids if i in keep]
        return ids

    @staticmethod
    def _needs_ids(filters: Filters, only: Collection[str] | None) -> bool:
        # Chroma compares dates only as numbers and has no substring match on list items.
        return only is not None or bool(filters.date_from or filters.date_to or filters.author)
