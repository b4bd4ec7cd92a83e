"""Several UI users against one UI process on a shared Chroma server: load and faults."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from paperchat.eval.load import is_cited_answer, run_load

from .chroma_server import ChromaServer, free_port

pytestmark = pytest.mark.slow
QUESTIONS = [
    "Which papers reduce the memory of the KV cache during LLM inference, and how?",
    "What limits the speed of LLM inference on edge devices?",
    "How can sparse fine-tuning speed up inference on CPUs?",
    "What is speculative decoding?",
    "How do mixture-of-experts models route tokens to experts?",
]


@pytest.fixture(scope="module")
def server(corpus_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A Chroma server over a copy of the real-corpus store."""
    path = tmp_path_factory.mktemp("team") / "chroma"
    shutil.copytree(corpus_home / "chroma", path)
    srv = ChromaServer(path).start()
    yield srv
    srv.kill()


@pytest.fixture(scope="module")
def ui(server: ChromaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`paperchat serve` in its own process, reading the store through the Chroma server."""
    port = free_port()
    home = tmp_path_factory.mktemp("ui-home")
    env = {
        **os.environ,
        "PAPERCHAT_HOME": str(home),
        "PAPERCHAT_CHROMA_URL": server.url,
        "PAPERCHAT_UI__CONCURRENCY": "4",
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "paperchat"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "serve exited"
        try:
            with urllib.request.urlopen(url, timeout=1):
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the UI did not come up within 180 s")
    yield url
    proc.kill()
    proc.wait()


def test_twenty_users_asking_ten_questions_each_all_get_cited_answers(ui: str) -> None:
    result = run_load(ui, QUESTIONS, users=20, per_user=10)
    summary = result.summary()
    print(f"load: {summary}")
    assert result.errors == []
    assert len(result.answers) == 200
    assert all(is_cited_answer(a) for a in result.answers)  # answerable: none declined


def test_the_ui_survives_the_chroma_server_dying_and_recovers(
    ui: str, server: ChromaServer
) -> None:
    from gradio_client import Client

    client = Client(ui, verbose=False)
    assert is_cited_answer(client.predict(QUESTIONS[0], api_name="/ask"))
    server.kill()
    with pytest.raises(Exception, match="Chroma server"):
        client.predict(QUESTIONS[1] + " (after the crash)", api_name="/ask")
    with urllib.request.urlopen(ui, timeout=5) as page:  # the UI process is still up
        assert page.status == 200
    server.start()
    assert is_cited_answer(client.predict(QUESTIONS[1], api_name="/ask"))
