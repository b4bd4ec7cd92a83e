"""Composing an extractive answer by its shape, from the retrieved abstracts' own sentences.

- **One paper**: its sentences that answer the question, method and result first (2 to 4,
  within ``answer.one_paper_words``); other papers only when nearly as relevant, after a
  "Related:" line.
- **Survey**: "N papers in the corpus address X:", one point per paper (what it does, its
  reported result with the numbers), and a table (paper | approach | reported result | code).
- **Comparison**: a table with one row per named item (problem | approach | reported result |
  code), a missing item said to be missing, then one line on each.
- **Open**: one or two sentences from each relevant paper.

Every sentence is an abstract's sentence or a shortening of it at clause boundaries; a sentence
that opens pointing back ("This results in ...") comes with the sentence before it, or its
connective is cut ("To address this, we ..." -> "We ...").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from paperchat.ingest.roles import QUANTITY
from paperchat.rag.analysis import terse_topic
from paperchat.rag.sentences import (
    PaperSentences,
    clip,
    cut_back_connective,
    points_ahead,
    points_back,
)
from paperchat.rag.shapes import Item, compared_items, named_paper, shape_of
from paperchat.rag.table import code_link, markdown_table, row_cells
from paperchat.rag.types import Citation, RetrievedPaper, TableRow

if TYPE_CHECKING:
    from paperchat.rag.answerer import Context
    from paperchat.settings import AnswerSettings

# Questions that ask for a measured outcome: result sentences (with numbers) answer them.
_ASKS_QUANTITY = re.compile(
    r"\b(how (?:much|many|fast|well|large|big|small|accurate)|faster|speed-?ups?|slower|"
    r"accuracy|results?|perform\w*|improv\w*|gains?|reduc\w*|savings?|throughput|latency|"
    r"cost|cheaper|better|outperform\w*|benchmarks?|reach|achiev\w*|what precision)\b",
    re.IGNORECASE,
)
_ROLE_ORDER = {"method": 0, "result": 0, "problem": 1, "other": 2}
_ASKS_CODE = re.compile(r"(?i)\b(?:code|github|open[- ]?sourced?|releas\w*|implementations?|"
                        r"repo(?:sitory)?|download\w*)\b")
# A sentence that only says where code, data or models are: a link and a few words.
_NOTICE = re.compile(r"(?i)^(?!(?:\S+\s+){16})[^.]*?\b(?:available|released|open-sourced|"
                     r"public(?:ly)?|found|hosted|accessible)\b[^.]*?(?:https?://|github\.com|"
                     r"www\.)\S*\s*$")


@dataclass
class Sentence:
    paper: int  # index into ctx.papers
    index: int  # position in the abstract
    text: str
    role: str
    sim: float  # cosine similarity to the question
    score: float  # sim plus the role's lift for this question
    notice: bool = False  # only points to code or data ("Code is available at URL.")

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class View:
    """One retrieved paper as the composer sees it."""

    i: int
    paper: RetrievedPaper
    name: str
    sentences: list[Sentence]

    @property
    def usable(self) -> list[Sentence]:
        return [s for s in self.sentences if s.words >= 5 and not s.notice]

    @property
    def best(self) -> float:
        """How well the paper matches the question: its best sentence's similarity."""
        return max((s.sim for s in self.usable), default=-1.0)

    def of_role(self, role: str) -> list[Sentence]:
        return sorted((s for s in self.usable if s.role == role), key=lambda s: -s.score)


@dataclass
class Composed:
    lines: list[str]
    citations: list[Citation]
    table: list[TableRow] = field(default_factory=list)
    shape: str = ""  # the layout taken: "one_paper" | "survey" | "comparison" | "open"


class _Cites:
    """Citation numbers in order of first use."""

    def __init__(self) -> None:
        self.citations: list[Citation] = []
        self._n: dict[int, int] = {}
        self._passages: dict[int, list[Sentence]] = {}

    def n(self, view: View, used: list[Sentence]) -> int:
        if view.i not in self._n:
            self._n[view.i] = len(self._n) + 1
            self._passages[view.i] = []
            self.citations.append(Citation(n=self._n[view.i], paper_id=view.paper.paper_id,
                                           title=view.paper.title, urls=list(view.paper.urls),
                                           passage=""))
        known = {s.index for s in self._passages[view.i]}
        self._passages[view.i] += [s for s in used if s.index not in known]
        citation = self.citations[self._n[view.i] - 1]
        citation.passage = " ".join(s.text for s in sorted(self._passages[view.i],
                                                           key=lambda s: s.index))
        return self._n[view.i]


def views(ctx: Context, banks: dict[str, PaperSentences], a: AnswerSettings) -> list[View]:
    """The retrieved papers with their sentences scored against the question."""
    from paperchat.ingest.lexical import LexicalIndex
    from paperchat.rag.extractive import technique_name

    quantity = bool(_ASKS_QUANTITY.search(ctx.query))
    # A code link says nothing about the question unless it asks for code; the sources panel
    # and the tables' code column give the link anyway.
    notices = not _ASKS_CODE.search(ctx.query)
    terms = _question_terms(ctx)
    total = sum(terms.values())
    lift = {"method": a.method_lift, "result": a.result_lift, "problem": a.problem_lift,
            "other": a.other_lift}
    out = []
    for i, paper in enumerate(ctx.papers):
        bank = banks.get(paper.paper_id)
        if bank is None or not bank.sentences:
            continue
        sims = bank.vectors @ ctx.query_vector if len(bank.sentences) else np.zeros(0)
        sentences = []
        for j, (text, role, sim) in enumerate(zip(bank.sentences, bank.roles, sims,
                                                  strict=True)):
            score = float(sim) + lift.get(role, 0.0)
            if role == "result" and QUANTITY.search(text):
                score += a.number_lift * (2 if quantity else 1)
            if total and a.term_lift:
                said = {stem for _, stem in LexicalIndex.terms(text)}
                score += a.term_lift * sum(w for t, w in terms.items() if t in said) / total
            sentences.append(Sentence(i, j, text, role, float(sim), score,
                                      notices and bool(_NOTICE.match(text))))
        out.append(View(i, paper, technique_name(paper), sentences))
    return out


def _question_terms(ctx: Context) -> dict[str, float]:
    """The question's salient terms as stems with their idf, less the words of the names it
    uses (every sentence of a named paper may hold its name; that says nothing)."""
    from paperchat.ingest.lexical import LexicalIndex

    if ctx.analysis is None:
        return {}
    names = {stem for n in ctx.analysis.names for _, stem in LexicalIndex.terms(n.text)}
    terms: dict[str, float] = {}
    for plain, idf in ctx.analysis.salient:
        for _, stem in LexicalIndex.terms(plain):
            if stem not in names:
                terms[stem] = idf
    return terms


def compose(ctx: Context, banks: dict[str, PaperSentences], a: AnswerSettings) -> Composed:
    every = views(ctx, banks, a)
    if not every:
        return Composed([], [])
    shape = shape_of(ctx, a.one_paper_ratio)
    if shape == "comparison":
        return _comparison(ctx, every, a)
    relevant = _relevant(ctx, every, a)
    if shape == "survey" and len(relevant) > 1:
        return _survey(ctx, relevant, a)
    pinned = _pinned(ctx, every)
    if shape == "one_paper" or len(relevant) == 1 or pinned:
        return _one_paper(ctx, pinned or relevant[0], relevant, a)
    return _open(relevant, a)


# -- choosing sentences ------------------------------------------------------------------------


def _relevant(ctx: Context, every: list[View], a: AnswerSettings) -> list[View]:
    """Papers worth a point: close to the best paper in fused score and in sentence match."""
    top_score = max(v.paper.score for v in every)
    top_best = max(v.best for v in every)
    kept = [v for v in every
            if v.best >= max(a.sentence_floor, top_best - a.sentence_margin)
            and v.paper.score >= a.survey_ratio * top_score]
    return kept or [max(every, key=lambda v: v.best)]


def _pinned(ctx: Context, every: list[View]) -> View | None:
    """The paper the question names: the decision's first pinned paper, else a retrieved
    paper whose technique name the question uses."""
    if ctx.decision is not None:
        first = ctx.decision.pinned[0] if ctx.decision.pinned else None
    else:
        named = named_paper(ctx.query, ctx.papers)
        first = ctx.papers[named].paper_id if named is not None else None
    return next((v for v in every if v.paper.paper_id == first), None)


def _unit(view: View, s: Sentence, taken: set[int]) -> list[Sentence]:
    """A sentence with the sentences before it that it points back to (at most two), and the
    one after it when it announces what that one lists."""
    unit = [s]
    while points_back(unit[0].text) and unit[0].index > 0 and len(unit) < 3:
        before = view.sentences[unit[0].index - 1]
        if before.index in taken:
            break
        unit.insert(0, before)
    after = unit[-1].index + 1
    if points_ahead(unit[-1].text) and after < len(view.sentences) and after not in taken:
        unit.append(view.sentences[after])  # "... two principal techniques." and the list
    return unit


def _stands_alone(view: View, unit: list[Sentence], taken: set[int]) -> bool:
    first = unit[0]
    return not points_back(first.text) or first.index == 0 or (first.index - 1) in taken


def pick(view: View, budget: int, most: int, seeds: Sequence[Sentence | None] = (),
         clip_to: int = 0, floor: float = -math.inf) -> list[Sentence]:
    """A paper's sentences that answer the question best, within ``budget`` words: the
    ``seeds`` first (when they fit), then by score those that score at least ``floor``; at
    most ``most``; each with what it points back to."""
    taken: dict[int, Sentence] = {}
    words = 0
    ranked = sorted(view.usable, key=lambda s: -s.score)
    if not ranked:
        return []
    for s in [s for s in seeds if s is not None] + [s for s in ranked if s.score >= floor]:
        if len(taken) >= most:
            break
        if s.index in taken:
            continue
        unit = [u for u in _unit(view, s, set(taken)) if u.index not in taken]
        if not _stands_alone(view, unit, set(taken)):
            continue
        cost = sum(len(_short(u, clip_to, k > 0).split()) for k, u in enumerate(unit))
        if taken and words + cost > budget:
            continue
        for u in unit:
            taken[u.index] = u
        words += cost
    return _ordered(view, list(taken.values()))


def _ordered(view: View, chosen: list[Sentence]) -> list[Sentence]:
    """Method and result first, then the rest; a sentence stays right after what it points
    back to."""
    chosen = sorted(chosen, key=lambda s: s.index)
    groups: list[list[Sentence]] = []
    for s in chosen:
        if groups and groups[-1][-1].index == s.index - 1 and (
                points_back(s.text) or points_ahead(groups[-1][-1].text)):
            groups[-1].append(s)
        else:
            groups.append([s])
    groups.sort(key=lambda g: (min(_ROLE_ORDER.get(s.role, 2) for s in g), g[0].index))
    return [s for g in groups for s in g]


def _short(s: Sentence, clip_to: int, glued: bool = False) -> str:
    """The sentence as said: without a connective pointing back (kept when ``glued`` to the
    sentence it points to), cut to ``clip_to`` words after its first clauses (0: whole)."""
    text = s.text if glued else cut_back_connective(s.text)
    if clip_to and len(text.split()) > clip_to:
        return _period(clip(text, clip_to, _prefer(s.role), keep_start=True))
    return text


def _say(sentences: list[Sentence], clip_to: int = 0) -> str:
    """The sentences, each shortened (``_short``) unless it follows the sentence it points
    back to, which it then keeps whole."""
    out = []
    previous = None
    for s in sentences:
        glued = previous is not None and previous.index == s.index - 1 and points_back(s.text)
        out.append(_short(s, clip_to, glued))
        previous = s
    return " ".join(out)


# What a problem sentence says is wrong, beside the background that opens most abstracts
# ("LLMs have sparked a new wave of exciting AI applications.").
_GAP = re.compile(r"(?i)\b(?:however|but|yet|challeng\w*|suffer\w*|limit\w*|bottleneck\w*|"
                  r"costly|expensive|prohibitive|struggl\w*|difficult\w*|hard to|lack\w*|"
                  r"hinder\w*|inefficien\w*|overhead|fail\w*|cannot|unable|constrain\w*|"
                  r"waste\w*|fragment\w*|underutili\w*|degrad\w*|slow\w*|bound)\b")


def _gap(view: View) -> Sentence | None:
    """The problem a paper takes on: its best problem sentence that reads on its own, one
    before the method (not a difficulty of the method itself) that says what is wrong first."""
    problems = [s for s in view.of_role("problem") if _standalone(view, s)]
    first_method = min((s.index for s in view.sentences if s.role == "method"), default=0)
    return max(problems, key=lambda s: (s.index < first_method, bool(_GAP.search(s.text)),
                                        s.score), default=None)


def _standalone(view: View, s: Sentence | None) -> Sentence | None:
    """``s`` if it reads on its own once its connective is cut; else None."""
    if s is None or points_back(s.text):
        return None
    return s


# -- shapes -----------------------------------------------------------------------------------


