"""A real llama-cpp-python OpenAI-compatible server on loopback, for the LLM tests."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_server(model: Path, log: Path, n_ctx: int = 4096, threads: int = 0) -> Iterator[str]:
    """Serve ``model``; yields the base URL (…/v1) once the server lists the model."""
    port = free_port()
    extra = ["--n_threads", str(threads), "--n_threads_batch", str(threads)] if threads else []
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--seed", "7",
             *extra],
            stdout=out, stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as reply:
                    if json.load(reply)["data"]:
                        break
            except OSError:
                pass  # not listening yet
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not come up:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
