"""From paths on disk to de-duplicated papers: format detection, file-level checks, merging."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from paperchat.errors import SourceNotFound
from paperchat.ingest.daily_papers import parse_daily_papers
from paperchat.ingest.records import Paper, Problem, normalise_title
from paperchat.ingest.structured import parse_csv, parse_json, parse_jsonl

Format = Literal["auto", "daily", "json", "jsonl", "csv"]
FORMATS: tuple[str, ...] = ("auto", "daily", "json", "jsonl", "csv")
_BY_SUFFIX = {
    ".txt": "daily",
    ".md": "daily",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
}
_TEXT_PARSERS: dict[str, Callable[[str, str], Iterator[Paper | Problem]]] = {
    "json": parse_json,
    "jsonl": parse_jsonl,
    "csv": parse_csv,
}


@dataclass
class Collected:
    """What a set of inputs holds: unique papers (first appearance wins) and skipped records."""

    papers: list[Paper] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    entries: int = 0
    files: int = 0


def bundled_corpus() -> Path:
    """The folder of the corpus shipped with paperchat.

    Installed, it is the package data ``paperchat/corpus/``; in a checkout (an editable install),
    the repository's ``data/``, which pyproject.toml maps to it.
    """
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "corpus", package / "data"):
        if folder.is_dir():
            return folder
    raise SourceNotFound(f"The bundled corpus is missing from {package / 'corpus'}; reinstall "
                         "paperchat, or pass the papers to ingest: `paperchat ingest PATH...`.")


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files under each path (folders recursively, in name order). Raises if a path is missing."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise SourceNotFound(f"{path}: no such file or folder")
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*")) if p.is_file() and not p.name.startswith(".")
            )
        else:
            files.append(path)
    return files


def collect(paths: Iterable[str | Path], fmt: Format = "auto") -> Collected:
    """Read every file, keep one paper per normalised title, and report what was skipped."""
    out = Collected()
    by_key: dict[str, Paper] = {}
    for path in expand(paths):
        out.files += 1
        for item in read_file(path, fmt):
            if isinstance(item, Problem):
                out.problems.append(item)
                continue
            out.entries += 1
            key = normalise_title(item.title)
            if not key:
                out.problems.append(Problem(str(path), 0, f"title has no letters: {item.title!r}"))
            elif key in by_key:
                by_key[key].merge(item)
            else:
                by_key[key] = item
                out.papers.append(item)
    return out


def read_file(path: Path, fmt: Format = "auto") -> Iterator[Paper | Problem]:
    """Papers and problems of one file. File-level trouble is one Problem, never an exception."""
    where = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        yield Problem(where, 0, f"cannot read: {exc.strerror or exc}")
        return
    if not data.strip():
        yield Problem(where, 0, "empty file")
        return
    if b"\x00" in data[:8192]:
        yield Problem(where, 0, "binary file, not a paper source")
        return
    kind = detect_format(path, data) if fmt == "auto" else fmt
    if kind == "daily":
        yield from parse_daily_papers(data, where)
        return
    text, bad_lines = _decode(data)
    for number in bad_lines:
        yield Problem(where, number, "bytes that are not UTF-8 (shown as \ufffd); record skipped")
    for item in _TEXT_PARSERS[kind](text, where):
        if isinstance(item, Paper) and "\ufffd" in item.title + item.abstract and bad_lines:
            continue  # already reported by line above
        yield item


def detect_format(path: Path, data: bytes) -> str:
    """By extension first, then by content."""
    if path.suffix.lower() in _BY_SUFFIX:
        return _BY_SUFFIX[path.suffix.lower()]
    head = data.lstrip()[:4096]
    if head.startswith(b"["):
        return "json"
    if head.startswith(b"{"):
        first = head.split(b"\n", 1)[0].strip()
        return "jsonl" if first.endswith(b"}") else "json"
    first_line = head.split(b"\n", 1)[0].lower()
    if b"," in first_line and b"title" in first_line and len(first_line) < 500:
        return "csv"
    return "daily"


def _decode(data: bytes) -> tuple[str, list[int]]:
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    lines, bad = [], []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(raw.decode("utf-8", errors="replace"))
            bad.append(number)
    return "\n".join(lines), bad
