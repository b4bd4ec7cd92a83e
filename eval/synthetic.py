"""Deterministic synthetic corpora for scale runs: real sentences of the bundled corpus, recombined.

A synthetic paper takes 5-9 sentences drawn (fixed seed) from all abstracts and a title made of
words of real titles. Its chunk vectors are composed from the real embeddings of its sentences
(the normalised sum), so a 100k-paper store can be built on a 2-core machine in minutes; the
time a real embedding of those chunks would take is measured separately (ingest throughput) and
reported beside it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from paperchat.ingest.chunking import Chunk
from paperchat.ingest.records import Paper
from paperchat.rag.sentences import split_sentences

SEED = 20261123
SENTENCES_PER_CHUNK = 4


@dataclass
class SyntheticCorpus:
    papers: list[Paper]
    chunks: list[Chunk]
    sentence_ids: list[list[int]]  # per chunk, indexes into the sentence pool


def sentence_pool(papers: list[Paper]) -> tuple[list[str], list[str]]:
    """All sentences of all abstracts, and all title words."""
    sentences = [s for p in papers for s in split_sentences(p.abstract) if len(s) > 30]
    words = [w for p in papers for w in p.title.split() if w.isalpha()]
    return sentences, words


def make_corpus(
    n: int, sentences: list[str], words: list[str], seed: int = SEED
) -> SyntheticCorpus:
    rng = random.Random(seed)
    papers, chunks, ids = [], [], []
    for i in range(n):
        picked = rng.sample(range(len(sentences)), rng.randint(5, 9))
        title = f"{' '.join(rng.sample(words, rng.randint(5, 10)))} ({i})"
        paper = Paper(
            title=title,
            abstract=" ".join(sentences[j] for j in picked),
            sources=[f"synthetic-{n}.jsonl"],
        )
        papers.append(paper)
        for c, start in enumerate(range(0, len(picked), SENTENCES_PER_CHUNK)):
            part = picked[start : start + SENTENCES_PER_CHUNK]
            text = " ".join(sentences[j] for j in part)
            chunks.append(Chunk(paper.paper_id, c, text, f"{title}\n{text}"))
            ids.append(part)
    return SyntheticCorpus(papers, chunks, ids)


def composed_vectors(corpus: SyntheticCorpus, sentence_vectors: np.ndarray) -> np.ndarray:
    """Each chunk's vector: the normalised sum of its sentences' real embeddings."""
    out = np.stack([sentence_vectors[ids].sum(axis=0) for ids in corpus.sentence_ids])
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)
