"""The shape an answer takes: about one paper, a survey of a technique, a comparison, or open.

The answerability decision (``ctx.decision.shape``, from the question analysis) is used when the
engine made one. Without it the shape is read from the question's wording and the retrieval
scores: "compare A and B" / "A vs B" / "how do A and B differ" is a comparison, "approaches to
X" / "summarise X" / "which papers ..." a survey, one paper clearly ahead of the rest (by fused
score) makes an answer about that paper, anything else is open.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paperchat.rag.analysis_types import Shape

if TYPE_CHECKING:
    from paperchat.rag.answerer import Context
    from paperchat.rag.types import RetrievedPaper

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
# "the two papers/approaches/studies": a comparison of the two leading papers.
TWO = re.compile(r"\b(?:the|both|these) two\b(?:\s+[\w-]+){0,4}?\s+(?:papers|approaches|"
                 r"studies|methods|works|systems|techniques|models)\b", re.IGNORECASE)
_COINED = re.compile(r"\b(?:called|named|dubbed|termed|we (?:propose|introduce|present))\s+"
                     r"([A-Z][a-z0-9]*[A-Z][\w-]*)")
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Item:
    """A named item of a comparison and the retrieved paper that defines it (None: missing)."""

    name: str
    paper: int | None  # index into ctx.papers
    mentions: int = 0  # papers that mention a name that is no paper's own ("LoRA")


def shape_of(ctx: Context, one_paper_ratio: float) -> Shape:
    """The decision's shape, else one read from the wording and the scores."""
    if ctx.decision is not None:
        return ctx.decision.shape
    return shape_from(ctx.query, ctx.papers, one_paper_ratio)


def shape_from(question: str, papers: list[RetrievedPaper], one_paper_ratio: float) -> Shape:
    if len(side_by_side(question, papers)) >= 2 or TWO.search(question) or \
            (COMPARISON.search(question) and len(pair_names(question)) == 2):
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


def names_of(paper: RetrievedPaper) -> list[str]:
    """What a question may call a paper: its technique name ("Lean Attention", "KIVI") and the
    coined words of its title ("PagedAttention", "GPipe", "Megatron-LM")."""
    from paperchat.rag.extractive import _GENERIC, technique_name

    names = []
    name = technique_name(paper)
    if name != paper.title and len(name) >= 3:
        names.append(name)
    # a coined name the abstract gives its technique ("a technique called ExFlow")
    for found in _COINED.finditer(paper.abstract):
        if found.group(1) not in names and found.group(1).upper() not in _GENERIC:
            names.append(found.group(1))
    for word in re.findall(r"[\w-]+", paper.title):
        coined = sum(c.isupper() for c in word[1:]) >= 1 and any(c.islower() for c in word)
        if len(word) >= 4 and (coined or word.isupper()) and word.upper() not in _GENERIC \
                and word not in names:
            names.append(word)
    return names


def named_papers(question: str, papers: list[RetrievedPaper]) -> list[int]:
    """The retrieved papers the question names, in the order the question names them."""
    found: dict[int, int] = {}
    for i, paper in enumerate(papers):
        for name in names_of(paper):
            hit = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", question, re.IGNORECASE)
            if hit and (i not in found or hit.start() < found[i]):
                found[i] = hit.start()
    return sorted(found, key=lambda i: found[i])


def side_by_side(question: str, papers: list[RetrievedPaper]) -> list[int]:
    """Papers the question names side by side ("KIVI and ThinK", "GPipe vs Megatron-LM",
    "PagedAttention (vLLM) and vAttention"); [] when it names fewer than two that way."""
    spans: list[tuple[int, int, int]] = []
    for i, paper in enumerate(papers):
        for name in names_of(paper):
            for hit in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", question,
                                   re.IGNORECASE):
                spans.append((hit.start(), hit.end(), i))
    spans.sort()
    for (_, end, i), (start, _, j) in itertools.pairwise(spans):
        between = question[end:start]
        if i != j and len(between.split()) <= 3 and re.search(
                r"\b(?:and|vs\.?|versus|or|with)\b|,", between, re.IGNORECASE):
            return [i, j]
    return []


