"""Readers for structured paper lists: JSON, JSON Lines and CSV with a header.

Field names are matched case-insensitively, and the arXiv metadata snapshot's names
(``id``, ``title``, ``abstract``, ``authors``/``authors_parsed``, ``categories``,
``update_date``, ``versions``) work as they are.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from paperchat.ingest.records import Paper, Problem

ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "name", "paper_title"),
    "abstract": ("abstract", "summary", "paper_abstract", "text"),
    "id": ("id", "paper_id", "arxiv_id", "doi"),
    "authors": ("authors_parsed", "authors", "author"),
    "date": ("date", "published", "published_at", "publishedat", "update_date", "created"),
    "url": ("url", "link", "abs_url", "pdf_url", "paper_url"),
    "categories": ("categories", "category", "tags", "keywords"),
}


def parse_jsonl(text: str, path: str) -> Iterator[Paper | Problem]:
    # Only "\n" ends a record: str.splitlines() would also split inside strings at U+2028 etc.
    yield from parse_jsonl_lines(enumerate(text.split("\n"), start=1), path)


def parse_jsonl_lines(
    numbered: Iterable[tuple[int, str]], path: str
) -> Iterator[Paper | Problem]:
    """JSON Lines given as (line number, line) pairs: a part of a file, or a file streamed."""
    for number, line in numbered:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Problem(path, number, f"not JSON ({exc.msg} at column {exc.colno})")
            continue
        yield _paper_or_problem(record, path, number)


def parse_json(text: str, path: str) -> Iterator[Paper | Problem]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield Problem(path, exc.lineno, f"not JSON ({exc.msg} at column {exc.colno})")
        return
    if isinstance(data, Mapping):
        data = next((v for k, v in data.items() if k in ("papers", "data", "items")), [data])
    if not isinstance(data, list):
        yield Problem(path, 1, 'expected a list of paper objects (or {"papers": [...]})')
        return
    lines = _record_lines(text, len(data))
    for index, record in enumerate(data):
        yield _paper_or_problem(record, path, lines[index])


def parse_csv(text: str, path: str) -> Iterator[Paper | Problem]:
    yield from parse_csv_lines(io.StringIO(text, newline=""), path)


def parse_csv_lines(lines: Iterable[str], path: str) -> Iterator[Paper | Problem]:
    """CSV given as lines that keep their line ends (an open file streams: never read whole)."""
    reader = csv.DictReader(lines)
    if not reader.fieldnames:
        yield Problem(path, 1, "CSV with no header row")
        return
    header = {name.strip().casefold() for name in reader.fieldnames if name}
    if not header & set(ALIASES["title"]) or not header & set(ALIASES["abstract"]):
        yield Problem(
            path, 1, f"CSV header needs 'title' and 'abstract' columns, got {sorted(header)}"
        )
        return
    start = 2
    try:
        for row in reader:
            extra = row.pop(None, None)  # type: ignore[call-overload]
            if extra:
                yield Problem(path, start, f"{len(extra)} more cells than the header has columns")
            else:
                yield _paper_or_problem(row, path, start)
            start = reader.line_num + 1
    except csv.Error as exc:
        yield Problem(path, reader.line_num, f"broken CSV: {exc}")


def _paper_or_problem(record: Any, path: str, line: int) -> Paper | Problem:
    if not isinstance(record, Mapping):
        return Problem(path, line, f"expected an object, got {type(record).__name__}")
    fields = {str(k).strip().casefold(): v for k, v in record.items() if k is not None}
    title = _text(_pick(fields, "title"))
    abstract = _text(_pick(fields, "abstract"))
    if not title:
        return Problem(path, line, "missing field 'title'")
    if not abstract:
        return Problem(path, line, f"missing field 'abstract' for {title[:60]!r}")
    source_id = _text(_pick(fields, "id"))
    url = _text(_pick(fields, "url"))
    if not url and source_id and _looks_like_arxiv(source_id):
        url = f"https://arxiv.org/abs/{source_id}"
    date = _text(_pick(fields, "date"))
    if not date and isinstance(fields.get("versions"), list) and fields["versions"]:
        first = fields["versions"][0]
        date = _text(first.get("created")) if isinstance(first, Mapping) else ""
    return Paper(
        title=title,
        abstract=abstract,
        sources=[path.rsplit("/", 1)[-1]],
        authors=_authors(_pick(fields, "authors")),
        date=date,
        url=url,
        categories=_categories(_pick(fields, "categories")),
        source_id=source_id,
    )


def _pick(fields: Mapping[str, Any], name: str) -> Any:
    for alias in ALIASES[name]:
        value = fields.get(alias)
        if value not in (None, "", []):
            return value
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(_text(v) for v in value)
    return " ".join(str(value).split())


def _authors(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        parts = value.replace(" and ", ", ").replace(";", ",").split(",")
        return [p.strip() for p in parts if p.strip()]
    names = []
    for item in value:
        if isinstance(item, (list, tuple)):  # arXiv authors_parsed: [last, first, suffix]
            last, first = [*item, "", ""][:2]
            names.append(" ".join(p for p in (str(first), str(last)) if p).strip())
        elif isinstance(item, Mapping):
            names.append(_text(item.get("name") or item.get("user") or ""))
        else:
            names.append(_text(item))
    return [n for n in names if n]


def _categories(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [c for c in value.replace(",", " ").replace(";", " ").split() if c]
    return [_text(c) for c in value if _text(c)]


def _looks_like_arxiv(source_id: str) -> bool:
    head = source_id.split("v")[0]
    return (head.replace(".", "").isdigit() and "." in head) or "/" in source_id


def _record_lines(text: str, count: int) -> list[int]:
    """Line on which each top-level array element starts, for messages that point at a record."""
    decoder = json.JSONDecoder()
    lines: list[int] = []
    pos = text.index("[") + 1 if "[" in text else 0
    try:
        while len(lines) < count:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            lines.append(text.count("\n", 0, pos) + 1)
            _, pos = decoder.raw_decode(text, pos)
    except (json.JSONDecodeError, ValueError):
        pass
    return lines + [1] * (count - len(lines))
