"""`ingest --engine ray`: the same store as the local path, built on a real local Ray cluster,
through a `ray start` cluster into a real `chroma run`, and through killed workers and drivers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from paperchat.ingest.pipeline import run_ingest
from paperchat.ingest.records import Paper
from paperchat.ingest.shards import plan, read_part
from paperchat.ingest.sources import collect
from paperchat.settings import Settings

from .chroma_server import ChromaServer, free_port
from .conftest import DATA, FIXTURES, ROOT
from .processes import ingest_stopped_after_writes

TINY = FIXTURES / "tiny"
ONE_FILE = sorted(DATA.iterdir())[0]  # about 125 papers of the bundled corpus
QUESTIONS = [
    "Which papers reduce the memory of the KV cache during LLM inference, and how?",
    "How can speculative decoding speed up generation?",
    "What methods compress large language models with quantization?",
    "How do mixture-of-experts models route tokens?",
    "Which papers study retrieval-augmented generation?",
    "How are vision-language models evaluated?",
    "What limits the speed of LLM inference on edge devices?",
    "How can diffusion models generate video?",
    "Which approaches align language models with human preferences?",
    "How do agents use tools to solve tasks?",
    "What benchmarks measure mathematical reasoning?",
    "How does protein folding work?",  # refused: the corpus has no paper on it
]


def on_ray(settings: Settings, **ray: Any) -> Settings:
    return settings.with_overrides(ingest={"engine": "ray"}, ray=ray)


def snapshot(settings: Settings) -> dict[str, tuple[str, dict[str, Any], np.ndarray]]:
    """Every chunk of a store: id -> (text, metadata, vector)."""
    got = settings.store().collection.get(include=["documents", "metadatas", "embeddings"])
    return {
        cid: (doc, meta, np.asarray(vec))
        for cid, doc, meta, vec in zip(
            got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
        )
    }


def assert_same_chunks(ours: dict[str, Any], theirs: dict[str, Any], *, metadata: bool) -> None:
    assert sorted(ours) == sorted(theirs)
    for cid, (text, meta, vector) in ours.items():
        text2, meta2, vector2 = theirs[cid]
        assert text == text2, cid
        if metadata:
            assert meta == meta2, cid
        assert np.max(np.abs(vector - vector2)) < 1e-5, cid


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A real local Ray cluster for this module (2 CPUs, as on CI)."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


# -- reading in parts (no Ray needed) ---------------------------------------------------------


def test_a_jsonl_file_cut_into_parts_reads_as_the_local_path_reads_it(tmp_path: Path) -> None:
    source = tmp_path / "papers.jsonl"
    lines = (TINY / "more.jsonl").read_text().splitlines() * 40
    lines[7] = '{"title": "broken'  # not JSON
    lines[20] = '{"title": "No abstract here"}'
    latin1 = b'{"title": "caf\xe9", "abstract": "x"}\n'  # not UTF-8
    source.write_bytes("\n".join(lines).encode() + b"\n" + latin1)
    parts = plan([source], block_bytes=500).parts
    assert len(parts) > 5
    assert [p.first_line for p in parts] == [1] + [
        source.read_bytes()[: p.start].count(b"\n") + 1 for p in parts[1:]
    ]
    read = [item for part in parts for _, item in read_part(part)]
    local = collect([source])
    problems = [str(i) for i in read if not isinstance(i, Paper)]
    assert sorted(problems) == sorted(str(p) for p in local.problems)
    assert f"{source}:8: not JSON" in " ".join(problems)
    assert f"{source}:{len(lines) + 1}: bytes that are not UTF-8" in " ".join(problems)
    papers = [i for i in read if isinstance(i, Paper)]
    assert len(papers) == local.entries


def test_csv_and_daily_files_read_as_the_local_path_reads_them() -> None:
    read = [item for part in plan([TINY]).parts for _, item in read_part(part)]
    local = collect([TINY])
    assert len([i for i in read if isinstance(i, Paper)]) == local.entries
    assert sorted(str(i) for i in read if not isinstance(i, Paper)) == sorted(
        str(p) for p in local.problems
    )


def test_the_generator_writes_arxiv_snapshot_records(tmp_path: Path) -> None:
    from paperchat.eval.synth_arxiv import write

    path = write(300, tmp_path / "arxiv.jsonl")
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 300 and len({r["id"] for r in records}) == 300
    assert {"id", "title", "abstract", "authors", "categories", "update_date"} <= set(records[0])
    assert write(300, tmp_path / "again.jsonl").read_bytes() == path.read_bytes()
    collected = collect([path])
    assert (collected.entries, collected.problems) == (300, [])
    paper = collected.papers[0]
    assert paper.authors and paper.categories and paper.date == records[0]["update_date"]
    assert paper.url == f"https://arxiv.org/abs/{records[0]['id']}"


# -- on a real local Ray cluster --------------------------------------------------------------


_OBJECT_STORE = """
import ray
from paperchat.ingest.ray_ingest import ray_session
from paperchat.settings import Settings
with ray_session(Settings().with_overrides(ray={"num_cpus": 1, "object_store_mb": 128})):
    print(ray.cluster_resources()["object_store_memory"])
