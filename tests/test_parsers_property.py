"""Property-based tests: no input crashes a parser, and valid records always come through."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperchat.ingest.daily_papers import ABSTRACT_MIN_CHARS, BOILERPLATE, parse_daily_papers
from paperchat.ingest.records import Paper, Problem, clean_text, normalise_title
from paperchat.ingest.sources import read_file
from paperchat.ingest.structured import parse_csv, parse_json, parse_jsonl

PARSERS = (parse_jsonl, parse_json, parse_csv)
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text a person could write in a title or abstract: any letters, marks, digits, punctuation,
# symbols and spaces of any script, no line breaks.
line_text = st.text(
    alphabet=st.characters(
        categories=("L", "M", "N", "P", "S", "Zs"),
        exclude_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
    ),
    min_size=1,
    max_size=400,
)


def _is_title(text: str) -> bool:
    cleaned = clean_text(text)
    return (
        bool(normalise_title(cleaned))
        and len(cleaned) < ABSTRACT_MIN_CHARS
        and cleaned.casefold() not in BOILERPLATE
        and not cleaned[:1].isspace()
        and not cleaned.startswith(("Subscribe", "Daily Papers"))
    )


titles = (
    line_text.map(lambda t: t[:120])
    .filter(_is_title)
    .filter(
        lambda t: (
            not any(
                t.startswith(m)
                for m in (
                    "Jan",
                    "Feb",
                    "Mar",
                    "Apr",
                    "May",
                    "Jun",
                    "Jul",
                    "Aug",
                    "Sep",
                    "Oct",
                    "Nov",
                    "Dec",
                )
            )
        )
    )
)
abstracts = st.tuples(line_text, line_text).map(lambda p: clean_text(" ".join(p) + " x" * 130))
papers = st.lists(
    st.tuples(titles, abstracts), min_size=1, max_size=6, unique_by=lambda p: normalise_title(p[0])
)


@fast
@given(st.binary(max_size=4000))
def test_random_bytes_never_crash_any_parser(data: bytes) -> None:
    for item in parse_daily_papers(data, "x.txt"):
        assert isinstance(item, (Paper, Problem))
    text = data.decode("utf-8", errors="replace")
    for parse in PARSERS:
        for item in parse(text, "x"):
            assert isinstance(item, (Paper, Problem))


@fast
@given(st.text(max_size=3000))
def test_random_unicode_never_crashes_any_parser(text: str) -> None:
    for item in parse_daily_papers(text.encode("utf-8", errors="surrogatepass"), "x.txt"):
        assert isinstance(item, (Paper, Problem))
    for parse in PARSERS:
        for item in parse(text, "x"):
            assert isinstance(item, (Paper, Problem))


@fast
@given(papers, st.booleans())
def test_every_valid_daily_papers_entry_comes_back(
    entries: list[tuple[str, str]], blank: bool
) -> None:
    sep = "\n\n" if blank else "\n"
    text = "Get trending papers in your email inbox!\nSubscribe\nMar 12\n" + sep.join(
        f"{t}{sep}{a}" for t, a in entries
    )
    got = [i for i in parse_daily_papers(text.encode(), "x.txt") if isinstance(i, Paper)]
    assert [(p.title, p.abstract) for p in got] == [(clean_text(t), a) for t, a in entries]


@fast
@given(papers, st.lists(st.text(max_size=200), max_size=5))
def test_valid_jsonl_records_survive_garbage_lines_around_them(
    entries: list[tuple[str, str]], garbage: list[str]
) -> None:
    lines = [json.dumps({"title": t, "abstract": a}, ensure_ascii=False) for t, a in entries]
    mixed = [x for pair in zip(lines, garbage + [""] * len(lines), strict=False) for x in pair]
    got = [i for i in parse_jsonl("\n".join(mixed), "x.jsonl") if isinstance(i, Paper)]
    assert {clean_text(t) for t, _ in entries} <= {p.title for p in got}


@fast
@given(papers)
def test_valid_csv_rows_round_trip(entries: list[tuple[str, str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["title", "abstract"])
    writer.writerows(entries)
    got = [i for i in parse_csv(out.getvalue(), "x.csv") if isinstance(i, Paper)]
    assert [(p.title, p.abstract) for p in got] == [(clean_text(t), a) for t, a in entries]


def test_a_huge_line_is_one_record_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("A Title\n" + "word " * 2_000_000 + "\n")
    (paper,) = read_file(path)
    assert isinstance(paper, Paper) and len(paper.abstract) == 10_000_000 - 1
