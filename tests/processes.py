"""Killing a real `paperchat ingest` process in the middle of its work."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_FIRST_WRITE = re.compile(r"embedding: +\d+%\|[^|]*\| *[1-9]\d*/")


def kill_ingest_after_first_write(sources: Path, env: dict[str, str], timeout: float = 300) -> None:
    """Start an ingest, wait until its progress bar shows a written group, then SIGKILL it."""
    kill_ingest_when([str(sources)], env, _FIRST_WRITE, timeout)


def kill_ingest_when(args: list[str], env: dict[str, str], seen_pattern: re.Pattern[str],
                     timeout: float = 300) -> str:
    """Run `paperchat ingest ARGS`, SIGKILL it (and only it) once its stderr matches
    ``seen_pattern``; returns what it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperchat.cli", "ingest", *args],
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **env},
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=ROOT, text=True,
    )
    assert proc.stderr is not None
    deadline, seen = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        char = proc.stderr.read(1)
        seen += char
        if not char or seen_pattern.search(seen):
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert seen_pattern.search(seen), seen[-2000:]
    return seen
