"""Checks on an LLM's answer after generation: citation marks read and cleaned.

Citations to sources that do not exist are removed; each sentence is then judged against the
retrieved abstracts (``rag.support``): supported, corrected, cited where it was not, or
unsupported and flagged (the answer is kept, the verdicts go in the Answer for the UI to show).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from paperchat.rag.prompts import NO_ANSWER
from paperchat.rag.support import Checked, SupportChecker
from paperchat.rag.text import (
    CITATION_MARK,
    mark_numbers,
    split_sentences,
    strip_marks,
)

if TYPE_CHECKING:
    from paperchat.rag.sentences import SentenceBank
    from paperchat.rag.types import RetrievedPaper

_MARK = re.compile(r"\s*" + CITATION_MARK.pattern)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def remove_invalid(text: str, valid: range) -> tuple[str, set[int]]:
    """``text`` without citations outside ``valid``, and the numbers removed."""
    removed: set[int] = set()

    def keep(match: re.Match[str]) -> str:
        numbers = mark_numbers(match.group(1))
        good = [n for n in numbers if n in valid]
        removed.update(n for n in numbers if n not in valid)
        if not good:
            return ""
        return match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())] + \
            "[" + ", ".join(str(n) for n in good) + "]"

    return _MARK.sub(keep, text), removed


def renumber(text: str, numbering: dict[int, int], sources: int) -> str:
    """``text`` with each ``[n]`` replaced by ``[numbering[n]]``; a number outside
    ``numbering`` becomes one past ``sources``, so that it stays a source that does not exist."""
    if all(k == v for k, v in numbering.items()):
        return text

    def swap(match: re.Match[str]) -> str:
        numbers = mark_numbers(match.group(1))
        return "".join(f"[{numbering.get(n, sources + n)}]" for n in numbers)

    return CITATION_MARK.sub(swap, text)


def claims(text: str) -> list[str]:
    """The sentences of an answer that state something (list items split too)."""
    out = []
    for line in text.splitlines():
        line = _LIST_ITEM.sub("", line).strip().lstrip("#").strip()
        if not line:
            continue
        for sentence in split_sentences(line):
            bare = strip_marks(sentence)
            if len(bare.split()) >= 3 and NO_ANSWER.rstrip(".").casefold() not in bare.casefold():
                out.append(sentence)
    return out


def check(text: str, papers: list[RetrievedPaper], bank: SentenceBank, threshold: float,
          number_margin: float = 0.1) -> Checked:
    """``text``'s sentences judged against ``papers`` (numbered from 1): verdicts, corrected
    citations and flags (see ``rag.support`` for how support is judged)."""
    return SupportChecker(bank, threshold, number_margin).check(text, papers)
