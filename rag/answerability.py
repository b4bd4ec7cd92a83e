"""Whether to answer: answered, answered in part, or declined, always with the reason.

Two kinds of evidence decide it.

* **Names and details, by rule.** A name the question uses that no paper holds (see
  ``rag/analysis.py``) is missing from the corpus, whatever the scores say: with other named
  items or a covered topic the answer is *partial* ("Mooncake is not in the corpus."), alone it
  is *declined*. A question about a detail (a learning rate, a GPU count) that the abstracts of
  the papers it is about do not report is *partial*: they are there, the detail is not.
* **Topic coverage, by a calibrated model.** A logistic regression over the features below,
  fitted on the eval dev split (``paperchat eval calibrate``), gives P(the corpus covers the
  question); below ``answer.decline_below`` the question is declined, naming the salient terms
  that no paper (or none of the closest papers) holds. Between ``hedge_threshold`` and the
  threshold (both stored with the model), the question is answered in part instead: the
  closest papers are shown after a warning that says what they lack. The hedge threshold sits
  above every out-of-domain and unknown-name question of the dev split, so a question far from
  the corpus is still declined. The weights are in ``rag/answerability_model.json``, versioned
  with the code.

Features (each a number per question, computed from the analysis and one retrieval):

``dense``          best chunk's cosine similarity to the question (all-MiniLM-L6-v2)
``bm25_norm``      best paper's BM25 score divided by the sum of the idf of the question's
                   terms: the share of the question's term weight one paper matches, which
                   unlike the raw score does not grow with the question's length
``cover_top``      idf-weighted share of the salient terms found in the best paper
``cover_top3``     the same over the best three papers together
``unknown_share``  idf-weighted share of the salient terms that no paper holds at all
``unknown_rare``   1 when one of those is rare in English too (wordfreq's Zipf frequency under
                   3: "vocoder", "sourdough", "Mooncake"), a topic's own word rather than a
                   paraphrase's everyday one ("guess", "owners")
``margin``         fused score of the first paper minus that of the second
``names_defined``  named items some paper defines (0, 1, 2+)
``names_unknown``  named items no paper mentions (0, 1, 2+)
``detail_missing`` 1 when a detail is asked and none of the best three abstracts gives it
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from paperchat.rag.analysis import (
    MEASURE_WORDS,
    detail_given,
    english_zipf,
    mention_pattern,
)
from paperchat.rag.analysis_types import Decision, Detail, QuestionAnalysis, Shape

if TYPE_CHECKING:
    from paperchat.ingest.lexical import LexicalIndex
    from paperchat.ingest.store import StoredPaper
    from paperchat.rag.types import RetrievedPaper

FEATURES: tuple[str, ...] = (
    "dense", "bm25_norm", "cover_top", "cover_top3", "unknown_share", "unknown_rare", "margin",
    "names_defined", "names_unknown", "detail_missing",
)
MODEL_FILE = "answerability_model.json"


@dataclass(frozen=True)
class Evidence:
    """What one retrieval found, as the decision needs it."""

    papers: list[RetrievedPaper]
    best_dense: float
    best_bm25: float


def features(analysis: QuestionAnalysis, evidence: Evidence, lexical: LexicalIndex,
             catalog: dict[str, StoredPaper], rare_in_english: float) -> dict[str, float]:
    papers = evidence.papers
    salient = analysis.salient
    total = sum(idf for _, idf in salient) or 1.0

    def covered(ids: list[str]) -> float:
        hit = 0.0
        for term, idf in salient:
            stems = [s for _, s in lexical.terms(term)]
            if stems and any(lexical.holds(pid, stems[0]) for pid in ids):
                hit += idf
        return hit / total

    query_idf = sum(lexical.idf(stem) for stem in {s for _, s in lexical.terms(
        analysis.question)})
    ids = [p.paper_id for p in papers]
    detail_missing = 0.0
    if analysis.details and papers:
        about = _about(analysis, ids)
        detail_missing = float(_missing_detail(analysis, about, catalog) is not None)
    unknown = set(analysis.unknown_terms)
    return {
        "dense": float(evidence.best_dense),
        "bm25_norm": float(evidence.best_bm25) / query_idf if query_idf else 0.0,
        "cover_top": covered(ids[:1]),
        "cover_top3": covered(ids[:3]),
        "unknown_share": sum(idf for term, idf in salient if term in unknown) / total,
        "unknown_rare": float(any(english_zipf(t) < rare_in_english for t in unknown)),
        "margin": float(papers[0].score - papers[1].score) if len(papers) > 1 else (
            float(papers[0].score) if papers else 0.0),
        "names_defined": float(min(2, sum(1 for n in analysis.names if n.defined_by))),
        "names_unknown": float(min(2, len(analysis.unknown_names))),
        "detail_missing": detail_missing,
    }


def _missing_detail(analysis: QuestionAnalysis, about: list[str],
                    catalog: dict[str, StoredPaper]) -> Detail | None:
    """The first detail asked for that none of the ``about`` papers' abstracts gives."""
    for detail in analysis.details or ([analysis.detail] if analysis.detail else []):
        if not any(detail_given(detail, catalog[pid]) for pid in about if pid in catalog):
            return detail
    return None


