"""Ingest into a real Chroma store with the real embedding model: incremental, idempotent, safe."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperchat.cli import app
from paperchat.errors import ModelMismatch, StoreMissing
from paperchat.ingest.pipeline import WRITE_GROUP, run_ingest
from paperchat.settings import Settings

from .conftest import DATA, FIXTURES
from .processes import ingest_stopped_after_writes

TINY = FIXTURES / "tiny"


def copy_tiny(dest: Path) -> Path:
    shutil.copytree(TINY, dest)
    return dest


def test_chunks_fit_the_model_carry_the_title_and_point_to_their_paper(
    tiny_settings: Settings,
) -> None:
    run_ingest(tiny_settings, [TINY])
    store = tiny_settings.store()
    embedder = tiny_settings.embedder
    got = store.collection.get(include=["documents", "metadatas"])
    assert len(got["ids"]) >= 6
    papers = store.papers()
    for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
        title = papers[meta["paper_id"]].title
        assert cid == f"{meta['paper_id']}#{meta['chunk']}"
        assert meta["title"] == title
        assert embedder.count_tokens(f"{title}\n{doc}") <= embedder.max_tokens == 256
    # The chunks of a paper put back together are its abstract: nothing was cut off.
    chunks = store.chunks_of(list(papers))
    for pid, paper in papers.items():
        assert " ".join(chunks[pid]).split() == paper.abstract.split()


def test_vectors_are_unit_length_and_the_store_records_the_model(tiny_settings: Settings) -> None:
    run_ingest(tiny_settings, [TINY])
    store = tiny_settings.store()
    got = store.collection.get(include=["embeddings"], limit=3)
    for vector in got["embeddings"]:
        assert abs(sum(x * x for x in vector) - 1.0) < 1e-4
    assert store.meta["embed_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert store.meta["embed_dim"] == 384


def test_a_second_run_on_unchanged_input_embeds_nothing(tiny_settings: Settings) -> None:
    first = run_ingest(tiny_settings, [TINY])
    second = run_ingest(tiny_settings, [TINY])
    assert (first.added, first.papers) == (6, 6)
    assert (second.added, second.updated, second.unchanged, second.chunks_written) == (0, 0, 6, 0)
    assert second.chunks_in_store == first.chunks_in_store


def test_a_changed_abstract_replaces_that_papers_chunks_without_orphans(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    src = copy_tiny(tmp_path / "src")
    before = run_ingest(tiny_settings, [src])
    text = (src / "daily.txt").read_text()
    sparse_abstract = next(
        line for line in text.splitlines() if line.startswith("We consider the problem")
    )
    new_abstract = "We make sparse LLMs fast on CPUs. " * 10  # one chunk instead of two
    (src / "daily.txt").write_text(text.replace(sparse_abstract, new_abstract))
    after = run_ingest(tiny_settings, [src])
    assert (after.added, after.updated, after.unchanged) == (0, 1, 5)
    store = tiny_settings.store()
    sparse = next(p for p in store.papers().values() if p.title.startswith("Sparse Finetuning"))
    assert store.chunks_of([sparse.paper_id])[sparse.paper_id] == [new_abstract.strip()]
    assert after.chunks_in_store < before.chunks_in_store  # the long abstract's extra chunk is gone
    assert store.count() == sum(len(c) for c in store.chunks_of(list(store.papers())).values())


def test_a_new_file_adds_only_its_new_papers(tiny_settings: Settings, tmp_path: Path) -> None:
    run_ingest(tiny_settings, [TINY / "daily.txt"])
    extra = run_ingest(tiny_settings, [TINY / "daily.txt", TINY / "more.jsonl"])
    assert (extra.added, extra.unchanged) == (1, 2)


def test_a_paper_seen_in_one_more_file_updates_its_sources_without_re_embedding(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    run_ingest(tiny_settings, [TINY / "daily.txt"])
    shutil.copy(TINY / "daily.txt", tmp_path / "again.txt")
    summary = run_ingest(tiny_settings, [TINY / "daily.txt", tmp_path / "again.txt"])
    assert (summary.updated, summary.chunks_written) == (2, 0)
    for paper in tiny_settings.store().papers().values():
        assert paper.sources == ["daily.txt", "again.txt"]


def test_rebuild_starts_over(tiny_settings: Settings) -> None:
    run_ingest(tiny_settings, [TINY])
    summary = run_ingest(tiny_settings, [TINY / "more.csv"], rebuild=True)
    assert (summary.added, summary.papers, tiny_settings.store().count()) == (
        1,
        1,
        summary.chunks_in_store,
    )
    assert len(tiny_settings.store().papers()) == 1


def test_prune_removes_papers_no_longer_in_the_sources(tiny_settings: Settings) -> None:
    run_ingest(tiny_settings, [TINY])
    summary = run_ingest(tiny_settings, [TINY / "more.csv"], prune=True)
    assert summary.removed == 5
    assert len(tiny_settings.store().papers()) == 1


def test_a_store_built_with_another_model_is_refused(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    run_ingest(tiny_settings, [TINY / "more.csv"])
    other = tmp_path / "other-model"
    other.mkdir()
    mismatched = tiny_settings.with_overrides(ingest={"model": str(other)})
    with pytest.raises(ModelMismatch, match=r"all-MiniLM-L6-v2.*other-model"):
        mismatched.store()


def test_changed_chunking_asks_for_a_rebuild(tiny_settings: Settings) -> None:
    run_ingest(tiny_settings, [TINY / "more.csv"])
    with pytest.raises(ModelMismatch, match="--rebuild"):
        run_ingest(tiny_settings.with_overrides(ingest={"chunk_tokens": 128}), [TINY / "more.csv"])
    rebuilt = run_ingest(
        tiny_settings.with_overrides(ingest={"chunk_tokens": 128}),
        [TINY / "more.csv"],
        rebuild=True,
    )
    assert rebuilt.added == 1


def test_reading_a_store_that_does_not_exist_says_how_to_build_it(tiny_settings: Settings) -> None:
    with pytest.raises(StoreMissing, match="paperchat ingest"):
        tiny_settings.store()


def test_bm25_index_follows_the_store(tiny_settings: Settings, tmp_path: Path) -> None:
    run_ingest(tiny_settings, [TINY / "daily.txt"])
    hits = tiny_settings.store().lexical().search("partial channel architecture search", 3)
    assert hits and tiny_settings.store().papers()[hits[0][0]].title.startswith("PC-DARTS")
    run_ingest(tiny_settings, [TINY])
    assert len(tiny_settings.store().lexical().paper_ids) == 6


# -- the real corpus ------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_bundled_corpus_ingests_624_papers_and_a_rerun_embeds_nothing(
    corpus_home: Path,
) -> None:
    result = CliRunner().invoke(
        app, ["ingest", str(DATA), "--json", "-q"], env={"PAPERCHAT_HOME": str(corpus_home)}
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["papers"] == 624 and summary["entries"] == 689
    assert (summary["unchanged"], summary["added"], summary["chunks_written"]) == (624, 0, 0)
    settings = Settings(home=corpus_home)
    held = settings.store().inventory()
    assert len(held) == 624 and all(h.complete for h in held.values())


@pytest.mark.slow
def test_an_ingest_killed_midway_and_run_again_leaves_a_complete_store(
    tmp_path: Path, corpus_home: Path
) -> None:
    ingest_stopped_after_writes([str(DATA)], {"PAPERCHAT_HOME": str(tmp_path / "home")})
    killed = Settings(home=tmp_path / "home")
    held = killed.store().inventory()
    assert len(held) == WRITE_GROUP and all(h.complete for h in held.values())  # whole papers

    summary = run_ingest(killed, [DATA])
    expected = Settings(home=corpus_home).store()
    store = killed.store()
    ids = store.collection.get(include=[])["ids"]
    assert len(ids) == len(set(ids)) == expected.count()
    assert (summary.unchanged, summary.added) == (WRITE_GROUP, 624 - WRITE_GROUP)
    assert all(h.complete for h in store.inventory().values())
    assert len(store.lexical().paper_ids) == 624
    # every paper has all of its sentences, once: written before its chunks, deleted with them
    sentences = store.sentences.collection().get(include=[])["ids"]  # type: ignore[union-attr]
    assert len(sentences) == len(set(sentences)) == expected.sentences.collection().count()
    assert store.papers_with_sentences() == set(store.papers())


def test_reads_of_the_whole_store_come_in_pages(
    tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paperchat.ingest import store as store_module

    run_ingest(tiny_settings, [TINY])
    monkeypatch.setattr(store_module, "GET_PAGE", 2)  # 100k papers in one get() overflow SQLite
    store = tiny_settings.store()
    assert len(store.papers()) == 6
    assert len(store.inventory()) == 6 and all(h.complete for h in store.inventory().values())


def test_ingest_stores_each_abstract_sentence_with_its_role_and_vector(
    tiny_settings: Settings, tmp_path: Path
) -> None:
    from paperchat.rag.sentences import split_sentences

    run_ingest(tiny_settings, [TINY])
    store = tiny_settings.store()
    papers = store.papers()
    held = store.sentences_of(list(papers))
    assert set(held) == set(papers)
    for pid, paper in papers.items():
        assert held[pid].sentences == split_sentences(paper.abstract)
        assert set(held[pid].roles) <= {"problem", "method", "result", "other"}
        assert held[pid].vectors.shape == (len(held[pid].sentences), 384)
    # read by id (each paper's sentence count known from its abstract): the same sentences
    counts = {pid: len(split_sentences(p.abstract)) for pid, p in papers.items()}
    by_id = store.sentences_of(list(papers), counts)
    assert {pid: (h.sentences, h.roles) for pid, h in by_id.items()} == \
        {pid: (h.sentences, h.roles) for pid, h in held.items()}
    # a changed abstract replaces its sentences; a pruned paper takes them along
    first = sorted(papers)[0]
    store.delete([first])
    assert first not in store.sentences_of([first])


def test_a_store_built_before_sentences_were_stored_gets_them_on_the_next_ingest(
    tiny_settings: Settings,
) -> None:
    run_ingest(tiny_settings, [TINY])
    store = tiny_settings.store()
    store.sentences.drop()  # as a store from before this feature
    assert store.sentences_of(list(store.papers())) == {}
    summary = run_ingest(tiny_settings, [TINY])
    assert summary.chunks_written == 0  # chunks untouched, only sentences embedded
    assert tiny_settings.store().papers_with_sentences() == set(store.papers())
