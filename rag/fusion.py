"""Fusing ranked lists from several retrievers into one ranking."""

from __future__ import annotations

from collections.abc import Sequence


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None
) -> dict[str, float]:
    """RRF: each list adds ``weight / (k + rank)`` (rank from 1) to the score of the ids it holds.

    Rank-based, so it needs no calibration between cosine similarities and BM25 scores.
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


def relative_score_fusion(
    scored: Sequence[dict[str, float]], weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Min-max normalise each retriever's scores over its own candidates, then add them weighted.

    Unlike RRF it keeps how far apart the candidates are: a paper BM25 scores far above the rest
    is not overtaken by one that is merely second in both lists. (Weaviate's relativeScoreFusion.)
    """
    weights = weights or [1.0] * len(scored)
    fused: dict[str, float] = {}
    for scores, weight in zip(scored, weights, strict=True):
        if not scores:
            continue
        low, high = min(scores.values()), max(scores.values())
        span = high - low
        for item, score in scores.items():
            norm = (score - low) / span if span > 0 else 1.0
            fused[item] = fused.get(item, 0.0) + weight * norm
    return fused
