"""Load generator: N concurrent gradio_client users, each asking M questions of one UI process."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LoadResult:
    users: int
    per_user: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ms = np.array(self.latencies) * 1000 if self.latencies else np.array([0.0])
        return {
            "users": self.users,
            "questions_per_user": self.per_user,
            "requests": self.users * self.per_user,
            "errors": len(self.errors),
            "cited_answers": sum(is_cited_answer(a) for a in self.answers),
            "seconds": round(self.seconds, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 1),
            "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "throughput_per_s": round(len(self.latencies) / self.seconds, 2) if self.seconds else 0,
        }


def is_cited_answer(reply: str) -> bool:
    """Whether an ``/ask`` reply answers (fully or in part) and cites its first source: its text
    carries a [1] mark and its Sources list starts at [1]. A declined question's reply has
    neither: a reason and the closest papers."""
    from paperchat.rag.text import cited_numbers

    text, listed, sources = reply.partition("\nSources:\n")
    return bool(listed) and 1 in cited_numbers(text) and sources.startswith("[1] ")


def run_load(
    url: str,
    questions: Sequence[str],
    users: int = 20,
    per_user: int = 10,
    auth: tuple[str, str] | None = None,
) -> LoadResult:
    """Every user connects its own client and asks ``per_user`` questions in turn via /ask."""
    from gradio_client import Client

    result = LoadResult(users, per_user, 0.0)
    lock = threading.Lock()
    start = threading.Barrier(users)

    def user(u: int) -> None:
        try:
            client = Client(url, auth=auth, verbose=False)
        except Exception as exc:
            with lock:
                result.errors += [f"user {u}: connect: {exc}"] * per_user
            return
        start.wait()
        for i in range(per_user):
            question = questions[(u * per_user + i) % len(questions)]
            t0 = time.perf_counter()
            try:
                answer = client.predict(question, api_name="/ask")
            except Exception as exc:
                with lock:
                    result.errors.append(f"user {u} question {i}: {exc}")
                continue
            with lock:
                result.latencies.append(time.perf_counter() - t0)
                result.answers.append(str(answer))

    threads = [threading.Thread(target=user, args=(u,)) for u in range(users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - t0
    return result
