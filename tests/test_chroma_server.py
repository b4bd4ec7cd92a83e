"""The team deployment: paperchat against a real `chroma run` server, faults included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperchat.cli import app
from paperchat.errors import StoreUnavailable
from paperchat.ingest.pipeline import WRITE_GROUP, run_ingest
from paperchat.settings import Settings

from .chroma_server import ChromaServer
from .conftest import DATA, FIXTURES
from .processes import ingest_stopped_after_writes

pytestmark = pytest.mark.slow
TINY = FIXTURES / "tiny"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ChromaServer]:
    srv = ChromaServer(tmp_path / "chroma-server").start()
    yield srv
    srv.kill()


def test_ingest_and_read_through_a_chroma_server(server: ChromaServer, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "a", chroma_url=server.url)
    first = run_ingest(settings, [TINY])
    assert (first.added, first.store) == (6, server.url)
    # A second process (its own home, so its own BM25 cache) sees the same store.
    other = Settings(home=tmp_path / "b", chroma_url=server.url)
    assert run_ingest(other, [TINY]).unchanged == 6
    store = other.store()
    assert len(store.papers()) == 6
    hits = store.lexical().search("partial channel connections architecture search", 1)
    assert store.papers()[hits[0][0]].title.startswith("PC-DARTS")
    vector = other.embedder.embed_query("memory-efficient neural architecture search")
    assert store.papers()[store.dense(vector, 1)[0].paper_id].title.startswith("PC-DARTS")


def test_bm25_of_another_process_follows_a_write_to_the_server(
    server: ChromaServer, tmp_path: Path
) -> None:
    writer = Settings(home=tmp_path / "writer", chroma_url=server.url)
    reader = Settings(home=tmp_path / "reader", chroma_url=server.url).store
    run_ingest(writer, [TINY / "daily.txt"])
    reading = reader()
    assert len(reading.lexical().paper_ids) == 2
    run_ingest(writer, [TINY])
    assert len(reading.lexical().paper_ids) == 6  # same store object, new revision noticed


def test_the_name_index_of_another_process_follows_a_write_to_the_server(
    server: ChromaServer, tmp_path: Path
) -> None:
    from paperchat.rag.engine import Engine

    writer = Settings(home=tmp_path / "writer", chroma_url=server.url)
    run_ingest(writer, [TINY / "daily.txt"])
    reader = Engine(Settings(home=tmp_path / "reader", chroma_url=server.url))
    assert reader.analyzer().names.lookup("MiniCPM") == []
    run_ingest(writer, [TINY])  # adds the MiniCPM paper, its name in the chunk metadata
    minicpm = reader.analyzer().names.lookup("MiniCPM")
    assert len(minicpm) == 1
    assert reader.paper(minicpm[0]).title.startswith("MiniCPM")


def test_a_server_that_dies_gives_a_clear_error_and_recovers_when_back(
    server: ChromaServer, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "a", chroma_url=server.url)
    run_ingest(settings, [TINY / "more.csv"])
    store = settings.store()
    server.kill()
    with pytest.raises(StoreUnavailable, match=server.url.replace(".", r"\.")):
        store.count()
    env = {"PAPERCHAT_HOME": str(tmp_path / "a"), "PAPERCHAT_CHROMA_URL": server.url}
    result = CliRunner().invoke(app, ["ingest", str(TINY), "-q"], env=env)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a message, no crash
    assert f"Chroma server at {server.url}" in result.stderr
    server.start()
    assert store.count() > 0  # the same object works again once the server is back
    result = CliRunner().invoke(app, ["ingest", str(TINY), "-q", "--json"], env=env)
    assert result.exit_code == 0 and result.exception is None, result.output
    assert json.loads(result.stdout)["added"] == 5


def test_an_ingest_killed_midway_through_the_server_is_completed_by_the_next_run(
    server: ChromaServer, tmp_path: Path, corpus_home: Path
) -> None:
    env = {"PAPERCHAT_HOME": str(tmp_path / "a"), "PAPERCHAT_CHROMA_URL": server.url}
    ingest_stopped_after_writes([str(DATA)], env)
    settings = Settings(home=tmp_path / "a", chroma_url=server.url)
    held = settings.store().inventory()
    assert len(held) == WRITE_GROUP and all(h.complete for h in held.values())
    expected = Settings(home=corpus_home).store().count()
    summary = run_ingest(settings, [DATA])
    ids = settings.store().collection.get(include=[])["ids"]
    assert len(ids) == len(set(ids)) == expected  # every chunk once: no duplicates, none lost
    assert (summary.unchanged, summary.added) == (WRITE_GROUP, 624 - WRITE_GROUP)
    assert all(h.complete for h in settings.store().inventory().values())