"""


@pytest.mark.slow
def test_the_local_clusters_object_store_is_the_size_the_settings_give() -> None:
    # In its own process: ray_session starts a cluster only where none is running.
    done = subprocess.run([sys.executable, "-c", _OBJECT_STORE], capture_output=True, text=True,
                          timeout=300, check=True)
    assert float(done.stdout.strip().splitlines()[-1]) == 128 * 1024 * 1024


@pytest.mark.slow
def test_ray_builds_the_same_store_as_the_local_path(
    ray_cluster: None, corpus_home: Path, tmp_path: Path
) -> None:
    from paperchat.rag.engine import Engine

    local = Settings(home=corpus_home)
    ray_home = on_ray(Settings(home=tmp_path / "ray"))
    summary = run_ingest(ray_home, [DATA])
    assert (summary.papers, summary.entries, summary.added, summary.skipped) == (624, 689, 624, 0)

    # Same ids, chunk texts and metadata (paper names, authors, sources, hashes: everything
    # the name index is built from), vectors within 1e-5.
    assert_same_chunks(snapshot(ray_home), snapshot(local), metadata=True)
    # Same BM25 index: papers and scores.
    ours, theirs = ray_home.store().lexical(), local.store().lexical()
    assert ours.paper_ids == theirs.paper_ids
    for query in ("KV cache quantization", "speculative decoding draft model", "robot policy"):
        mine, expected = ours.search(query, 10), theirs.search(query, 10)
        assert [pid for pid, _ in mine] == [pid for pid, _ in expected]
        assert [score for _, score in mine] == pytest.approx([score for _, score in expected])
    # Same abstract sentences, with their roles and vectors.
    mine_s, theirs_s = (st.store().sentences.collection().get(
        include=["documents", "metadatas", "embeddings"]) for st in (ray_home, local))
    order_m, order_t = (sorted(range(len(g["ids"])), key=g["ids"].__getitem__)
                        for g in (mine_s, theirs_s))
    assert [mine_s["ids"][i] for i in order_m] == [theirs_s["ids"][i] for i in order_t]
    assert len(order_m) > 5000
    for i, j in zip(order_m, order_t, strict=True):
        assert mine_s["documents"][i] == theirs_s["documents"][j]
        assert mine_s["metadatas"][i] == theirs_s["metadatas"][j]
    assert np.abs(np.asarray(mine_s["embeddings"])[order_m]
                  - np.asarray(theirs_s["embeddings"])[order_t]).max() < 1e-5
    # Same name index (gathered from the names each paper's metadata holds).
    a, b = Engine(ray_home), Engine(local)
    assert a.analyzer().names.defined == b.analyzer().names.defined
    assert len(a.analyzer().names) > 500
    # Same answers, citing the same papers.
    for question in QUESTIONS:
        mine, expected = a.answer(question), b.answer(question)
        assert mine.text == expected.text, question
        assert [c.paper_id for c in mine.citations] == [c.paper_id for c in expected.citations]

    again = run_ingest(ray_home, [DATA])
    assert (again.unchanged, again.added, again.updated, again.chunks_written) == (624, 0, 0, 0)


@pytest.mark.slow
def test_ray_follows_the_local_rules_hash_skip_metadata_updates_prune_rebuild_bad_records(
    ray_cluster: None, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    shutil.copytree(TINY, src)
    (src / "bad.jsonl").write_text('{"title": "A title only"}\nnot json\n')
    settings = on_ray(Settings(home=tmp_path / "home"))
    first = run_ingest(settings, [src])
    assert (first.added, first.papers, first.skipped) == (6, 6, 2)
    assert first.problems == [
        f"{src / 'bad.jsonl'}:1: missing field 'abstract' for 'A title only'",
        f"{src / 'bad.jsonl'}:2: not JSON (Expecting value at column 1)",
    ]
    local = Settings(home=tmp_path / "local")
    run_ingest(local, [src])
    assert_same_chunks(snapshot(settings), snapshot(local), metadata=True)

    shutil.copy(src / "daily.txt", src / "again.txt")  # 2 papers seen in one more file
    second = run_ingest(settings, [src])
    assert (second.updated, second.unchanged, second.chunks_written) == (2, 4, 0)
    run_ingest(local, [src])
    assert_same_chunks(snapshot(settings), snapshot(local), metadata=True)

    pruned = run_ingest(settings, [src / "more.csv"], prune=True)
    assert (pruned.removed, pruned.unchanged, len(settings.store().papers())) == (5, 1, 1)
    rebuilt = run_ingest(settings, [src / "daily.txt", src / "more.jsonl"], rebuild=True)
    assert (rebuilt.added, len(settings.store().papers())) == (3, 3)
    assert len(settings.store().lexical().paper_ids) == 3


def embedding_actors() -> list[int]:
    """PIDs of this process's Ray embedding actors (Ray titles them `ray::MapWorker(...Embed)`),
    found among its own descendants only: never another session's Ray."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    ours, found = {os.getpid()}, True
    while found:
        found = False
        for pid, parent in parents.items():
            if parent in ours and pid not in ours:
                ours.add(pid)
                found = True
    out = []
    for pid in ours:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "MapWorker" in title and "Embed" in title:
            out.append(pid)
    return out