def _one_paper(ctx: Context, main: View, relevant: list[View], a: AnswerSettings) -> Composed:
    cites = _Cites()
    method, result = _approach_and_result(main, a.naming_lift)
    top = max(main.usable, key=lambda s: s.score, default=None)
    chosen = pick(main, a.one_paper_words, 4, seeds=(top, method, result),
                  clip_to=a.sentence_words, floor=a.fill_floor)
    if not chosen:  # an abstract of fragments only: say what the other papers say
        return _open([v for v in relevant if v is not main] or relevant, a)
    lines = [f"**{main.name}** [{cites.n(main, chosen)}]: {_say(chosen, a.sentence_words)}\n"]
    related = [v for v in relevant
               if v is not main and v.paper.score >= a.related_ratio * main.paper.score]
    points = []
    for view in related[:2]:
        said = pick(view, a.one_paper_words // 2, 1, clip_to=a.point_words)
        if said:
            points.append(f"- **{view.name}** [{cites.n(view, said)}]: "
                          f"{_say(said, a.point_words)}\n")
    if points:
        lines += ["\nRelated:\n", *points]
    return Composed(lines, cites.citations, shape="one_paper")


def _open(relevant: list[View], a: AnswerSettings) -> Composed:
    cites = _Cites()
    lines = []
    per_paper = max(25, a.answer_words // max(1, len(relevant)))
    for view in relevant:
        # What each paper does comes first when it answers nearly as well as its best sentence.
        method, _ = _approach_and_result(view, a.naming_lift)
        top = max(view.usable, key=lambda s: s.score, default=None)
        seed = method if method is not None and top is not None and \
            method.score >= a.open_method_ratio * top.score else top
        said = pick(view, per_paper, 2, seeds=(seed,), clip_to=a.point_words)
        if said:
            lines.append(f"- **{view.name}** [{cites.n(view, said)}]: "
                         f"{_say(said, a.point_words)}\n")
    return Composed(lines, cites.citations, shape="open")


def _approach_and_result(view: View, naming_lift: float, for_row: bool = False
                         ) -> tuple[Sentence | None, Sentence | None]:
    """What a paper does and what it reports: its best method sentence and its best result
    sentence (numbers first) that read on their own. ``for_row``: for a table row, where the
    name is in the first cell, a sentence that only names the technique comes last."""
    methods = sorted((s for s in view.of_role("method") if _standalone(view, s)),
                     key=lambda s: (for_row and _bare(view, s),
                                    -(s.score + naming_lift * _names_its_method(view, s))))
    method = methods[0] if methods else None
    if method is None:
        method = next((s for s in sorted(view.usable, key=lambda s: -s.score)
                       if s.role != "result" and not points_back(s.text)), None)
    avoid = {method.index} if method else set()
    results = [s for s in view.of_role("result") if s.index not in avoid
               and not points_back(s.text)]
    numbered = [s for s in results if QUANTITY.search(s.text)]
    result = (numbered or results or [None])[0]
    return method, result


_FUNCTION_WORDS = frozenset(
    "a an and are as at be by for from in into is it its of on or our paper propose proposes "
    "proposed introduce introduces introduced present presents presented novel new called named "
    "termed dubbed response address addresses tackle overcome solve limitations limitation issues "
    "issue challenges challenge problem problems gap these this that those the to we which with "
    "work method approach framework model models system technique".split())


def _bare(view: View, s: Sentence) -> bool:
    """A sentence that names the paper's technique and says nothing of how it works ("In
    response to these limitations, we propose Energy-based Concept Bottleneck Models
    (ECBMs)."): under four words that are neither function words nor the name's."""
    known = {w.casefold() for w in re.findall(r"[\w-]+", view.name)}  # the row's first cell
    said = [w for w in re.findall(r"[\w-]+", s.text.casefold())
            if w not in known and w not in _FUNCTION_WORDS and not w.isdigit()]
    return len(said) < 4


def _names_its_method(view: View, s: Sentence) -> bool:
    """The sentence that introduces the paper's technique ("we propose X, a ...")."""
    return bool(re.search(r"(?i)\bwe (?:\w+ )?(?:propose|introduce|present|develop|design)",
                          s.text)) or (view.name != view.paper.title and view.name in s.text)


def _survey(ctx: Context, relevant: list[View], a: AnswerSettings) -> Composed:
    cites = _Cites()
    lines = [opening(ctx.question, len(relevant)) + "\n\n"]
    rows: list[TableRow] = []
    for view in relevant:  # each row says what the paper does and what it reports
        method, result = _approach_and_result(view, a.naming_lift, for_row=True)
        n = cites.n(view, [s for s in (method, result) if s is not None])
        rows.append(TableRow(view.paper.paper_id, n, row_cells(
            view.name, None, method, result, code_link(view.paper), a.point_words)))
    lines.append(markdown_table(rows, ("paper", "approach", "result", "code")))
    return Composed(lines, cites.citations, rows, shape="survey")


def _comparison(ctx: Context, every: list[View], a: AnswerSettings) -> Composed:
    cites = _Cites()
    by_index = {v.i: v for v in every}
    items: list[Item] = compared_items(ctx)
    rows: list[TableRow] = []
    points: list[str] = []
    missing: list[str] = []
    for item in items:
        view = by_index.get(item.paper) if item.paper is not None else None
        if view is None:
            missing.append(item.name)
            said = f"not in the corpus as a paper ({item.mentions} mention it)" \
                if item.mentions else "not in the corpus"
            rows.append(TableRow("", 0, {"paper": item.name, "problem": said,
                                         "approach": "", "result": "", "code": ""}))
            continue
        method, result = _approach_and_result(view, a.naming_lift, for_row=True)
        problem = _gap(view)
        said = [s for s in (problem, method, result) if s is not None]
        n = cites.n(view, said)
        name = item.name or view.name
        rows.append(TableRow(view.paper.paper_id, n, row_cells(
            name, problem, method, result, code_link(view.paper), a.cell_words)))
        # The line on each says what the table does not: the sentences that answer the
        # question best among the rest (the table already holds its problem, method, result).
        told = {s.index for s in said}
        more = [s for s in sorted(view.usable, key=lambda s: -s.score) if s.index not in told
                and _standalone(view, s)][:2]
        line = _ordered(view, more) if more else [s for s in (method, result) if s]
        if more:
            cites.n(view, more)
        body = " ".join(_short(s, a.point_words) for s in line)
        points.append(f"- **{name}** [{n}]: {body}\n")
    if not any(r.n for r in rows):
        return _open(_relevant(ctx, every, a), a)
    lines = [markdown_table(rows, ("paper", "problem", "approach", "result", "code")), "\n"]
    lines += points
    if missing and ctx.decision is None:  # with a decision, the engine says what is missing
        lines.append("\n" + " ".join(f"{name} is not in the corpus." for name in missing) + "\n")
    return Composed(lines, cites.citations,
                    [r for r in rows if r.n] + [r for r in rows if not r.n], shape="comparison")


def _period(text: str) -> str:
    return text if not text or text[-1] in ".!?" else text + "."


def _prefer(role: str) -> Callable[[str], float]:
    """How clip() ranks the spans of a point's sentence: a method by what it does, a result
    by its numbers."""
    from paperchat.rag.table import how_score, measured_score

    return measured_score if role == "result" else how_score


_WHICH = re.compile(r"\b(?:which|what) (?:papers|works|methods|approaches|systems|models)\s+"
                    r"(?P<rest>.+)", re.IGNORECASE)
_ABOUT = re.compile(
    r"\b(?:techniques|approaches|methods|strategies|ways|work|research|papers|solutions)\s+"
    r"(?:(?:have|has) been (?:proposed|developed|used|explored)\s+|exist\s+|are there\s+)?"
    r"(?P<prep>for|to|on|in|of|about|towards?|that address)\s+(?P<rest>.+)",
    re.IGNORECASE,
)
_SUMMARISE = re.compile(r"^(?:please\s+)?(?:summari[sz]e|give an overview of|overview of|survey|"
                        r"describe|list)\s+(?:the\s+)?(?:(?:main|different|recent|existing)\s+)?"
                        r"(?P<rest>.+)", re.IGNORECASE)
_TAIL = re.compile(r"(?:,\s*|\s+)(?:and|or) (?:how|what|which|why|where|when)\b.*$|"
                   r"\s+(?:more|most)?\s*$", re.IGNORECASE)
_NOUNISH = re.compile(r"(?:ion|ing|[^s]s|ence|ance|ment|ity|ism|al|er|or)$", re.IGNORECASE)


def opening(question: str, n: int) -> str:
    """A survey's first line in the question's words: "7 papers in the corpus address
    speculative decoding:" or "4 papers in the corpus reduce the memory of the KV cache:"."""
    text = " ".join(question.split()).rstrip("?.! ")
    head = f"{n} paper{'s' if n != 1 else ''} in the corpus"
    found = _WHICH.search(text)
    if found and not re.match(r"(?i)(?:have|has|are|is|do|does|exist)\b", found["rest"]):
        rest = _TAIL.sub("", found["rest"])
        if 0 < len(rest.split()) <= 14:
            return f"{head} {rest}:"
    topic = topic_of(question)
    if topic.startswith("to "):
        return f"{head} {topic[3:]}:"
    return f"{head} address {topic}:" if topic else f"{head} address this question:"


def topic_of(question: str) -> str:
    """What a survey question is about, in its own words ("speculative decoding" from
    "Summarize the techniques for speculative decoding"; "to compress the KV cache" from
    "What approaches have been proposed to compress the KV cache?"); "" when it cannot be told."""
    text = " ".join(re.sub(r"\s*\([^)]*\)", "", question).split()).rstrip("?.! ")
    found = _ABOUT.search(text)
    if found:
        prep, rest = found["prep"].lower(), found["rest"]
        first = rest.split()[0] if rest.split() else ""
        if prep == "to" and first.islower() and not _NOUNISH.search(first):
            rest = "to " + rest
    else:
        found = _SUMMARISE.search(text)
        rest = found["rest"] if found else ""
        if not found and terse_topic(question):
            rest = text  # a topic typed as a few words: "speculative decoding"
    rest = _TAIL.sub("", rest).strip()
    if not rest or len(rest.split()) > 14:
        return ""
    return rest
