"""Checks on an LLM's answer after generation.

Citations to sources that do not exist are removed; sentences without a citation, or whose cited
abstracts hold no sentence similar enough to them, are flagged (the answer is kept, the flags go
in the Answer for the UI to show).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.prompts import NO_ANSWER
from rag.sentences import SentenceBank, split_sentences
from rag.types import Citation, Flag, RetrievedPaper

_MARK = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


@dataclass
class Checked:
    text: str
    citations: list[Citation]
    flags: list[Flag]


def cited_numbers(sentence: str) -> list[int]:
    return [int(n) for group in _MARK.findall(sentence) for n in re.split(r"[,;]", group)]


def strip_marks(sentence: str) -> str:
    return _MARK.sub("", sentence).strip()


def remove_invalid(text: str, valid: range) -> tuple[str, set[int]]:
    """``text`` without citations outside ``valid``, and the numbers removed."""
    removed: set[int] = set()

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"[,;]", match.group(1))]
        good = [n for n in numbers if n in valid]
        removed.update(n for n in numbers if n not in valid)
        if not good:
            return ""
        return match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())] + \
            "[" + ", ".join(str(n) for n in good) + "]"

    return _MARK.sub(keep, text), removed


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


def check(text: str, papers: list[RetrievedPaper], bank: SentenceBank, threshold: float) -> Checked:
    """Clean ``text``'s citations against ``papers`` (numbered from 1) and flag what fails."""
    original = claims(text)
    text, removed = remove_invalid(text, range(1, len(papers) + 1))
    flags: list[Flag] = []
    for sentence in original:
        numbers = cited_numbers(sentence)
        if numbers and all(n in removed for n in numbers):
            flags.append(Flag(strip_marks(sentence), "cited a source that does not exist"))

    sentences = claims(text)
    already = {f.sentence for f in flags}
    cited = [(s, [n for n in cited_numbers(s)]) for s in sentences]
    for sentence, numbers in cited:
        if not numbers and strip_marks(sentence) not in already:
            flags.append(Flag(strip_marks(sentence), "no citation"))

    to_check = [(s, ns) for s, ns in cited if ns]
    banks = bank.get([(p.paper_id, p.abstract) for p in papers])
    best_passage: dict[int, tuple[float, str]] = {}
    if to_check:
        vectors = bank.embedder.embed([strip_marks(s) for s, _ in to_check])
        for (sentence, numbers), vector in zip(to_check, vectors, strict=True):
            best_sim, best_n = -1.0, numbers[0]
            for n in dict.fromkeys(numbers):
                source = banks[papers[n - 1].paper_id]
                if not source.sentences:
                    continue
                sims = source.vectors @ vector
                j = int(np.argmax(sims))
                if sims[j] > best_passage.get(n, (-2.0, ""))[0]:
                    best_passage[n] = (float(sims[j]), source.sentences[j])
                if sims[j] > best_sim:
                    best_sim, best_n = float(sims[j]), n
            if best_sim < threshold:
                flags.append(Flag(strip_marks(sentence), f"unsupported by [{best_n}]"))

    citations = []
    for n in sorted({n for _, ns in to_check for n in ns}):
        paper = papers[n - 1]
        passage = best_passage.get(n, (0.0, paper.passages[0] if paper.passages else ""))[1]
        citations.append(Citation(n=n, paper_id=paper.paper_id, title=paper.title,
                                  urls=list(paper.urls), passage=passage))
    return Checked(text.strip(), citations, flags)
