"""How well the sentence-role tagger agrees with hand labels (``eval/datasets/roles.jsonl``).

    python -m paperchat.eval.roles          # accuracy overall and per role, and the confusion table

The labels were written by reading 160 sentences of 40 papers drawn at random (seed 12); the
first 20 papers' rows ("tune") were looked at while adjusting the rules, the last 20 ("held out")
were not.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from paperchat.ingest.roles import ROLES, tag_roles

LABELS = Path(__file__).parent / "datasets" / "roles.jsonl"
TUNE_PAPERS = 20


@dataclass(frozen=True)
class Labelled:
    paper_id: str
    index: int
    count: int
    role: str
    text: str


def load_labels(path: Path = LABELS) -> list[Labelled]:
    return [Labelled(**json.loads(line)) for line in path.read_text().splitlines() if line]


def tagged(rows: list[Labelled], abstracts: dict[str, str]) -> list[str]:
    """The tagger's role for each labelled row, tagging its whole abstract as ingest does."""
    from paperchat.rag.sentences import split_sentences

    out = []
    for row in rows:
        sentences = split_sentences(abstracts[row.paper_id])
        assert sentences[row.index] == row.text, f"{row.paper_id}#{row.index} moved"
        out.append(tag_roles(sentences)[row.index])
    return out


def role_accuracy(rows: list[Labelled], abstracts: dict[str, str]) -> dict[str, float | int]:
    """Accuracy overall, recall per hand-labelled role ("acc:<role>") and how many rows."""
    hits: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for row, role in zip(rows, tagged(rows, abstracts), strict=True):
        seen[row.role] += 1
        hits[row.role] += role == row.role
    out: dict[str, float | int] = {"n": len(rows),
                                   "accuracy": sum(hits.values()) / max(1, len(rows))}
    for role in ROLES:
        out[f"acc:{role}"] = hits[role] / seen[role] if seen[role] else float("nan")
        out[f"n:{role}"] = seen[role]
    return out


def splits(rows: list[Labelled]) -> dict[str, list[Labelled]]:
    papers = list(dict.fromkeys(r.paper_id for r in rows))
    tune = set(papers[:TUNE_PAPERS])
    return {"all": rows, "tune": [r for r in rows if r.paper_id in tune],
            "held out": [r for r in rows if r.paper_id not in tune]}


DATA = Path(__file__).resolve().parent.parent / "data"


def corpus_abstracts(path: Path = DATA) -> dict[str, str]:
    from paperchat.ingest.sources import collect

    return {p.paper_id: p.abstract for p in collect([path]).papers}


def main() -> None:
    rows = load_labels()
    abstracts = corpus_abstracts()
    print("| rows | n | accuracy | " + " | ".join(ROLES) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in ROLES) + " |")
    for name, part in splits(rows).items():
        acc = role_accuracy(part, abstracts)
        cells = " | ".join(f"{acc[f'acc:{r}']:.2f} ({acc[f'n:{r}']})" for r in ROLES)
        print(f"| {name} | {acc['n']} | {acc['accuracy']:.3f} | {cells} |")
    confusion = Counter(zip((r.role for r in rows), tagged(rows, abstracts), strict=True))
    print("\nconfusion (label -> tagged):", dict(confusion))


if __name__ == "__main__":
    main()