def _about(analysis: QuestionAnalysis, ids: list[str]) -> list[str]:
    """The papers a question is about: those its names define, else those few that mention
    its names, else the best three retrieved."""
    named = [pid for n in analysis.names for pid in n.defined_by]
    mentioned = [pid for n in analysis.names if 0 < len(n.mentioned_by) <= 3
                 for pid in n.mentioned_by]
    return list(dict.fromkeys(named or mentioned or ids[:3]))


@dataclass(frozen=True)
class CoverageModel:
    """Logistic regression over standardised :data:`FEATURES`; weights from the JSON file."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    info: dict[str, object]
    hedge: float = 0.0  # between this and ``threshold``: answered in part, with a warning

    @classmethod
    def load(cls, path: str | None = None) -> CoverageModel:
        if path:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        else:
            shipped = resources.files("paperchat.rag").joinpath(MODEL_FILE)
            data = json.loads(shipped.read_text("utf-8"))
        names = tuple(data["features"])
        missing = set(names) - set(FEATURES)
        if missing:
            raise ValueError(f"{path or MODEL_FILE}: unknown features {sorted(missing)}")
        return cls(names, tuple(data["mean"]), tuple(data["scale"]), tuple(data["coef"]),
                   float(data["intercept"]), float(data["threshold"]), dict(data.get("info", {})),
                   float(data.get("hedge_threshold", data["threshold"])))

    def probability(self, values: dict[str, float]) -> float:
        z = self.intercept + sum(
            c * (values[f] - m) / (s or 1.0)
            for f, m, s, c in zip(self.features, self.mean, self.scale, self.coef, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def decide(
    analysis: QuestionAnalysis,
    evidence: Evidence,
    values: dict[str, float],
    model: CoverageModel,
    decline_below: float,
    catalog: dict[str, StoredPaper],
    hedge_below: float | None = None,
    clear_lead: float = 0.5,
) -> Decision:
    """The outcome for one question, with what is missing and the reason in words."""
    p = model.probability(values)
    pinned = list(dict.fromkeys(pid for n in analysis.names for pid in n.defined_by))
    shape = _shape(analysis, evidence, pinned, clear_lead)
    unknown = [n.text for n in analysis.unknown_names]
    known_named = [n for n in analysis.names if n.defined_by]
    base = Decision("answered", shape, probability=p, features=values, pinned=pinned)

    if not evidence.papers:
        return _declined(base, [], "No paper in the corpus matches this question.")
    if unknown:
        missing = [f"{name} is not in the corpus." for name in unknown]
        if known_named or (p >= decline_below and not _only_names(analysis)):
            return _partial(base, unknown, " ".join(missing))
        return _declined(base, unknown, _mentions_none(unknown))
    if p < decline_below and not known_named:
        reason = _topic_reason(analysis, evidence, catalog)
        missing = analysis.unknown_terms or _absent_terms(analysis, evidence)
        if hedge_below is not None and p >= hedge_below:
            # Unsure: the closest papers are shown for what they say, with why they may not
            # answer the question.
            return _partial(base, missing, f"The corpus may not cover this question. {reason} "
                            "What the closest papers say:")
        return _declined(base, missing, reason)
    about = _about(analysis, [p.paper_id for p in evidence.papers])
    detail = _missing_detail(analysis, about, catalog) if values.get("detail_missing") else None
    if detail is not None:
        titles = [_short(catalog[pid]) for pid in about[:2] if pid in catalog]
        whose = " and ".join(titles) or "the closest papers"
        return _partial(base, [detail.words],
                        f"The abstract of {whose} does not give {detail.words}; "
                        "what it reports:")
    other = _unmentioned(analysis, pinned, evidence, catalog)
    if other is not None:
        return _partial(base, [other], f"The abstract of {_short(catalog[pinned[0]])} does not "
                        f"mention {other}; what it reports:")
    return base


def _unmentioned(analysis: QuestionAnalysis, pinned: list[str], evidence: Evidence,
                 catalog: dict[str, StoredPaper]) -> str | None:
    """A name the question relates to the one paper it names, that no abstract about that paper
    writes: "How does Combiner score on the Long Range Arena benchmark?" when Combiner's
    abstract never names the benchmark (other papers do: it is no unknown name). The papers
    about it are the named one and the retrieved ones that write its name (a later study of
    SPLADE answers "what did the efficiency study change to approach BM25 latency")."""
    if len(pinned) != 1 or pinned[0] not in catalog or analysis.form in ("comparison", "survey"):
        return None
    named = [mention_pattern(n.text) for n in analysis.names if n.defined_by]
    texts = [f"{catalog[pid].title}\n{catalog[pid].abstract}" for pid in dict.fromkeys(
        [pinned[0]] + [p.paper_id for p in evidence.papers]) if pid in catalog]
    about = [t for i, t in enumerate(texts) if i == 0 or any(n.search(t) for n in named)]
    for item in analysis.names:
        if item.defined_by or not item.mentioned_by or item.text.casefold() in MEASURE_WORDS:
            continue
        pattern = mention_pattern(item.text)
        if not any(pattern.search(t) for t in about):
            return item.text
    return None


def _only_names(analysis: QuestionAnalysis) -> bool:
    """Whether the question is just about its names ("What is Mooncake?", "Mooncake vs X"):
    nothing else in it carries weight."""
    name_words = {w.casefold() for n in analysis.names for w in n.text.replace("-", " ").split()}
    rest = [t for t, idf in analysis.salient if t not in name_words and idf >= 2.0]
    return len(rest) <= 1


def _shape(analysis: QuestionAnalysis, evidence: Evidence, pinned: list[str],
           clear_lead: float) -> Shape:
    if analysis.form == "comparison" and (len(analysis.names) >= 2 or len(pinned) >= 2):
        return "comparison"
    if analysis.form == "survey":
        return "survey"
    if len(pinned) == 1 or analysis.form == "single":
        return "one_paper"
    if analysis.form == "comparison":
        return "comparison"
    papers = evidence.papers
    if len(papers) == 1 or (len(papers) > 1 and papers[0].score - papers[1].score >= clear_lead):
        return "one_paper"
    return "open"


def _short(paper: StoredPaper) -> str:
    head = paper.title.partition(":")[0].strip()
    return head if len(head) <= 60 else paper.title[:60].rsplit(" ", 1)[0] + "..."


def _partial(base: Decision, missing: list[str], reason: str) -> Decision:
    base.coverage, base.missing, base.reason = "partial", missing, reason
    return base


def _declined(base: Decision, missing: list[str], reason: str) -> Decision:
    base.coverage, base.missing, base.reason = "declined", missing, reason
    return base


def _mentions_none(terms: list[str]) -> str:
    quoted = _join([t for t in terms])
    return f"No paper in the corpus mentions {quoted}."


def _absent_terms(analysis: QuestionAnalysis, evidence: Evidence) -> list[str]:
    """The question's salient terms that none of the closest papers holds, rarest first."""
    texts = [f"{p.title} {p.abstract}".casefold() for p in evidence.papers[:3]]
    return [t for t, _ in analysis.salient if not any(t in text for text in texts)][:3]


def _topic_reason(analysis: QuestionAnalysis, evidence: Evidence,
                  catalog: dict[str, StoredPaper]) -> str:
    """Why the corpus does not cover the question: the terms no paper holds, and the question's
    rarest terms that the closest papers do not hold either."""
    top = evidence.papers[:3]
    texts = [f"{p.title} {p.abstract}".casefold() for p in top]
    unknown = set(analysis.unknown_terms)
    absent = [t for t, _ in analysis.salient
              if t not in unknown and not any(t in text for text in texts)][:3]
    if analysis.unknown_terms:
        reason = _mentions_none(analysis.unknown_terms[:3])
        if absent:
            reason = reason[:-1] + f", and the closest papers do not mention {_join(absent)}."
        return reason
    if not analysis.salient:
        return "The question has no words the papers in the corpus use."
    if absent:
        return (f"No paper in the corpus is about this: the closest papers do not mention "
                f"{_join(absent)}.")
    return "No paper in the corpus is about this question; the closest papers only touch it."


def _join(items: list[str]) -> str:
    items = [f"'{i}'" if " " not in i and i.islower() else i for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]
