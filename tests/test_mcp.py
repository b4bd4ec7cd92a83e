"""`paperchat serve` is an MCP server: a real server on a small store, and the `mcp` package's
own client calling its two tools over streamable HTTP, as Claude Desktop or Cursor would."""

from __future__ import annotations

import ast
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paperchat.rag.text import cited_numbers
from paperchat.settings import Settings

from .conftest import FIXTURES

pytestmark = pytest.mark.slow

PC_DARTS = "PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search"
SPARSE = "Sparse Finetuning for Inference Acceleration of Large Language Models"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def paperchat_command() -> list[str]:
    """The installed `paperchat` script beside this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("paperchat")
    if script.exists():
        return [str(script)]
    found = shutil.which("paperchat")
    return [found] if found else [sys.executable, "-m", "paperchat.cli"]


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"paperchat serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"paperchat serve did not answer at {url} in {timeout:.0f} s")


@pytest.fixture
def server(tiny_settings: Settings, tmp_path: Path) -> Iterator[str]:
    """`paperchat serve` on a free port over a store of the tiny fixture corpus; its base URL."""
    from paperchat.ingest.pipeline import run_ingest

    summary = run_ingest(tiny_settings, [FIXTURES / "tiny"])
    assert summary.papers >= 5
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*paperchat_command(), "serve", "--port", str(port)],
        env={**os.environ, "PAPERCHAT_HOME": str(tiny_settings.home)},
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/", proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def call_tools(url: str, calls: list[tuple[str, dict[str, Any]]]) -> tuple[
    dict[str, Any], list[Any]
]:
    """The server's tools (name -> tool) and the result of each call, over one MCP session."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(url) as (read, write, _), \
            ClientSession(read, write) as session:
        await session.initialize()
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        results = [await session.call_tool(name, arguments) for name, arguments in calls]
    return tools, results


def text_of(result: Any) -> str:
    assert not result.isError, result
    return "\n".join(item.text for item in result.content if item.type == "text")


def test_an_mcp_client_lists_and_calls_ask_and_search(server: str) -> None:
    tools, (asked, searched) = asyncio.run(call_tools(
        f"{server}/gradio_api/mcp/",
        [("ask", {"question": "How does PC-DARTS reduce the memory cost of architecture "
                              "search?"}),
         ("search", {"query": "sparse finetuning of large language models", "k": 3})],
    ))

    assert {"ask", "search"} <= set(tools)
    assert "citing the papers used" in (tools["ask"].description or "")
    assert set(tools["search"].inputSchema["properties"]) == {"query", "k"}

    answer = text_of(asked)
    text, _, sources = answer.partition("\n\nSources:\n")
    assert 1 in cited_numbers(text)
    assert sources.startswith(f"[1] {PC_DARTS}")
    assert "memory" in text.lower()

    # Gradio hands the tool's list of dicts over as its Python repr.
    found = ast.literal_eval(text_of(searched))
    assert [paper["rank"] for paper in found] == [1, 2, 3]
    assert found[0]["title"] == SPARSE and "sparse" in found[0]["passage"].lower()
