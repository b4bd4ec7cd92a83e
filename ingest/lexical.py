"""BM25 over whole papers (title + abstract), kept beside the store and keyed by its revision.

bm25s scores with sparse matrices, so a query costs time in the number of matching documents,
not in the size of the corpus scanned in Python.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

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

    @classmethod
    def build(cls, paper_ids: list[str], texts: list[str], revision: str) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False)
            retriever.index(tokens, show_progress=False)
        return cls(list(paper_ids), revision, retriever)

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Best ``k`` papers for ``query`` as (paper id, BM25 score), best first; 0 scores dropped."""
        import bm25s

        if not self.paper_ids:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=_stemmer(), show_progress=False)
        if not tokens.ids or not tokens.ids[0]:
            return []
        k = min(k, len(self.paper_ids))
        docs, scores = self._bm25.retrieve(tokens, k=k, show_progress=False, n_threads=1)  # type: ignore[attr-defined]
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
