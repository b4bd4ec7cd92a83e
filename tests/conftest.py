"""Shared fixtures: an isolated home for every test, one ONNX export and one real-corpus store
per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperchat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
FIXTURES = Path(__file__).resolve().parent / "data"
CACHE_VARIABLE = "PAPERCHAT_INGEST__CACHE_DIR"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(scope="session", autouse=True)
def session_onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ONNX export of the embedding model lives in a folder of this test session: exported
    once, shared by every test and the processes they start, never written to the user's
    ~/.cache/paperchat."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_VARIABLE, str(cache))
        yield cache


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, session_onnx_cache: Path
) -> Iterator[Path]:
    """Every test gets its own PAPERCHAT_HOME and no stray PAPERCHAT_* settings from the shell
    (the session's ONNX cache folder stays)."""
    for name in list(os.environ):
        if name.startswith("PAPERCHAT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv(CACHE_VARIABLE, str(session_onnx_cache))
    home = tmp_path / "home"
    monkeypatch.setenv("PAPERCHAT_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    yield home


@pytest.fixture(scope="session")
def corpus_home(tmp_path_factory: pytest.TempPathFactory, session_onnx_cache: Path) -> Path:
    """A store holding the whole bundled corpus, built once per test session (about a minute)."""
    from paperchat.ingest.pipeline import run_ingest

    home = tmp_path_factory.mktemp("corpus") / "home"
    summary = run_ingest(Settings(home=home), [DATA])
    assert summary.papers == 624 and summary.added == 624, summary
    return home


@pytest.fixture
def corpus_settings(corpus_home: Path) -> Settings:
    """Settings pointing at the session's real-corpus store. Do not write to it."""
    return Settings(home=corpus_home)


@pytest.fixture
def tiny_settings(isolated_home: Path) -> Settings:
    return Settings(home=isolated_home)
