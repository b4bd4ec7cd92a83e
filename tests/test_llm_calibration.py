"""The support check against hand-labelled sentences of a real instruct model's answers.

eval/datasets/llm_sentences.jsonl holds sentences Qwen2.5-Coder-1.5B-Instruct wrote for dev
questions, each labelled by a person who read the retrieved abstracts (supported: some retrieved
abstract states it, numbers and attribution included). At the configured threshold the
"unsupported" verdict must keep the precision and recall measured when it was calibrated
(README, "LLM answers"), less a small margin: a change to the check that loses either fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from paperchat.eval.support import LABELS, calibrate, load_labels
from paperchat.ingest.sources import read_file
from paperchat.rag.sentences import SentenceBank
from paperchat.settings import Settings

DATA = Path(__file__).resolve().parent.parent / "data"
# Measured at the configured threshold (0.40) on the 168 labelled sentences (README): precision
# 0.83 (5 of 6 flagged are unsupported) and recall 0.42 (5 of 12 unsupported caught).
PRECISION_FLOOR = 0.75
RECALL_FLOOR = 0.35


def test_the_labelled_set_is_large_and_has_both_kinds() -> None:
    labels = load_labels()
    # The issue asks for 100 or more; 168 are labelled (39 first, then 129 from a 40-question dev
    # run, README). Raise this as the set grows.
    assert len(labels) >= 160
    unsupported = sum(not item.supported for item in labels)
    assert 5 <= unsupported <= len(labels) - 5
    assert len({item.id for item in labels}) == len(labels)


@pytest.mark.slow
def test_the_unsupported_verdict_keeps_its_calibrated_precision_and_recall() -> None:
    papers = {item.paper_id: item for path in sorted(DATA.iterdir()) for item in read_file(path)
              if hasattr(item, "paper_id")}
    settings = Settings()
    a = settings.answer
    result = calibrate(load_labels(LABELS), papers, SentenceBank(settings.embedder),
                       [a.support_threshold], a.support_number_margin)
    [row] = result.rows
    assert row["precision"] >= PRECISION_FLOOR and row["recall"] >= RECALL_FLOOR, row
