"""Bad input is reported by file and line, skipped, and never loses the good records."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from paperchat.cli import app
from paperchat.ingest.records import Paper, Problem
from paperchat.ingest.sources import collect

from .conftest import FIXTURES

GOOD_ABSTRACT = (
    "We study how to make retrieval faster on small machines. Our method caches the index in "
    "memory and prunes candidates early, which cuts latency by half on two CPU cores while "
    "keeping recall within one point of the exhaustive baseline across four benchmarks and "
    "three embedding models of different sizes."
)


def write_broken_folder(folder: Path) -> dict[str, Path]:
    """One file per kind of breakage, each beside a good record where the format allows."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "empty": folder / "empty.txt",
        "binary": folder / "image.txt",
        "non_utf8": folder / "latin1.txt",
        "title_only": folder / "title_only.txt",
        "bad_jsonl": folder / "bad.jsonl",
        "missing_field": folder / "missing.csv",
    }
    files["empty"].write_text("")
    files["binary"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    files["non_utf8"].write_bytes(
        b"Subscribe\n\nCaf\xe9 Retrieval\n\n" + GOOD_ABSTRACT.encode() + b"\n\n"
        b"Good Retrieval Paper\n\n" + GOOD_ABSTRACT.encode() + b"\n"
    )
    files["title_only"].write_text(
        f"A Title Without Abstract\n\nAnother Good Paper\n\n{GOOD_ABSTRACT}\n"
    )
    files["bad_jsonl"].write_text(
        json.dumps({"title": "JSON Good Paper", "abstract": GOOD_ABSTRACT})
        + "\n"
        + "{not json at all\n"
        + json.dumps({"title": "JSON Paper Missing Abstract"})
        + "\n"
    )
    files["missing_field"].write_text(
        f'title,abstract\nCSV Good Paper,"{GOOD_ABSTRACT}"\n,An abstract without a title.\n'
    )
    return files


def test_every_broken_record_is_named_by_file_and_line(tmp_path: Path) -> None:
    files = write_broken_folder(tmp_path / "in")
    collected = collect([tmp_path / "in"])
    where = {(Path(p.path).name, p.line): p.reason for p in collected.problems}
    assert "empty file" in where[("empty.txt", 0)]
    assert "binary" in where[("image.txt", 0)]
    assert "UTF-8" in where[("latin1.txt", 3)]
    assert "no abstract" in where[("title_only.txt", 1)]
    assert "not JSON" in where[("bad.jsonl", 2)]
    assert "abstract" in where[("bad.jsonl", 3)]
    assert "title" in where[("missing.csv", 3)]
    assert len(collected.problems) == 7
    assert sorted(p.title for p in collected.papers) == [
        "Another Good Paper",
        "CSV Good Paper",
        "Good Retrieval Paper",
        "JSON Good Paper",
    ]
    assert all(str(f) in {p.path for p in collected.problems} for f in files.values())


def test_a_title_at_the_end_of_a_file_without_abstract_is_reported() -> None:
    from paperchat.ingest.daily_papers import parse_daily_papers

    items = list(parse_daily_papers(f"Good\n{GOOD_ABSTRACT}\nDangling Title\n".encode(), "x.txt"))
    assert [type(i) for i in items] == [Paper, Problem]
    assert items[1].line == 3


def test_cli_ingests_the_good_files_warns_about_the_broken_ones_and_exits_0(tmp_path: Path) -> None:
    write_broken_folder(tmp_path / "in")
    result = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "in"), str(FIXTURES / "tiny"), "--json", "-q"]
    )
    assert result.exit_code == 0 and result.exception is None, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["added"] == 4 + 6  # four good broken-folder papers + six tiny fixtures
    assert summary["skipped"] == 7
    assert "latin1.txt:3" in result.stderr and "bad.jsonl:2" in result.stderr


def test_strict_mode_fails_when_anything_was_skipped(tmp_path: Path) -> None:
    write_broken_folder(tmp_path / "in")
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "in"), "--strict", "-q"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "warning:" in result.stderr


def test_a_path_that_does_not_exist_is_a_clear_error_with_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # not a crash
    assert "nope.jsonl: no such file or folder" in result.stderr