@pytest.mark.slow
def test_a_killed_embedding_actor_is_restarted_and_the_store_ends_complete(
    ray_cluster: None, tmp_path: Path
) -> None:
    settings = on_ray(Settings(home=tmp_path / "ray"), batch_size=8)
    killed: list[int] = []
    done = threading.Event()

    def kill_one_embedder() -> None:
        found_at = None
        while not done.is_set() and not killed:
            actors = embedding_actors()
            if actors and found_at is None:
                found_at = time.monotonic()
            if actors and found_at is not None and time.monotonic() > found_at + 6:
                os.kill(actors[0], signal.SIGKILL)  # after its model load, mid-embedding
                killed.append(actors[0])
            time.sleep(0.3)

    killer = threading.Thread(target=kill_one_embedder)
    killer.start()
    try:
        summary = run_ingest(settings, [ONE_FILE])
    finally:
        done.set()
        killer.join()
    assert killed, "no embedding actor was found to kill"
    local = Settings(home=tmp_path / "local")
    expected = run_ingest(local, [ONE_FILE])
    ids = settings.store().collection.get(include=[])["ids"]
    assert len(ids) == len(set(ids)) == expected.chunks_in_store  # none twice, none lost
    assert summary.chunks_written == expected.chunks_written
    assert_same_chunks(snapshot(settings), snapshot(local), metadata=True)


@pytest.mark.slow
def test_a_driver_killed_midway_is_completed_by_the_next_run(
    ray_cluster: None, tmp_path: Path
) -> None:
    env = {"PAPERCHAT_HOME": str(tmp_path / "home"), "PAPERCHAT_RAY__WRITE_PAPERS": "16"}
    ingest_stopped_after_writes([str(ONE_FILE), "--engine", "ray"], env)
    settings = on_ray(Settings(home=tmp_path / "home"))
    held = settings.store().inventory()
    assert len(held) == 16 and all(h.complete for h in held.values())  # one whole write group
    summary = run_ingest(settings, [ONE_FILE])
    local = Settings(home=tmp_path / "local")
    expected = run_ingest(local, [ONE_FILE])
    assert (summary.unchanged, summary.added) == (16, expected.added - 16)
    ids = settings.store().collection.get(include=[])["ids"]
    assert len(ids) == len(set(ids)) == expected.chunks_in_store
    assert all(h.complete for h in settings.store().inventory().values())
    assert_same_chunks(snapshot(settings), snapshot(local), metadata=True)


# -- a `ray start` cluster and a `chroma run` server ----------------------------------------------


@pytest.fixture
def ray_head() -> Iterator[str]:
    """`ray start --head` in its own process group (stopped by killing that group, never by
    `ray stop`, which would stop every Ray on the machine). Yields its address."""
    port = free_port()
    # Ray's socket paths must stay short: a temp dir under /tmp, not pytest's long tmp_path.
    temp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    ray_exe = Path(sys.executable).parent / "ray"
    proc = subprocess.Popen(
        [str(ray_exe), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_ingest_through_a_ray_start_cluster_into_a_chroma_server(
    ray_head: str, corpus_home: Path, tmp_path: Path
) -> None:
    server = ChromaServer(tmp_path / "chroma-server").start()
    try:
        env = {"PAPERCHAT_HOME": str(tmp_path / "a"), "PAPERCHAT_CHROMA_URL": server.url,
               "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-m", "paperchat.cli", "ingest", str(ONE_FILE), "--engine", "ray",
             "--address", ray_head, "--json", "-q"],
            env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout)
        assert summary["store"] == server.url
        assert summary["added"] == summary["papers"] == len(collect([ONE_FILE]).papers)
        served = Settings(home=tmp_path / "a", chroma_url=server.url)
        ours = snapshot(served)
        # The same chunks and vectors as the local store of the whole corpus holds for them
        # (their metadata differs there: those papers are also listed in other files).
        theirs = {cid: v for cid, v in snapshot(Settings(home=corpus_home)).items() if cid in ours}
        assert_same_chunks(ours, theirs, metadata=False)
        assert len(ours) == summary["chunks_in_store"]
    finally:
        server.kill()


def test_an_unreachable_ray_cluster_is_one_clear_error(tmp_path: Path) -> None:
    # A process of its own: this module's fixture may hold a Ray session, which would be used.
    port = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "paperchat.cli", "ingest", str(TINY), "--engine", "ray", "--address",
         f"127.0.0.1:{port}", "-q"],
        env={**os.environ, "PYTHONPATH": str(ROOT), "PAPERCHAT_HOME": str(tmp_path / "home")},
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    assert f"Ray cluster at 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr
