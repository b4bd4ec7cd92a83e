"""Sentence-by-sentence support of an LLM answer against the retrieved abstracts.

Every sentence that states something gets one verdict:

- ``supported``: a source it cites supports it;
- ``corrected``: its citation was wrong, another retrieved source supports it (cited instead);
- ``added``: it cited nothing, a retrieved source supports it (a citation is added);
- ``unsupported``: no retrieved source supports it; it is kept, marked, and flagged.

How support is judged, for a sentence and one retrieved paper:

1. **Nearest passage.** The sentence (citation marks removed) is embedded with the store's
   embedding model and compared by cosine similarity with the paper's title and each sentence
   of its abstract; the most similar one is the passage, its similarity the support score.
2. **Threshold.** The paper can support the sentence only when the score reaches
   ``answer.support_threshold`` (calibrated on hand-labelled LLM sentences, see
   ``eval/datasets/llm_sentences.jsonl`` and README).
3. **Numbers.** Every number the sentence states (2.6x, 20%, 1k, 4-bit; not the digits of a
   name such as GPT-4 or H2O) must appear in the passage. When one is missing, the abstract
   sentence that holds it joins the passage if it is similar enough to the sentence (score at
   least ``threshold - support_number_margin``); otherwise the paper does not support it.
4. **Names.** A sentence that names a retrieved paper's technique (its title's head, "KIVI" in
   "KIVI: A Tuning-Free ...", or an acronym the title defines) is supported only by papers
   whose title or abstract use that name: a claim about KIVI's numbers that also says "compared
   with Scissorhands" is not supported by KIVI's abstract unless it mentions Scissorhands.

A sentence citing several sources is supported when those of them above the threshold,
together, pass the number and name checks. Otherwise the single retrieved paper that passes
all checks with the highest score corrects (or adds) the citation; if none does, the sentence
is unsupported, and keeps the valid citations it had.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from paperchat.rag.prompts import NO_ANSWER
from paperchat.rag.text import (
    CITED_LABEL,
    LEADING_MARKS,
    cited_numbers,
    split_sentences,
    strip_marks,
)
from paperchat.rag.types import CheckedSentence, Citation, Flag, RetrievedPaper

if TYPE_CHECKING:
    from paperchat.rag.sentences import SentenceBank

# Models sometimes cite the prompt's fence itself: "developed in <source n="1">".
_SOURCE_TAG = re.compile(r'<\s*source\s+n\s*=\s*"?(\d+)"?\s*/?>', re.IGNORECASE)
_BROKEN_TAIL = re.compile(r"\s*\[[\d\s,;]*$")  # "[4" cut off at the end of the output
_PREFIX = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+|\s*#{1,6}\s+)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")
_END = re.compile(r"([.!?]+[\"')\]*_]*)$")
# A number, unless glued to a name (GPT-4, H2O, FP16, Llama-2), with an optional scale.
_NUMBER = re.compile(
    r"(?<![A-Za-z_.\d])(?<![A-Za-z]-)(\d+(?:,\d{3})*(?:\.\d+)?)\s?([kKMB](?![a-zA-Z])|[xX×](?![a-zA-Z])|%)?"
)
_SCALE = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9}
_TITLE_ACRONYM = re.compile(r"\(([A-Z][A-Za-z0-9\-]*[A-Z0-9][A-Za-z0-9\-]*)\)")


@dataclass
class Piece:
    """One sentence of the answer as written: text without marks, and the numbers it cited."""

    text: str
    written: list[int] = field(default_factory=list)

    @property
    def is_claim(self) -> bool:
        bare = self.text.strip("*_ ")
        return len(bare.split()) >= 3 and NO_ANSWER.rstrip(".").casefold() not in bare.casefold()


@dataclass
class Line:
    """A line of the answer: its list or heading marker, an optional label, its sentences."""

    prefix: str = ""
    label: str = ""
    pieces: list[Piece] = field(default_factory=list)


@dataclass
class Checked:
    """The answer after the check: text with corrected marks, sources, verdicts and flags."""

    text: str
    citations: list[Citation]
    sentences: list[CheckedSentence]
    flags: list[Flag]


@dataclass
class _Evidence:
    score: float
    passage: str
    ok: bool  # numbers and names found
    missing: str = ""  # what was not found, in words


# -- reading an answer -------------------------------------------------------------------------


def parse(text: str) -> list[Line]:
    """The answer's lines and sentences, each with the citation numbers written for it.

    A mark group standing at the start of a sentence, or alone ("[2][3] [4][5]"), belongs to
    the sentence before it; a mark cut off at the end ("[4") is dropped; a line opening with a
    cited label ("**KIVI** [1]: ...") cites that source for each of its sentences.
    """
    lines: list[Line] = []
    last: Piece | None = None
    text = _SOURCE_TAG.sub(r"[\1]", text)
    # Some writers put every mark before its sentence ("[1] KIVI ... [2] Scissorhands ..."):
    # an answer that opens with a mark is read that way.
    leading = _PREFIX.sub("", text.strip()).startswith("[")
    for raw in _BROKEN_TAIL.sub("", text.strip()).splitlines():
        line = Line()
        rest = raw.strip()
        prefix = _PREFIX.match(rest)
        if prefix:
            line.prefix, rest = prefix.group(1).strip() + " ", rest[prefix.end():]
        inherited: list[int] = []
        label = CITED_LABEL.match(rest)
        if label:
            line.label, inherited = label.group(1).strip(), cited_numbers(label.group(2))
            rest = rest[label.end():]
        for sentence in split_sentences(_BROKEN_TAIL.sub("", rest)):
            lead = LEADING_MARKS.match(sentence)
            ahead: list[int] = []
            if lead:
                if leading:
                    ahead = cited_numbers(lead.group(1))
                elif last is not None:
                    last.written.extend(cited_numbers(lead.group(1)))
                sentence = sentence[lead.end():]
            if not sentence.strip():
                continue
            bare = _SPACE_BEFORE_PUNCT.sub(r"\1", strip_marks(sentence))
            written = ahead + cited_numbers(sentence) if leading and ahead else \
                cited_numbers(sentence) or list(inherited)
            if leading and ahead and cited_numbers(sentence) and sentence.rstrip().endswith("]"):
                written = ahead  # the mark at its end is the next sentence's, or the last one's
            if not bare.strip("*_ .") and last is not None:
                last.written.extend(written)
                continue
            last = Piece(bare, written)
            line.pieces.append(last)
        lines.append(line)
    for line in lines:
        for piece in line.pieces:
            piece.written = list(dict.fromkeys(piece.written))
    return lines


def render(lines: list[Line], cites: dict[int, list[int]]) -> str:
    """The answer again, each sentence with the marks of ``cites`` (by id of its Piece)."""
    out = []
    for line in lines:
        parts = [line.prefix + (f"{line.label}: " if line.label else "")]
        sentences = []
        for piece in line.pieces:
            numbers = cites.get(id(piece), [])
            marks = "".join(f"[{n}]" for n in numbers)
            text = piece.text
            if marks:
                end = _END.search(text)
                text = (f"{text[:end.start()]} {marks}{end.group(1)}" if end
                        else f"{text} {marks}")
            sentences.append(text)
        parts.append(" ".join(sentences))
        out.append("".join(parts).rstrip())
    return "\n".join(out).strip()


_CLAUSE = re.compile(r",?\s+(?:while|whereas)\s+|;\s+|,\s+and\s+(?=[A-Z])")


def clauses(sentence: str) -> list[str]:
    """The parts of a compound sentence that may rest on different sources ("X does A, while
    Y does B"); empty for a simple sentence."""
    parts = [p.strip(" ,.") for p in _CLAUSE.split(sentence)]
    parts = [p for p in parts if len(p.split()) >= 3]
    return parts if len(parts) >= 2 else []


def numbers_in(text: str) -> list[tuple[str, set[str]]]:
    """The numbers stated in ``text``: (as written, the values it may stand for)."""
    found = []
    for match in _NUMBER.finditer(text):
        digits, scale = match.group(1), match.group(2) or ""
        value = float(digits.replace(",", ""))
        keys = {_key(value)}
        if scale in _SCALE:
            keys.add(_key(value * _SCALE[scale]))
        found.append((match.group(0).strip(), keys))
    return found


def _key(value: float) -> str:
    return f"{value:.6g}"


def paper_names(paper: RetrievedPaper) -> list[str]:
    """What a paper's technique is called: its title's head ("KIVI") and the acronyms its title
    defines ("... Dual Chunk Attention (DCA)")."""
    names = []
    head, sep, _ = paper.title.partition(":")
    if sep and 1 <= len(head.split()) <= 3 and len(head) <= 30:
        names.append(head.strip())
    names += _TITLE_ACRONYM.findall(paper.title)
    return [n for n in dict.fromkeys(names) if len(n) >= 2]


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


# -- the check ---------------------------------------------------------------------------------


class SupportChecker:
    """Gives each sentence of an answer its verdict against the retrieved papers."""

    def __init__(self, bank: SentenceBank, threshold: float, number_margin: float) -> None:
        self.bank = bank
        self.threshold = threshold
        self.number_margin = number_margin

    def check(self, text: str, papers: list[RetrievedPaper]) -> Checked:
        """Verdicts for ``text``'s sentences; ``papers`` are its sources, numbered from 1."""
        lines = parse(text)
        pieces = [p for line in lines for p in line.pieces]
        claims = [p for p in pieces if p.is_claim]
        valid = range(1, len(papers) + 1)
        cites: dict[int, list[int]] = {
            id(p): [n for n in p.written if n in valid] for p in pieces
        }
        checked: list[CheckedSentence] = []
        flags: list[Flag] = []
        if claims and papers:
            parts = [clauses(p.text) for p in claims]
            texts = [p.text for p in claims] + [c for group in parts for c in group]
            judged = self.evidence(texts, papers)
            evidence, rest = judged[: len(claims)], iter(judged[len(claims):])
            for piece, per_paper, group in zip(claims, evidence, parts, strict=True):
                per_clause = [next(rest) for _ in group]
                sentence = self.verdict(piece, per_paper, papers, per_clause)
                cites[id(piece)] = sentence.cites
                checked.append(sentence)
                if sentence.verdict == "unsupported":
                    flags.append(Flag(piece.text, _flag_reason(piece, sentence, valid)))
        elif claims:
            for piece in claims:
                checked.append(CheckedSentence(piece.text, [], "unsupported", 0.0, "",
                                               written=piece.written, reason="no sources"))
                flags.append(Flag(piece.text, "no citation"))
        return Checked(render(lines, cites), _citations(checked, papers), checked, flags)

    def evidence(self, sentences: list[str], papers: list[RetrievedPaper]) -> list[list[_Evidence]]:
        """For each sentence, for each paper: the nearest passage, its score, and the checks."""
        banks = self.bank.get([(p.paper_id, p.abstract) for p in papers])
        vectors = self.bank.embedder.embed([*sentences, *(p.title for p in papers)])
        claims, titles = vectors[: len(sentences)], vectors[len(sentences):]
        names = {i: paper_names(p) for i, p in enumerate(papers)}
        out = []
        for sentence, claim in zip(sentences, claims, strict=True):
            numbers = numbers_in(sentence)
            named = {name for i in names for name in names[i] if _mentions(sentence, name)}
            row = []
            for i, paper in enumerate(papers):
                source = banks[paper.paper_id]
                texts = [paper.title, *source.sentences]
                sims = np.concatenate([[float(titles[i] @ claim)],
                                       source.vectors @ claim if source.sentences else []])
                row.append(self._judge(sentence, numbers, named, paper, texts, sims,
                                       _pairs(source.vectors) @ claim))
            out.append(row)
        return out

    def _judge(self, sentence: str, numbers: list[tuple[str, set[str]]], named: set[str],
               paper: RetrievedPaper, texts: list[str], sims: np.ndarray,
               pairs: np.ndarray) -> _Evidence:
        best = int(np.argmax(sims))
        score = float(sims[best])
        chosen = [best]
        if pairs.size and float(pairs.max()) > score:  # a claim that joins two sentences
            j = int(np.argmax(pairs)) + 1  # texts[j] and texts[j + 1]: abstract sentences
            score, chosen = float(pairs.max()), [j, j + 1]
        have = set().union(*(_values(texts[j]) for j in chosen))
        missing = [shown for shown, keys in numbers if not keys & have]
        if missing:  # a second sentence of the abstract may hold them, if it is on topic too
            floor = self.threshold - self.number_margin
            for j in np.argsort(-sims):
                j = int(j)
                if j in chosen or sims[j] < floor:
                    continue
                extra = _values(texts[j])
                if any(keys & extra for shown, keys in numbers if shown in missing):
                    chosen.append(j)
                    have |= extra
                    missing = [shown for shown, keys in numbers if not keys & have]
                    if not missing:
                        break
        passage = " ".join(texts[j] for j in sorted(chosen) if j > 0) or texts[0]
        document = f"{paper.title} {paper.abstract}"
        absent = [n for n in sorted(named) if not _mentions(document, n)]
        problems = []
        if missing:
            problems.append(f"{', '.join(missing)} not in the passage")
        if absent:
            problems.append(f"the paper does not mention {', '.join(absent)}")
        return _Evidence(score, passage, not problems, "; ".join(problems))

    def verdict(self, piece: Piece, evidence: list[_Evidence], papers: list[RetrievedPaper],
                per_clause: list[list[_Evidence]] | None = None) -> CheckedSentence:
        valid = [n for n in piece.written if 1 <= n <= len(papers)]
        above = [n for n in valid if evidence[n - 1].score >= self.threshold]
        if above:
            together = self._together(piece.text, above, evidence, papers)
            if together.ok:
                return CheckedSentence(piece.text, valid, "supported", together.score,
                                       together.passage, written=piece.written)
        passing = [i for i, e in enumerate(evidence) if e.ok and e.score >= self.threshold]
        if passing:
            best = max(passing, key=lambda i: evidence[i].score)
            e = evidence[best]
            if valid:
                why = f"[{best + 1}] supports it, not {_marks(valid)}"
                return CheckedSentence(piece.text, [best + 1], "corrected", e.score, e.passage,
                                       written=piece.written, reason=why)
            return CheckedSentence(piece.text, [best + 1], "added", e.score, e.passage,
                                   written=piece.written, reason=f"[{best + 1}] supports it")
        if per_clause:  # "KIVI does X, while Scissorhands does Y": each half on its own
            best = [max(range(len(papers)), key=lambda i, c=c: (c[i].ok and c[i].score >=
                                                                 self.threshold, c[i].score))
                    for c in per_clause]
            if all(c[i].ok and c[i].score >= self.threshold
                   for c, i in zip(per_clause, best, strict=True)):
                cites = sorted({i + 1 for i in best})
                verdict = "supported" if valid and set(cites) <= set(valid) else \
                    "corrected" if valid else "added"
                return CheckedSentence(
                    piece.text, cites, verdict, min(c[i].score for c, i in
                                                    zip(per_clause, best, strict=True)),
                    " ".join(dict.fromkeys(c[i].passage for c, i in
                                           zip(per_clause, best, strict=True))),
                    written=piece.written,
                    reason="" if verdict == "supported" else
                    f"each part is supported: {_marks(cites)}")
        pool = valid or list(range(1, len(papers) + 1))
        nearest = max(pool, key=lambda n: evidence[n - 1].score)
        e = evidence[nearest - 1]
        why = f"[{nearest}]: " + "; ".join(
            ([f"similarity {e.score:.2f} < {self.threshold:.2f}"] if e.score < self.threshold
             else []) + ([e.missing] if e.missing else []))
        return CheckedSentence(piece.text, valid, "unsupported", e.score, e.passage,
                               written=piece.written, reason=why)

    def _together(self, sentence: str, numbers_cited: list[int], evidence: list[_Evidence],
                  papers: list[RetrievedPaper]) -> _Evidence:
        """Several cited sources above the threshold, judged as one: the numbers must be in
        their passages together, the names in their papers together."""
        if len(numbers_cited) == 1:
            return evidence[numbers_cited[0] - 1]
        passage = " ".join(evidence[n - 1].passage for n in numbers_cited)
        have = _values(passage)
        missing = [shown for shown, keys in numbers_in(sentence) if not keys & have]
        documents = " ".join(f"{papers[n - 1].title} {papers[n - 1].abstract}"
                             for n in numbers_cited)
        named = {name for p in papers for name in paper_names(p) if _mentions(sentence, name)}
        absent = [n for n in named if not _mentions(documents, n)]
        score = max(evidence[n - 1].score for n in numbers_cited)
        return _Evidence(score, passage, not missing and not absent)


def _pairs(vectors: np.ndarray) -> np.ndarray:
    """Unit vectors of each two neighbouring sentences taken together (their normalised sum)."""
    if len(vectors) < 2:
        return np.zeros((0, vectors.shape[1] if vectors.ndim == 2 else 0), dtype=np.float32)
    joined = vectors[:-1] + vectors[1:]
    return joined / np.maximum(np.linalg.norm(joined, axis=1, keepdims=True), 1e-9)


def _values(text: str) -> set[str]:
    return {key for _, keys in numbers_in(text) for key in keys}


def _marks(numbers: list[int]) -> str:
    return "".join(f"[{n}]" for n in numbers)


def _flag_reason(piece: Piece, sentence: CheckedSentence, valid: range) -> str:
    if not piece.written:
        return "no citation"
    if not any(n in valid for n in piece.written):
        return "cited a source that does not exist"
    return f"unsupported by {_marks(sentence.cites)}"


def _citations(sentences: list[CheckedSentence], papers: list[RetrievedPaper]) -> list[Citation]:
    """One Citation per source the checked answer cites; its passage is every passage that
    supports a sentence citing it (the UI marks them all in the abstract)."""
    passages: dict[int, list[str]] = {}
    for s in sentences:
        for n in s.cites:
            found = passages.setdefault(n, [])
            if s.verdict != "unsupported" and s.passage and s.passage not in found:
                found.append(s.passage)
    out = []
    for n in sorted(passages):
        paper = papers[n - 1]
        passage = " ".join(passages[n]) or (paper.passages[0] if paper.passages else "")
        out.append(Citation(n=n, paper_id=paper.paper_id, title=paper.title,
                            urls=list(paper.urls), passage=passage))
    return out