def named_paper(question: str, papers: list[RetrievedPaper]) -> int | None:
    """The first retrieved paper the question names, if any."""
    named = named_papers(question, papers)
    return named[0] if named else None


def pair_names(question: str) -> list[str]:
    """The two names a comparison question puts side by side ([] when it names none)."""
    text = question.strip()
    for pattern in _PAIR:
        found = pattern.search(text)
        if found:
            names = [_ARTICLE.sub("", found.group(g).strip(" ,.;:'\"")) for g in ("a", "b")]
            if all(0 < len(n.split()) <= 6 and _name_like(n) for n in names):
                return names
    return []


def compared_items(ctx: Context) -> list[Item]:
    """The named items of a comparison, each with its paper among ``ctx.papers``.

    With the question analysis: its names, resolved to the papers that define them. Without:
    the names the wording pairs, matched to a retrieved paper whose technique name or title
    holds it; when the question names nothing, the two leading papers.
    """
    index = {p.paper_id: i for i, p in enumerate(ctx.papers)}
    # The items compared are the names a paper defines, or that no paper holds ("Mooncake");
    # a name many papers only mention ("KV", "LLM", "GPT-4") is the topic, not an item.
    compared = [n for n in ctx.analysis.names if n.defined_by or not n.known] \
        if ctx.analysis is not None else []
    if compared:
        items = []
        taken: set[int] = set()
        for named in compared:
            # A name two papers claim ("PagedAttention": its own paper, and vAttention's title
            # "... without PagedAttention") goes to one not already standing for another item.
            rows = [index[pid] for pid in named.papers if pid in index]
            found = next((i for i in rows if i not in taken), rows[0] if rows else None)
            if found is not None:
                taken.add(found)
            items.append(Item(named.text, found))
        # The wording may pair one with a name papers only mention ("Compare LoRA and GaLore"):
        # it keeps its row, said to have no paper of its own.
        paired = {_norm(name) for name in pair_names(ctx.query)}
        for named in ctx.analysis.names:
            if not named.defined_by and named.known and _norm(named.text) in paired:
                items.append(Item(named.text, None, len(named.mentioned_by)))
        return sorted(items, key=lambda item: ctx.query.find(item.name))
    named = side_by_side(ctx.query, ctx.papers)
    if len(named) >= 2:
        return [Item("", i) for i in named]
    names = [] if TWO.search(ctx.query) else pair_names(ctx.query)
    if not names:
        return [Item("", i) for i in range(min(2, len(ctx.papers)))]
    # A name the analysis found only mentioned ("LoRA" in "Memory-Efficient LoRA Training", or
    # spelled out as "Low-Rank Adaptation (LoRA)" by a paper on a variant) is no paper's own.
    mentioned = {_norm(n.text) for n in ctx.analysis.names} if ctx.analysis is not None else set()
    return [Item(name, find_paper(name, ctx.papers, by_title=_norm(name) not in mentioned))
            for name in names]


def find_paper(name: str, papers: list[RetrievedPaper], by_title: bool = True) -> int | None:
    """The retrieved paper that a name stands for: its technique name, then (``by_title``) its
    title or an abstract that defines it."""
    from paperchat.rag.extractive import technique_name

    wanted = _norm(name)
    if not wanted:
        return None
    for i, paper in enumerate(papers):
        if _norm(technique_name(paper)) == wanted:
            return i
    word = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)
    for i, paper in enumerate(papers if by_title else []):
        if word.search(paper.title):
            return i
    for i, paper in enumerate(papers if by_title else []):
        if re.search(rf"\({re.escape(name)}\)|\b(?:called|named|dubbed|propose|introduce|"
                     rf"present)\s+{re.escape(name)}\b", paper.abstract, re.IGNORECASE):
            return i
    return None


def _name_like(text: str) -> bool:
    """Written like a name: a capital past the first letter of a word, or a digit ("KIVI",
    "Lean Attention", "GPT-4"), not a description ("prompting-based methods")."""
    return any(any(c.isupper() or c.isdigit() for c in w) for w in text.split()) and \
        not re.match(r"(?i)(?:two|both|these|those|the)\b", text)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.casefold())
