"""Sources cut into parts that workers read on their own, as streams: no file is loaded whole.

A JSON Lines file is cut at line ends into parts of about ``block_bytes``, each knowing the
number of its first line, so a bad record is still named ``file:line``. A CSV file is one part
read line by line (a quoted field may hold a line end, so it cannot be cut). JSON arrays and
Daily Papers dumps are one part each, read by the local path's own reader. Every record comes
out as the same ``Paper`` or ``Problem`` the local path makes of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from paperchat.ingest.records import Paper, Problem, normalise_title
from paperchat.ingest.sources import Format, detect_format, expand, read_file
from paperchat.ingest.structured import parse_csv_lines, parse_jsonl_lines

HEAD_BYTES = 65536
_SCAN = 8 << 20  # bytes read at a time when counting lines
_BOM = b"\xef\xbb\xbf"
_NOT_UTF8 = "bytes that are not UTF-8 (shown as \ufffd); record skipped"


@dataclass(frozen=True)
class Part:
    """Bytes ``start``..``end`` of one file, whose first line is number ``first_line``."""

    path: str
    file_no: int
    kind: str
    start: int = 0
    end: int = 0
    first_line: int = 1


@dataclass
class Plan:
    parts: list[Part]
    problems: list[Problem]  # whole files that cannot be read (found while planning)
    files: int


def plan(paths: Iterable[str | Path], fmt: Format = "auto", block_bytes: int = 16 << 20) -> Plan:
    """The parts of every file under ``paths``. Raises SourceNotFound for a missing path."""
    out = Plan([], [], 0)
    for file_no, path in enumerate(expand(paths)):
        out.files += 1
        where = str(path)
        try:
            size = path.stat().st_size
            with path.open("rb") as fh:
                head = fh.read(HEAD_BYTES)
        except OSError as exc:
            out.problems.append(Problem(where, 0, f"cannot read: {exc.strerror or exc}"))
            continue
        kind = detect_format(path, head) if fmt == "auto" else fmt
        if kind not in ("jsonl", "csv"):  # read whole by the local reader, which checks it
            out.parts.append(Part(where, file_no, kind, 0, size))
            continue
        if not head.strip() and size <= HEAD_BYTES:
            out.problems.append(Problem(where, 0, "empty file"))
        elif b"\x00" in head[:8192]:
            out.problems.append(Problem(where, 0, "binary file, not a paper source"))
        elif kind == "csv":
            out.parts.append(Part(where, file_no, kind, 0, size))
        else:
            out.parts += _cut(path, file_no, size, block_bytes)
    return out


def _cut(path: Path, file_no: int, size: int, block_bytes: int) -> list[Part]:
    """Parts of a JSON Lines file ending at line ends, with the number of each one's first line.
    Counting lines is one sequential pass over the file, in constant memory."""
    ends: list[int] = []
    with path.open("rb") as fh:
        target = block_bytes
        while target < size:
            fh.seek(target)
            fh.readline()  # the rest of the line the cut falls into
            end = fh.tell()
            if end >= size:
                break
            ends.append(end)
            target = end + block_bytes
    ends.append(size)
    parts, start, line = [], 0, 1
    with path.open("rb") as fh:
        for end in ends:
            parts.append(Part(str(path), file_no, "jsonl", start, end, line))
            left = end - start
            while left > 0:
                piece = fh.read(min(_SCAN, left))
                line += piece.count(b"\n")
                left -= len(piece)
            start = end
    return parts


def read_part(part: Part) -> Iterator[tuple[int, Paper | Problem]]:
    """(sequence number, item) of one part, in file order. The sequence number is the line for
    JSON Lines, the record's position in the file otherwise; it orders duplicates."""
    if part.kind == "jsonl":
        items: Iterable[tuple[int, Paper | Problem]] = _read_jsonl(part)
    elif part.kind == "csv":
        items = enumerate(_read_csv(part), start=1)
    else:
        items = enumerate(read_file(Path(part.path), part.kind), start=1)  # type: ignore[arg-type]
    for seq, item in items:
        if isinstance(item, Paper) and not normalise_title(item.title):
            line = seq if part.kind == "jsonl" else 0
            yield seq, Problem(part.path, line, f"title has no letters: {item.title!r}")
        else:
            yield seq, item


def _read_jsonl(part: Part) -> Iterator[tuple[int, Paper | Problem]]:
    with open(part.path, "rb") as fh:
        fh.seek(part.start)
        number, pos = part.first_line, part.start
        while pos < part.end:
            raw = fh.readline()
            if not raw:
                return
            pos += len(raw)
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            try:
                text, bad = raw.decode("utf-8"), False
            except UnicodeDecodeError:
                text, bad = raw.decode("utf-8", errors="replace"), True
                yield number, Problem(part.path, number, _NOT_UTF8)
            for item in parse_jsonl_lines([(number, text.rstrip("\n"))], part.path):
                if bad and isinstance(item, Paper) and "\ufffd" in item.title + item.abstract:
                    continue  # reported just above
                yield number, item
            number += 1


def _read_csv(part: Part) -> Iterator[Paper | Problem]:
    """The local CSV reader over the file's lines, decoded one by one (bad bytes named)."""
    bad: list[int] = []
    problems: list[Problem] = []

    def lines() -> Iterator[str]:
        with open(part.path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if number == 1 and raw.startswith(_BOM):
                    raw = raw[len(_BOM) :]
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError:
                    bad.append(number)
                    problems.append(Problem(part.path, number, _NOT_UTF8))
                    yield raw.decode("utf-8", errors="replace")

    for item in parse_csv_lines(lines(), part.path):
        yield from problems
        problems.clear()
        if isinstance(item, Paper) and bad and "\ufffd" in item.title + item.abstract:
            continue  # reported by line above
        yield item
    yield from problems
