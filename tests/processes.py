"""Stopping a real `paperchat ingest` process in the middle of its work, deterministically."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from paperchat.ingest.pipeline import STOPPED_EXIT_CODE

ROOT = Path(__file__).resolve().parent.parent


def ingest_stopped_after_writes(args: list[str], env: dict[str, str], writes: int = 1,
                                timeout: float = 600) -> None:
    """Run `paperchat ingest ARGS` in a process of its own that exits at once, as a killed one
    would, when its first ``writes`` groups of papers are in the store (the test hook
    ``ingest.test_stop_after_writes``); fail unless it stopped there."""
    hook = {"PAPERCHAT_INGEST__TEST_STOP_AFTER_WRITES": str(writes)}
    done = subprocess.run(
        [sys.executable, "-m", "paperchat.cli", "ingest", *args, "-q"],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env, **hook},
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )
    assert done.returncode == STOPPED_EXIT_CODE, (done.returncode, done.stderr[-3000:])
