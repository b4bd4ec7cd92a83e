"""Metric functions: plain inputs in, a number out, no models and no I/O.

Retrieval metrics are paper-level: ``gold`` is the set of papers that answer a question and
``retrieved`` the ranked paper ids a system returned. They agree with llama-index's
``HitRate``, ``Recall``, ``MRR`` and ``NDCG`` on the top-k list (tests check it); unlike those,
an empty list scores 0 instead of raising, and the ideal DCG counts at most k gold papers.
A function returns ``None`` where the metric does not apply (no gold papers, nothing cited);
aggregates skip ``None``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import Stemmer

from paperchat.rag.text import (  # cited_numbers is part of this module's API too
    CITATION_MARK,
    CITED_LABEL,
    LEADING_MARKS,
    cited_numbers,
    split_sentences,
    strip_marks,
)

# -- retrieval ---------------------------------------------------------------------------------


def hit_at_k(gold: Sequence[str], retrieved: Sequence[str], k: int) -> float | None:
    """1.0 when any gold paper is among the first k, else 0.0."""
    if not gold:
        return None
    return 1.0 if set(gold) & set(retrieved[:k]) else 0.0


def recall_at_k(gold: Sequence[str], retrieved: Sequence[str], k: int) -> float | None:
    """Share of the gold papers found among the first k."""
    if not gold:
        return None
    wanted = set(gold)
    return len(wanted & set(retrieved[:k])) / len(wanted)


def reciprocal_rank(
    gold: Sequence[str], retrieved: Sequence[str], k: int | None = None
) -> float | None:
    """1 / rank of the first gold paper (0.0 when none is in the first k); its mean is MRR."""
    if not gold:
        return None
    wanted = set(gold)
    for rank, pid in enumerate(retrieved[:k], start=1):
        if pid in wanted:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(gold: Sequence[str], retrieved: Sequence[str], k: int) -> float | None:
    """Binary-relevance nDCG of the first k: DCG over the best DCG any ranking could reach."""
    if not gold:
        return None
    wanted = set(gold)
    dcg = sum(1.0 / math.log2(rank + 1)
              for rank, pid in enumerate(retrieved[:k], start=1) if pid in wanted)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(wanted), k) + 1))
    return dcg / ideal


# -- citations ---------------------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_EMPHASIS = re.compile(r"\*\*|__|`")


def citations_valid(text: str, n_sources: int) -> bool:
    """An answer's citations are valid when it cites something and every ``[n]`` resolves."""
    numbers = cited_numbers(text)
    return bool(numbers) and all(1 <= n <= n_sources for n in numbers)


def citation_precision(cited: Sequence[str], gold: Sequence[str]) -> float | None:
    """Share of the distinct cited papers that are gold papers."""
    if not cited or not gold:
        return None
    papers = set(cited)
    return len(papers & set(gold)) / len(papers)


def citation_recall(cited: Sequence[str], gold: Sequence[str]) -> float | None:
    """Share of the gold papers that the answer cites."""
    if not gold:
        return None
    wanted = set(gold)
    return len(wanted & set(cited)) / len(wanted)


def cited_sentences(text: str) -> list[tuple[str, list[int]]]:
    """The answer's sentences that carry citations: (sentence without markers, its numbers).

    A marker standing at the start of a sentence ("... works. [2] Next") belongs to the sentence
    before it, which is how writers (and LLMs) often place them. A line that opens with a cited
    label ("**MiniCPM** [1]: ...") cites that source for each of its sentences; the label itself
    is not a claim.
    """
    pieces: list[list] = []  # [sentence, numbers]
    for line in text.splitlines():
        line = _EMPHASIS.sub("", _BULLET.sub("", line)).strip()
        label = CITED_LABEL.match(line)
        inherited = cited_numbers(label.group(2)) if label else []
        if label:
            line = line[label.end():]
        for piece in split_sentences(line):
            lead = LEADING_MARKS.match(piece)
            if lead and pieces:
                pieces[-1][1].extend(cited_numbers(lead.group(1)))
                piece = piece[lead.end():]
            if not piece.strip():
                continue
            pieces.append([piece, [*inherited, *cited_numbers(piece)]])
    claims = []
    for sentence, numbers in pieces:
        plain = re.sub(r"\s+([.,;:!?])", r"\1", strip_marks(sentence))
        if numbers and plain:
            claims.append((plain, list(dict.fromkeys(numbers))))
    return claims


Judge = Callable[[list[tuple[str, list[str]]]], list[bool]]


def citation_support(
    claims: Sequence[tuple[str, Sequence[int]]], supports: Judge, passages: dict[int, str]
) -> float | None:
    """ALCE-style citation recall: share of cited sentences that their cited texts support.

    ``passages`` maps a citation number to the text it stands for (the cited abstract);
    ``supports`` is the judge (embedding similarity, NLI or an LLM): given (sentence, cited
    texts) pairs, it says which are supported. A sentence whose numbers all fail to resolve is
    unsupported.
    """
    if not claims:
        return None
    pairs = [(sentence, [passages[n] for n in numbers if n in passages])
             for sentence, numbers in claims]
    judged = [p for p in pairs if p[1]]
    return sum(supports(judged)) / len(claims) if judged else 0.0


# -- answer content ----------------------------------------------------------------------------

_STEMMER = Stemmer.Stemmer("english")
_WORD = re.compile(r"[\w.+-]*\w", re.UNICODE)
_STOPWORDS = frozenset(
    "a an the of and or in on for to with by from is are was were be been as at that this these "
    "those it its than their which into over via per can".split()
)


