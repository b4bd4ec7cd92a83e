"""Parsing the bundled Daily Papers dumps and the other source formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperchat.ingest.daily_papers import parse_daily_papers
from paperchat.ingest.records import Paper, Problem, extract_urls, normalise_title, paper_id_for
from paperchat.ingest.sources import collect, detect_format, read_file

from .conftest import DATA, FIXTURES

SEED_COUNTS = {
    "000_6576179ae93507a9.txt": 90,
    "001_ba8b4fa36ca21e11.txt": 92,
    "002_c88722d0c70b671c.txt": 87,
    "003_f1cebde1cba35abd.txt": 153,
    "004_fcc865c8962cd8ce.txt": 267,
}


@pytest.mark.parametrize(("name", "expected"), SEED_COUNTS.items())
def test_each_seed_file_parses_to_its_exact_entry_count(name: str, expected: int) -> None:
    items = list(read_file(DATA / name))
    assert [i for i in items if isinstance(i, Problem)] == []
    assert len(items) == expected


def test_the_seed_corpus_holds_689_entries_and_624_unique_papers() -> None:
    collected = collect([DATA])
    assert collected.files == 5
    assert collected.entries == 689
    assert len(collected.papers) == 624
    assert collected.problems == []


def test_a_paper_seen_in_several_files_lists_every_file() -> None:
    papers = collect([DATA]).papers
    multi = [p for p in papers if len(p.sources) > 1]
    assert len(multi) == 54  # 689 entries - 624 papers = 65 repeats over these papers
    assert sum(len(p.sources) - 1 for p in papers) == 689 - 624
    assert all(s in SEED_COUNTS for p in multi for s in p.sources)


def test_boilerplate_and_dates_never_become_papers() -> None:
    titles = {p.title for p in collect([DATA]).papers}
    for junk in (
        "Subscribe",
        "Daily Papers",
        "new",
        "Mar 12",
        "Jul 31",
        "byAK and the research community",
        "Get trending papers in your email inbox!",
    ):
        assert junk not in titles


def test_a_header_glued_to_the_first_title_is_split_off() -> None:
    first = next(iter(read_file(DATA / "004_fcc865c8962cd8ce.txt")))
    assert isinstance(first, Paper)
    assert first.title.startswith("LoRA-SP: Streamlined Partial Parameter Adaptation")


def test_files_with_and_without_blank_lines_parse_alike() -> None:
    spaced = (FIXTURES / "tiny" / "daily.txt").read_bytes()
    dense = b"\n".join(line for line in spaced.split(b"\n") if line.strip())
    assert [p.title for p in parse_daily_papers(spaced, "a.txt")] == [
        p.title for p in parse_daily_papers(dense, "a.txt")
    ]


def test_paper_ids_come_from_the_normalised_title_and_never_change() -> None:
    assert paper_id_for("PC-DARTS: Partial Channel Connections") == paper_id_for(
        "  pc darts — partial channel connections "
    )
    # Fixed value: the same on every run and machine, so stores and eval sets stay valid.
    assert (
        paper_id_for(
            "PC-DARTS: Partial Channel Connections for Memory-Efficient Architecture Search"
        )
        == "pd2d8f000deb2"
    )
    assert normalise_title("Ünïcode  Títle!") == "unicode title"


def test_code_links_are_extracted_without_trailing_punctuation() -> None:
    assert extract_urls("Code: https://github.com/cisnlp/TransMI. More (see https://x.io/a).") == [
        "https://github.com/cisnlp/TransMI",
        "https://x.io/a",
    ]
    transmi = next(p for p in collect([DATA]).papers if p.title.startswith("TransMI"))
    assert transmi.urls == ["https://github.com/cisnlp/TransMI"]
    assert transmi.has_code


def test_jsonl_with_arxiv_snapshot_fields(tmp_path: Path) -> None:
    record = {
        "id": "2401.02385",
        "submitter": "x",
        "authors": "A. One, B. Two and C. Three",
        "title": "A  Paper\nTitle",
        "abstract": "  An abstract that is long enough.\n",
        "categories": "cs.CL cs.LG",
        "update_date": "2024-04-11",
        "authors_parsed": [["One", "A.", ""], ["Two", "B.", ""]],
    }
    path = tmp_path / "arxiv.jsonl"
    path.write_text(json.dumps(record) + "\n")
    (paper,) = read_file(path)
    assert isinstance(paper, Paper)
    assert paper.title == "A Paper Title"
    assert paper.authors == ["A. One", "B. Two"]
    assert paper.categories == ["cs.CL", "cs.LG"]
    assert paper.date == "2024-04-11"
    assert paper.url == "https://arxiv.org/abs/2401.02385"


def test_json_array_and_csv_sources(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps(
            {
                "papers": [
                    {"title": "One", "abstract": "First abstract.", "url": "https://a.b/1"},
                    {"title": "Two", "summary": "Second abstract."},
                ]
            }
        )
    )
    papers = [p for p in read_file(tmp_path / "a.json") if isinstance(p, Paper)]
    assert [p.title for p in papers] == ["One", "Two"]
    csv_papers = [p for p in read_file(FIXTURES / "tiny" / "more.csv") if isinstance(p, Paper)]
    assert csv_papers[0].authors == ["A. Author", "B. Author"]
    assert csv_papers[0].date == "2025-01-02"


def test_format_comes_from_the_extension_then_the_content(tmp_path: Path) -> None:
    assert detect_format(Path("x.jsonl"), b"") == "jsonl"
    assert detect_format(Path("x.csv"), b"") == "csv"
    assert detect_format(Path("x"), b'{"title": "a"}\n{"title": "b"}\n') == "jsonl"
    assert detect_format(Path("x"), b"[{}]") == "json"
    assert detect_format(Path("x"), b"title,abstract\nA,B\n") == "csv"
    assert detect_format(Path("x"), b"Subscribe\nSome title\n") == "daily"
    path = tmp_path / "papers.txt"
    path.write_text('{"title": "T", "abstract": "An abstract."}\n')
    assert [p.title for p in read_file(path, "jsonl") if isinstance(p, Paper)] == ["T"]
