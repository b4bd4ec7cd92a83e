"""Shared fixtures: an isolated home for every test, and one real-corpus store per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperchat.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
FIXTURES = Path(__file__).resolve().parent / "data"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own PAPERCHAT_HOME and no stray PAPERCHAT_* settings from the shell."""
    for name in list(os.environ):
        if name.startswith("PAPERCHAT_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("PAPERCHAT_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    yield home


@pytest.fixture(scope="session")
def corpus_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
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
