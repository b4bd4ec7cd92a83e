"""Parser for Hugging Face Daily Papers page dumps: the text a browser copies off the page.

After a header of boilerplate ("Get trending papers…", "Subscribe", "Daily Papers", "by AK and
the research community", a date such as "Mar 12"), entries alternate a title line and an
abstract line, with or without blank lines between them. The header may be glued to the first
title ("SubscribeLoRA-SP: …").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from paperchat.ingest.records import Paper, Problem

BOILERPLATE = frozenset(
    s.casefold()
    for s in (
        "new",
        "Get trending papers in your email inbox!",
        "Get trending papers in your email inbox once a day!",
        "Subscribe",
        "Daily Papers",
        "byAK and the research community",
        "by AK and the research community",
    )
)
_GLUED_PREFIXES = ("Subscribe", "Daily Papers")
_DATE = re.compile(
    r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2}(, ?\d{4})?$"
)
# Titles in the seeds run to 164 characters and abstracts start at 535: a line this long is prose.
ABSTRACT_MIN_CHARS = 250


@dataclass
class _Entry:
    title_line: int
    title: str
    abstract: list[str] = field(default_factory=list)
    bad_lines: list[int] = field(default_factory=list)


def parse_daily_papers(data: bytes, path: str) -> Iterator[Paper | Problem]:
    """Yield each entry of a page dump as a Paper, and each unusable one as a Problem."""
    entries: list[_Entry] = []
    problems: list[Problem] = []
    current: _Entry | None = None
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
            bad = False
        except UnicodeDecodeError:
            text, bad = raw.decode("utf-8", errors="replace"), True
        text = text.strip().lstrip("\ufeff")
        if not text or text.casefold() in BOILERPLATE or _DATE.match(text):
            continue
        if not entries and current is None:
            text = _unglue_header(text)
        if len(text) < ABSTRACT_MIN_CHARS:  # a title
            if current is not None and not current.abstract:
                problems.append(_no_abstract(path, current))
            current = _Entry(number, text)
            entries.append(current)
        elif current is not None:  # the abstract, or a further paragraph of it
            current.abstract.append(text)
        else:
            problems.append(
                Problem(path, number, f"abstract with no title before it: {text[:60]!r}…")
            )
            continue
        if bad:
            current.bad_lines.append(number)
    for entry in entries:
        if not entry.abstract:
            if entry is entries[-1]:
                problems.append(_no_abstract(path, entry))
            continue
        if entry.bad_lines:
            problems.append(
                Problem(
                    path,
                    entry.bad_lines[0],
                    f"bytes that are not UTF-8 in the entry {entry.title[:60]!r}; entry skipped",
                )
            )
            continue
        yield Paper(
            title=entry.title, abstract=" ".join(entry.abstract), sources=[path.rsplit("/", 1)[-1]]
        )
    yield from sorted(problems, key=lambda p: p.line)


def _unglue_header(text: str) -> str:
    for prefix in _GLUED_PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix) and text[len(prefix)].isupper():
            return text[len(prefix) :]
    return text


def _no_abstract(path: str, entry: _Entry) -> Problem:
    return Problem(path, entry.title_line, f"title with no abstract: {entry.title[:80]!r}")
