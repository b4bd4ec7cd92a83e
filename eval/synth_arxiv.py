"""An arXiv-metadata-snapshot-shaped corpus of any size, made from the bundled abstracts.

Each record has the snapshot's JSON Lines fields (``id``, ``submitter``, ``authors``,
``title``, ``comments``, ``journal-ref``, ``doi``, ``report-no``, ``categories``, ``license``,
``abstract``, ``versions``, ``update_date``, ``authors_parsed``), laid out as the snapshot
lays them out (titles and abstracts wrapped with a newline and two spaces, abstracts starting
with two spaces). Its abstract is 4-9 real sentences of the bundled corpus in a new order, its
title new words drawn from real titles, its id new. Written as a stream with a fixed seed: the
same N gives the same file, and 200k records (about 230 MB) need no download and little memory.

    python -m paperchat.eval.synth_arxiv 200000 big.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paperchat.ingest.sources import collect
from paperchat.rag.sentences import split_sentences

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SEED = 20261124
CATEGORIES = ("cs.CL", "cs.LG", "cs.CV", "cs.AI", "cs.IR", "stat.ML", "cs.RO", "cs.DC", "eess.AS")
FIRST = ("Ada", "Wei", "Priya", "Jonas", "Amara", "Kenji", "Lucia", "Omar", "Sofia", "Ivan",
         "Mei", "Tariq", "Elena", "Noah", "Zara", "Diego", "Hana", "Felix", "Aylin", "Ravi")
LAST = ("Lovelace", "Zhang", "Iyer", "Berg", "Okafor", "Sato", "Romero", "Haddad", "Costa",
        "Petrov", "Lin", "Aziz", "Novak", "Fischer", "Mensah", "Alvarez", "Kim", "Weber",
        "Demir", "Rao")


class Pool:
    """Sentences and title words of the bundled corpus."""

    def __init__(self, data: Path = DATA) -> None:
        papers = collect([data]).papers
        self.sentences = [s for p in papers for s in split_sentences(p.abstract) if len(s) > 30]
        self.words = [w for p in papers for w in p.title.split() if w.isalpha() and len(w) > 2]


def records(n: int, pool: Pool, seed: int = SEED) -> Iterator[dict[str, Any]]:
    """``n`` snapshot records, deterministic for a given seed."""
    rng = random.Random(seed)
    for i in range(n):
        month = 1 + (i // 20000) % 12
        year = 7 + (i // 240000) % 19
        arxiv_id = f"{year:02d}{month:02d}.{i % 20000 + 1:05d}"
        words = rng.sample(pool.words, rng.randint(5, 11))
        title = " ".join([words[0].capitalize(), *words[1:]])
        abstract = " ".join(rng.sample(pool.sentences, rng.randint(4, 9)))
        people = [(rng.choice(LAST), rng.choice(FIRST)) for _ in range(rng.randint(1, 6))]
        day = 1 + i % 28
        yield {
            "id": arxiv_id,
            "submitter": f"{people[0][1]} {people[0][0]}",
            "authors": ", ".join(f"{first[0]}. {last}" for last, first in people),
            "title": _wrap(title),
            "comments": f"{rng.randint(6, 40)} pages, {rng.randint(1, 12)} figures",
            "journal-ref": None,
            "doi": None,
            "report-no": None,
            "categories": " ".join(rng.sample(CATEGORIES, rng.randint(1, 3))),
            "license": "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
            "abstract": "  " + _wrap(abstract) + "\n",
            "versions": [{"version": "v1",
                          "created": f"Mon, {day} Jan 20{year:02d} 10:00:00 GMT"}],
            "update_date": f"20{year:02d}-{month:02d}-{day:02d}",
            "authors_parsed": [[last, f"{first[0]}.", ""] for last, first in people],
        }


def write(n: int, path: Path, pool: Pool | None = None, seed: int = SEED) -> Path:
    """Writes ``n`` records to ``path`` as JSON Lines, one at a time."""
    pool = pool or Pool()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for record in records(n, pool, seed):
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def _wrap(text: str) -> str:
    return "\n  ".join(textwrap.wrap(text, 80, break_long_words=False, break_on_hyphens=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int, help="records to write")
    parser.add_argument("path", type=Path, help="JSON Lines file to write")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    write(args.n, args.path, seed=args.seed)


if __name__ == "__main__":
    main()
