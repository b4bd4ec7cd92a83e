"""The Ray bench's hash embedder (``--hash-embedder``): what replaces the model in its actors."""

from __future__ import annotations

import numpy as np
import pytest

from paperchat.eval import bench_ray
from paperchat.ingest.embedder import Embedder


def test_hash_embed_gives_the_same_unit_vector_for_the_same_text() -> None:
    vectors = bench_ray.hash_embed(["a sentence", "another one", "a sentence"], 384)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(vectors[0], vectors[2]) and not np.allclose(vectors[0], vectors[1])
    assert np.array_equal(vectors[0], bench_ray.hash_embed(["a sentence"], 384)[0])
    assert bench_ray.hash_embed([], 384).shape == (0, 384)


def test_the_hook_replaces_embed_at_the_models_dimension(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def model(self: Embedder, texts: list[str]) -> np.ndarray:  # stands for the model
        asked.append(texts)
        return np.ones((len(texts), 7), dtype=np.float32)

    monkeypatch.setattr(Embedder, "embed", model)
    bench_ray.use_hash_embedder()  # monkeypatch puts the original embed back afterwards
    embedder = Embedder.__new__(Embedder)
    embedder.name = "some model"
    first = embedder.embed(["x", "y"])
    assert np.array_equal(first, bench_ray.hash_embed(["x", "y"], 7))
    assert np.array_equal(embedder.embed(["x"])[0], first[0])
    assert asked == [["dimension"]]  # the model is asked its dimension once, then never again
