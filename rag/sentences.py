"""Abstract sentences and their embeddings, split and embedded on first use and kept in an LRU.

The extractive answerer and the citation checks both compare a question or a claim with the
sentences of a few retrieved abstracts. Embedding those sentences is the costly part, so each
paper's sentences are embedded once (in one batch with the other papers missing from the cache),
kept in memory while the paper keeps being retrieved, and saved beside the store, keyed by the
model and the abstract's text, so that later processes need not embed them again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ingest.embedder import Embedder

_log = logging.getLogger(__name__)

# Abbreviations whose full stop does not end a sentence.
_ABBREVIATIONS = re.compile(
    r"\b(e\.g|i\.e|et al|etc|vs|cf|Fig|Figs|Eq|Eqs|Sec|Tab|approx|resp|No|Dr|Mr|Ms|St)\.",
    re.IGNORECASE,
)
_DOT = "\u2024"  # one-dot leader: stands in for a protected full stop while splitting
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")
# Discourse openers that can be dropped without changing what a sentence claims.
_OPENERS = re.compile(
    r"^(?:however|moreover|furthermore|additionally|in addition|specifically|to this end|"
    r"nevertheless|nonetheless|yet|instead|in contrast|on the other hand|"
    r"finally|consequently|therefore|thus|hence|notably|importantly|in particular|"
    r"in this (?:paper|work|study)|in this regard|as a result|overall|besides|meanwhile|"
    r"to address (?:this|these)(?: issues?| challenges?| limitations?| problems?| gaps?)?|"
    r"to tackle (?:this|these)(?: issues?| challenges?)?|building on this)\s*,\s*",
    re.IGNORECASE,
)


def split_sentences(text: str) -> list[str]:
    """Sentences of an abstract, in order; abbreviations and decimals do not split."""
    text = " ".join(text.split())
    if not text:
        return []
    protected = _ABBREVIATIONS.sub(lambda m: m.group(0)[:-1] + _DOT, text)
    protected = re.sub(r"(?<=\d)\.(?=\d)", _DOT, protected)
    parts = _BOUNDARY.split(protected)
    return [p.replace(_DOT, ".").strip() for p in parts if p.strip()]


def shorten(sentence: str) -> str:
    """A faithful shortening: the sentence without a leading discourse opener ("However, ")."""
    short = _OPENERS.sub("", sentence, count=1)
    if short != sentence and short:
        short = short[0].upper() + short[1:]
    return short


@dataclass(frozen=True)
class PaperSentences:
    paper_id: str
    sentences: list[str]
    vectors: np.ndarray  # (len(sentences), dim), unit length


class SentenceBank:
    """Per-paper sentence splits and embeddings: computed on first use, kept in a bounded LRU
    and, when given a folder, on disk (so the next process starts warm)."""

    def __init__(
        self, embedder: Embedder, folder: Path | None = None, capacity: int = 4096
    ) -> None:
        self.embedder = embedder
        self.folder = folder
        self.capacity = capacity
        self._cache: OrderedDict[str, PaperSentences] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, paper_id: str, abstract: str) -> str:
        digest = hashlib.sha1(f"{self.embedder.name}\n{abstract}".encode()).hexdigest()[:16]
        return f"{paper_id}-{digest}"

    def get(self, papers: Sequence[tuple[str, str]]) -> dict[str, PaperSentences]:
        """Sentences of each (paper_id, abstract); the missing ones are embedded in one batch."""
        out: dict[str, PaperSentences] = {}
        missing: list[tuple[str, str, str]] = []
        for pid, abstract in papers:
            key = self.key(pid, abstract)
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
            if hit is None:
                hit = self._load(key, pid)
                if hit is not None:
                    self._remember(key, hit)
            if hit is None:
                missing.append((pid, abstract, key))
            else:
                out[pid] = hit
        if missing:
            splits = [split_sentences(abstract) for _, abstract, _ in missing]
            vectors = self.embedder.embed([s for sents in splits for s in sents])
            start = 0
            for (pid, _, key), sents in zip(missing, splits, strict=True):
                entry = PaperSentences(pid, sents, vectors[start:start + len(sents)])
                start += len(sents)
                self._remember(key, entry)
                self._save(key, entry)
                out[pid] = entry
        return out

    def warm(self, papers: Sequence[tuple[str, str]], batch: int = 64,
             stop: threading.Event | None = None) -> int:
        """Embed every paper not cached yet, in batches, until done or ``stop`` is set; returns
        how many papers were embedded."""
        todo = [(pid, abstract) for pid, abstract in papers
                if not self._has(self.key(pid, abstract))]
        done = 0
        for start in range(0, len(todo), batch):
            if stop is not None and stop.is_set():
                break
            self.get(todo[start:start + batch])
            done += len(todo[start:start + batch])
        return done

    def _has(self, key: str) -> bool:
        with self._lock:
            if key in self._cache:
                return True
        return self.folder is not None and (self.folder / f"{key}.npz").is_file()

    def _remember(self, key: str, entry: PaperSentences) -> None:
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)

    def _load(self, key: str, paper_id: str) -> PaperSentences | None:
        if self.folder is None:
            return None
        try:
            with np.load(self.folder / f"{key}.npz") as data:
                return PaperSentences(paper_id, [str(s) for s in data["sentences"]],
                                      np.asarray(data["vectors"], dtype=np.float32))
        except (OSError, ValueError, KeyError):  # absent, or half-written by a killed process
            return None

    def _save(self, key: str, entry: PaperSentences) -> None:
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".{key}.{os.getpid()}.{threading.get_ident()}.npz"
            np.savez(tmp, sentences=np.array(entry.sentences, dtype=str), vectors=entry.vectors)
            os.replace(tmp, self.folder / f"{key}.npz")  # readers never see half a file
        except OSError as exc:  # a read-only home only costs speed: the LRU holds the entry
            _log.warning("cannot save sentence vectors in %s: %s", self.folder, exc)
