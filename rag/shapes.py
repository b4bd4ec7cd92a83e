"""The shape an answer takes: about one paper, a survey of a technique, a comparison, or open.

The answerability decision (``ctx.decision.shape``, from the question analysis) is used when the
engine made one. Without it the shape is read from the question's wording and the retrieval
scores: "compare A and B" / "A vs B" / "how do A and B differ" is a comparison, "approaches to
X" / "summarise X" / "which papers ..." a survey, one paper clearly ahead of the rest (by fused
score) makes an answer about that paper, anything else is open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.analysis_types import Shape

if TYPE_CHECKING:
    from rag.answerer import Context
    from rag.types import RetrievedPaper

COMPARISON = re.compile(
    r"\b(compar(?:e|es|ed|ing|ison)|versus|vs\.?|differ(?:s|ence|ences)?|contrast|"
    r"(?:better|faster|cheaper) than)\b",
    re.IGNORECASE,
)
SURVEY = re.compile(
    r"\b(summari[sz]e|summary|overview|survey|approaches|techniques|methods|strategies|"
    r"which (?:papers|works|methods|models|approaches|systems)|what (?:papers|work|works)|"
    r"papers (?:on|about|that)|list (?:the|all)|ways to|what has been (?:learned|done|proposed)|"
    r"how have (?:researchers|people|papers))\b",
    re.IGNORECASE,
)
# "Compare KIVI and Scissorhands", "KIVI vs. Scissorhands", "How do KIVI and H2O differ".
_PAIR = [
    re.compile(r"\bcompare\s+(?P<a>.+?)\s+(?:and|with|to|against|vs\.?|versus)\s+(?P<b>.+?)"
               r"(?:\s+(?:on|in|for|regarding|by|at)\b.*)?[?.!]*$", re.IGNORECASE),
    re.compile(r"^(?:.*?\b(?:between|is|are)\s+)?(?P<a>[^,?]+?)\s+(?:vs\.?|versus)\s+"
               r"(?P<b>[^,?]+?)(?:\s*[:,]\s*.*|\s+(?:on|in|for)\b.*)?[?.!]*$", re.IGNORECASE),
    re.compile(r"\bhow\s+(?:do|does|did)\s+(?P<a>.+?)\s+and\s+(?P<b>.+?)\s+"
               r"(?:differ|compare)\b", re.IGNORECASE),
    re.compile(r"\bdifferences?\s+between\s+(?P<a>.+?)\s+and\s+(?P<b>.+?)[?.!]*$",
               re.IGNORECASE),
]
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    """A named item of a comparison and the retrieved paper that defines it (None: missing)."""

    name: str
    paper: int | None  # index into ctx.papers


def shape_of(ctx: Context, one_paper_ratio: float) -> Shape:
    """The decision's shape, else one read from the wording and the scores."""
    if ctx.decision is not None:
        return ctx.decision.shape
    return shape_from(ctx.query, ctx.papers, one_paper_ratio)


def shape_from(question: str, papers: list[RetrievedPaper], one_paper_ratio: float) -> Shape:
    if COMPARISON.search(question) and len(pair_names(question)) == 2:
        return "comparison"
    if SURVEY.search(question):
        return "survey"
    if named_paper(question, papers) is not None or clearly_ahead(papers, one_paper_ratio):
        return "one_paper"
    return "open"


def clearly_ahead(papers: list[RetrievedPaper], ratio: float) -> bool:
    """The top paper leads: the second's fused score is below ``ratio`` times the first's."""
    if len(papers) < 2:
        return bool(papers)
    top, second = papers[0].score, papers[1].score
    return top > 0 and second < ratio * top


def named_paper(question: str, papers: list[RetrievedPaper]) -> int | None:
    """The retrieved paper whose technique name ("Lean Attention", "KIVI") the question uses."""
    from rag.extractive import technique_name

    for i, paper in enumerate(papers):
        name = technique_name(paper)
        if name == paper.title or len(name) < 3:
            continue
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", question, re.IGNORECASE):
            return i
    return None


def pair_names(question: str) -> list[str]:
    """The two names a comparison question puts side by side ([] when it names none)."""
    text = question.strip()
    for pattern in _PAIR:
        found = pattern.search(text)
        if found:
            names = [_ARTICLE.sub("", found.group(g).strip(" ,.;:'\"")) for g in ("a", "b")]
            if all(0 < len(n.split()) <= 6 for n in names):
                return names
    return []


def compared_items(ctx: Context) -> list[Item]:
    """The named items of a comparison, each with its paper among ``ctx.papers``.

    With the question analysis: its names, resolved to the papers that define them. Without:
    the names the wording pairs, matched to a retrieved paper whose technique name or title
    holds it; when the question names nothing, the two leading papers.
    """
    index = {p.paper_id: i for i, p in enumerate(ctx.papers)}
    if ctx.analysis is not None and ctx.analysis.names:
        items = []
        for named in ctx.analysis.names:
            found = next((index[pid] for pid in named.papers if pid in index), None)
            items.append(Item(named.text, found))
        return items
    names = pair_names(ctx.query)
    if not names:
        return [Item("", i) for i in range(min(2, len(ctx.papers)))]
    return [Item(name, find_paper(name, ctx.papers)) for name in names]


def find_paper(name: str, papers: list[RetrievedPaper]) -> int | None:
    """The retrieved paper that a name stands for: its technique name or title first, then an
    abstract that defines it."""
    from rag.extractive import technique_name

    wanted = _norm(name)
    if not wanted:
        return None
    for i, paper in enumerate(papers):
        if _norm(technique_name(paper)) == wanted:
            return i
    word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)
    for i, paper in enumerate(papers):
        if word.search(paper.title):
            return i
    for i, paper in enumerate(papers):
        if re.search(rf"\({re.escape(name)}\)|\b(?:called|named|dubbed|propose|introduce|"
                     rf"present)\s+{re.escape(name)}\b", paper.abstract, re.IGNORECASE):
            return i
    return None


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.casefold())