def content_words(text: str) -> list[str]:
    """Stemmed, casefolded words and numbers ("1.2b", "gpt-4") without stop words."""
    words = [w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS]
    return _STEMMER.stemWords(words)


def fact_present(fact: str, answer: str, *, min_overlap: float = 0.8) -> bool:
    """A key fact is present when its text appears (case and spacing aside), or most of its
    content words do ("share a prefix" states "shared prefix")."""
    if " ".join(fact.casefold().split()) in " ".join(answer.casefold().split()):
        return True
    words = set(content_words(fact))
    if not words:
        return False
    return len(words & set(content_words(answer))) / len(words) >= min_overlap


def key_fact_recall(answer: str, facts: Sequence[str], *, min_overlap: float = 0.8) -> float | None:
    """Share of the key facts that the answer states."""
    if not facts:
        return None
    return sum(fact_present(f, answer, min_overlap=min_overlap) for f in facts) / len(facts)


def coverage_correct(answerable: bool, coverage: str) -> float:
    """1.0 when an unanswerable question was declined or answered only in part (saying what is
    missing), or when an answerable one was not declined."""
    if answerable:
        return 0.0 if coverage == "declined" else 1.0
    return 1.0 if coverage in ("declined", "partial") else 0.0


# -- aggregates --------------------------------------------------------------------------------


def present(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None]


def mean(values: Sequence[float | None]) -> float | None:
    kept = present(values)
    return sum(kept) / len(kept) if kept else None


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """The q-th percentile (0-100), linear interpolation, as numpy computes it."""
    kept = present(values)
    return float(np.percentile(kept, q)) if kept else None


def bootstrap_ci(
    values: Sequence[float | None], *, resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean, seeded so a report is reproducible."""
    kept = np.asarray(present(values), dtype=float)
    if kept.size == 0:
        return None
    if kept.size == 1:
        return float(kept[0]), float(kept[0])
    rng = np.random.default_rng(seed)
    means = kept[rng.integers(0, kept.size, size=(resamples, kept.size))].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


# -- answer length, faithfulness and the extraction reference points ---------------------------

_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
# Lines that frame an answer rather than claim something: a survey's opening, "Related:", a
# note that a named item is missing.
_FRAMING = re.compile(
    r"^(?:\d+ papers? in the corpus .*:|related:|"
    r".{1,120} (?:is|are) not in the corpus\.(?: .{1,120} (?:is|are) not in the corpus\.)*)$",
    re.IGNORECASE,
)


def _lines(text: str) -> list[tuple[str, bool]]:
    """Non-empty lines of an answer, each marked True when it is a table's header or rule."""
    lines = [line.strip() for line in text.splitlines()]
    out = []
    for i, line in enumerate(lines):
        if not line:
            continue
        header = line.startswith("|") and i + 1 < len(lines) and bool(_TABLE_RULE.match(
            lines[i + 1]))
        out.append((line, header or bool(_TABLE_RULE.match(line))))
    return out


def answer_words(text: str) -> int:
    """Words a reader reads (whitespace-separated, with a letter or digit): citation markers,
    markup and table headers and rules left out."""
    kept = " ".join(line for line, skip in _lines(text) if not skip)
    return sum(1 for w in CITATION_MARK.sub(" ", kept).split() if any(c.isalnum() for c in w))


def unfaithful_lines(text: str, sources: dict[int, str]) -> list[str]:
    """Lines of an answer that break faithfulness: a claim (sentence, list item or table row)
    without a citation, or with a word that none of its cited sources (abstract and title) has.
    Framing lines (a survey's opening, "Related:", "X is not in the corpus.") and a table row
    for a missing item claim nothing and pass."""
    vocab = {n: set(_TOKEN.findall(s.casefold())) for n, s in sources.items()}
    bad = []
    for line, skip in _lines(text):
        if skip:
            continue
        numbers = cited_numbers(line)
        plain = _EMPHASIS.sub("", _BULLET.sub("", line)).strip()
        if not numbers:
            missing_row = line.startswith("|") and "not in the corpus" in line
            if not (missing_row or _FRAMING.match(plain)):
                bad.append(line)
            continue
        allowed: set[str] = set().union(*(vocab.get(n, set()) for n in numbers))
        words = _TOKEN.findall(CITATION_MARK.sub(" ", plain).casefold())
        if any(n not in vocab for n in numbers) or any(w not in allowed for w in words):
            bad.append(line)
    return bad


def faithful(text: str, sources: dict[int, str]) -> float | None:
    """1.0 when every line of the answer is faithful to what it cites, else 0.0."""
    if not text.strip():
        return None
    return 0.0 if unfaithful_lines(text, sources) else 1.0


def oracle_extract(facts: Sequence[str], sentences: Sequence[str], budget: int) -> str:
    """The ceiling of extraction: gold-abstract sentences picked greedily for the key facts
    they state (most new facts first, then the shortest), within ``budget`` words."""
    chosen: list[str] = []
    covered: set[int] = set()
    words = 0
    while True:
        best, best_key = None, None
        for s in sentences:
            if s in chosen:
                continue
            new = {i for i, f in enumerate(facts) if i not in covered and fact_present(f, s)}
            n = len(s.split())
            if not new or words + n > budget:
                continue
            key = (len(new), -n)
            if best_key is None or key > best_key:
                best, best_key = s, key
        if best is None:
            return " ".join(chosen)
        chosen.append(best)
        words += len(best.split())
        covered |= {i for i, f in enumerate(facts) if fact_present(f, best)}
