"""BM25 over whole papers (title + abstract), kept beside the store and keyed by its revision.

bm25s scores with sparse matrices, so a query costs time in the number of matching documents,
not in the size of the corpus scanned in Python. ``LexicalIndex`` is one index;
``LexicalCache`` keeps a store's index current: in memory, else loaded from its folder, else
rebuilt from the store's papers when the store's revision has moved on.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

# bm25s's own token pattern: words of two or more word characters.
_WORD = re.compile(r"(?u)\b\w\w+\b")

_STEMMER = None


def _stemmer():
    global _STEMMER
    if _STEMMER is None:
        import Stemmer

        _STEMMER = Stemmer.Stemmer("english")
    return _STEMMER


@dataclass
class LexicalIndex:
    """A BM25 index and the paper ids of its rows."""

    paper_ids: list[str]
    revision: str
    _bm25: object
    _row: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, paper_ids: list[str], texts: list[str], revision: str) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False)
            retriever.index(tokens, show_progress=False)
        return cls(list(paper_ids), revision, retriever)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Best ``k`` papers for ``query`` as (paper id, BM25 score), best first; zero scores
        dropped."""
        import bm25s

        if not self.paper_ids:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=_stemmer(), show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        k = min(k, len(self.paper_ids))
        docs, scores = self._bm25.retrieve(  # type: ignore[attr-defined]
            tokens, k=k, show_progress=False, n_threads=1
        )
        out = []
        for doc, score in zip(docs[0], scores[0], strict=True):
            if score > 0:
                out.append((self.paper_ids[int(doc)], float(score)))
        return out

    def document_share(self, text: str) -> float:
        """Share of papers that hold the rarest of ``text``'s terms (0.0 when one is unknown)."""
        import bm25s

        if not self.paper_ids:
            return 0.0
        tokens = bm25s.tokenize(
            [text], stopwords="en", stemmer=_stemmer(), show_progress=False, return_ids=False
        )[0]
        vocab, indptr = self._bm25.vocab_dict, self._bm25.scores["indptr"]  # type: ignore[attr-defined]
        counts = [int(indptr[vocab[t] + 1] - indptr[vocab[t]]) if t in vocab else 0 for t in tokens]
        return min(counts, default=0) / len(self.paper_ids)

    # -- term statistics (question analysis reads these; no corpus scan per question) ---------

    @property
    def n_docs(self) -> int:
        return len(self.paper_ids)

    @staticmethod
    def terms(text: str) -> list[tuple[str, str]]:
        """(word, stem) for each word of ``text`` as BM25 sees it (lower-cased, stemmed)."""
        stemmer = _stemmer()
        return [(w, stemmer.stemWord(w)) for w in _WORD.findall(text.lower())]

    def doc_freq(self, stem: str) -> int:
        """Number of papers holding ``stem`` (a stemmed term, see :meth:`terms`)."""
        if not self.paper_ids:
            return 0
        tid = self._bm25.vocab_dict.get(stem)  # type: ignore[attr-defined]
        if tid is None:
            return 0
        indptr = self._bm25.scores["indptr"]  # type: ignore[attr-defined]
        return int(indptr[tid + 1] - indptr[tid])

    def idf(self, stem: str) -> float:
        """Lucene's BM25 idf; a term no paper holds gets the idf of a term held by one."""
        n = self.n_docs
        df = max(self.doc_freq(stem), 1)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def docs_with(self, stem: str) -> np.ndarray:
        """Row numbers (into ``paper_ids``) of the papers holding ``stem``."""
        if not self.paper_ids:
            return np.empty(0, dtype=np.int64)
        tid = self._bm25.vocab_dict.get(stem)  # type: ignore[attr-defined]
        if tid is None:
            return np.empty(0, dtype=np.int64)
        scores = self._bm25.scores  # type: ignore[attr-defined]
        return np.asarray(scores["indices"][scores["indptr"][tid]:scores["indptr"][tid + 1]])

    def papers_with_all(self, stems: list[str], limit: int | None = None) -> list[str]:
        """Ids of the papers holding every one of ``stems`` (at most ``limit``)."""
        rows: np.ndarray | None = None
        for stem in sorted(set(stems), key=self.doc_freq):
            found = self.docs_with(stem)
            rows = found if rows is None else np.intersect1d(rows, found, assume_unique=True)
            if not len(rows):
                return []
        if rows is None:
            return []
        return [self.paper_ids[int(r)] for r in rows[:limit]]

    def holds(self, paper_id: str, stem: str) -> bool:
        """Whether paper ``paper_id`` holds ``stem``."""
        if not self._row:
            self._row = {pid: i for i, pid in enumerate(self.paper_ids)}
        row = self._row.get(paper_id)
        if row is None:
            return False
        found = self.docs_with(stem)
        i = int(np.searchsorted(found, row))
        return i < len(found) and int(found[i]) == row

    def vocabulary(self) -> list[str]:
        """Every stemmed term, sorted (for prefix look-ups)."""
        if not self.paper_ids:
            return []
        return sorted(self._bm25.vocab_dict)  # type: ignore[attr-defined]

    def save(self, folder: Path) -> None:
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.paper_ids:
            self._bm25.save(str(tmp / "bm25"))  # type: ignore[attr-defined]
        (tmp / "meta.json").write_text(
            json.dumps({"revision": self.revision, "paper_ids": self.paper_ids})
        )
        # Swap in whole, so a reader never sees half an index.
        old = folder.with_name(folder.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | None:
        """The saved index, or None when there is none or it cannot be read."""
        import bm25s

        try:
            meta = json.loads((folder / "meta.json").read_text())
            retriever = bm25s.BM25.load(str(folder / "bm25")) if meta["paper_ids"] else bm25s.BM25()
        except (OSError, ValueError, KeyError):
            return None
        return cls(meta["paper_ids"], meta["revision"], retriever)


class Titled(Protocol):
    """What the index reads of a paper."""

    title: str
    abstract: str


class LexicalCache:
    """The BM25 index of one store, kept at the store's revision.

    The store's revision changes with every write (any process's, on a shared Chroma server),
    so an index whose revision differs is stale: it is rebuilt from the papers and saved to
    ``folder`` for the next process. Safe to share between threads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._index: LexicalIndex | None = None
        self._lock = threading.Lock()

    def current(
        self, revision: str, papers: Callable[[], Mapping[str, Titled]]
    ) -> LexicalIndex:
        """The index at ``revision``: the one in memory, the saved one, or one built anew from
        ``papers()`` (called only then)."""
        with self._lock:
            if self._index is not None and self._index.revision == revision:
                return self._index
            index = LexicalIndex.load(self.folder)
            if index is None or index.revision != revision:
                index = build(papers(), revision)
                index.save(self.folder)
            self._index = index
            return index

    def remove(self) -> None:
        """Forget the index, on disk too (the store is being rebuilt)."""
        with self._lock:
            self._index = None
            shutil.rmtree(self.folder, ignore_errors=True)


def build(papers: Mapping[str, Titled], revision: str) -> LexicalIndex:
    """An index of these papers (title and abstract), rows in paper-id order."""
    ids = sorted(papers)
    return LexicalIndex.build(ids, [f"{papers[i].title}\n{papers[i].abstract}" for i in ids],
                              revision)


def index_folder(home: Path, collection: str) -> Path:
    """Where the BM25 index of ``collection`` is saved."""
    return home / f"bm25-{collection}"
