"""Tables of an answer: one row per paper or named item, cells shortened from its sentences.

Each cell is a sentence of the paper's abstract cut at clause boundaries, so a table states
nothing its cited abstract does not; each row carries its citation after the paper's name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from paperchat.ingest.roles import QUANTITY
from paperchat.rag.sentences import clip
from paperchat.rag.types import RetrievedPaper, TableRow

if TYPE_CHECKING:
    pass

HEADERS = {"paper": "paper", "problem": "problem", "approach": "approach",
           "result": "reported result", "code": "code"}
_CODE_HOST = re.compile(r"github\.com|gitlab\.com|huggingface\.co|bitbucket\.org", re.I)


class _Said(Protocol):
    text: str


def code_link(paper: RetrievedPaper) -> str:
    """The paper's code repository, when its abstract gives one."""
    return next((u for u in paper.urls if _CODE_HOST.search(u)), "")


def row_cells(name: str, problem: _Said | None, method: _Said | None, result: _Said | None,
              code: str, words: int) -> dict[str, str]:
    cells = {"paper": name}
    if problem is not None:
        cells["problem"] = clip(problem.text, words)
    cells["approach"] = clip(method.text, words, how_score) if method is not None else ""
    cells["result"] = clip(result.text, words, measured_score) if result is not None else ""
    cells["code"] = code
    return cells


def how_score(span: str) -> float:
    """What a method does beats that it is proposed: "a method that optimizes ..." over "We
    propose TETRIS"."""
    value = 0.5 if re.search(r"(?i)\b(?:which|that|by|via|using|through|to)\b", span) else 0.0
    if re.fullmatch(r"(?i)we (?:\w+ )?(?:propose|introduce|present|develop|design)\w* "
                    r"(?:\S+ ?){1,5}[.,]?", span.strip()):
        value -= 0.5
    return value


def measured_score(span: str) -> float:
    """A result with its numbers beats one without; a finding beats its setting."""
    value = 1.0 if QUANTITY.search(span) else 0.0
    if re.search(r"(?i)\b(?:outperform|surpass|achiev|yield|improv|reduc|speed|faster|higher|"
                 r"lower|fewer|less|better|gains?)", span):
        value += 0.5
    return value


def markdown_table(rows: Sequence[TableRow], columns: Sequence[str]) -> str:
    """A Markdown table; the paper cell reads "**name** [n]" (no number for a missing item)."""
    head = "| " + " | ".join(HEADERS[c] for c in columns) + " |"
    rule = "| " + " | ".join("---" for _ in columns) + " |"
    lines = [head, rule]
    for row in rows:
        cells = []
        for column in columns:
            text = _cell(row.cells.get(column, ""))
            if column == "paper":
                text = f"**{text}** [{row.n}]" if row.n else f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
