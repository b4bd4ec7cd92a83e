"""Generated answerability suites: questions made from the corpus itself, with known outcomes.

(a) ``named``: for every paper with a short name (its title head, or the one acronym or name
    it defines), "What does NAME do?", the bare name and other phrasings, some in lower case:
    never declined, and the answer cites that paper.
(b) ``pairs``: 200 random pairs of such papers, "Compare A and B", "A vs B" and other
    phrasings: never declined, and the answer cites both.
(c) ``absent``: real models and methods the corpus never mentions (each checked absent when the
    suite is built), alone and paired with a corpus name: declined, or partial with the absent
    name in ``missing``.

They need no LLM and run in CI (``tests/test_answerability_suites.py``);
``paperchat eval suites`` prints their pass rates and failures.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from paperchat.ingest.names import is_name_shaped, name_key, title_head

if TYPE_CHECKING:
    from paperchat.ingest.names import NameIndex
    from paperchat.ingest.store import StoredPaper
    from paperchat.rag.engine import Engine
    from paperchat.rag.types import Answer

# Real models, methods, systems and hardware that the bundled corpus never mentions (checked by
# :func:`absent_names` against the store each time the suite is built).
ABSENT_NAMES: tuple[str, ...] = (
    "Mooncake", "SGLang", "TensorRT-LLM", "Medusa", "EAGLE", "StreamingLLM", "PyramidKV",
    "QuaRot", "SpinQuant", "AWQ", "DistServe", "Sarathi-Serve", "LoongServe", "Jamba",
    "DALL-E 3", "Sora", "AlphaFold 3", "Grok-1", "XLNet", "Codex", "WizardLM", "DreamBooth",
    "Midjourney", "YOLOv8", "MiniGPT-4", "SAM 2", "DINOv2", "Ring Attention", "FSDP", "Horovod",
    "Mesh-TensorFlow", "TVM", "Groq", "Tenstorrent", "Graphcore", "MI300X", "Nemotron", "OLMo",
    "Pythia", "Galactica", "Minerva", "Gopher", "LaMDA", "Sparrow", "DPR", "OpenELM",
    "MobileLLM", "TinyLlama", "StableLM", "Zephyr", "OpenChat", "Baichuan", "InternLM",
    "ChatGLM",
)

NAMED_PHRASINGS: tuple[str, ...] = (
    "What does {a} do?", "{a}", "Tell me about {a}", "What is {a} and what does it achieve?",
)
# In lower case too, for one-word names of four letters or more ("scissorhands"): shorter or
# multi-word names in lower case read as ordinary words ("at", "small models, big impact").
LOWER_PHRASINGS: tuple[str, ...] = ("{lower}", "what is {lower}?")
PAIR_PHRASINGS: tuple[str, ...] = (
    "Compare {a} and {b}", "{a} vs {b}", "How do {a} and {b} differ?",
    "{a} or {b}: which is better?", "compare {a} with {b}",
)
ABSENT_PHRASINGS: tuple[str, ...] = ("What is {x}?", "{x}", "How does {x} work?")
ABSENT_PAIR_PHRASINGS: tuple[str, ...] = ("Compare {x} and {a}", "{a} vs {x}")


@dataclass
class Case:
    suite: str  # named | pairs | absent
    question: str
    papers: list[str] = field(default_factory=list)  # must be cited
    absent: str = ""  # must be declined, or partial with this name in ``missing``


@dataclass
class Outcome:
    case: Case
    passed: bool
    coverage: str
    cited: list[str]
    missing: list[str]
    why: str = ""


def short_names(papers: dict[str, StoredPaper], names: NameIndex) -> dict[str, str]:
    """Paper id -> its short name, for papers whose name the index gives to them alone: the
    title head, else the first acronym or name the abstract defines."""
    out: dict[str, str] = {}
    for pid, paper in sorted(papers.items()):
        # Its title head, or an acronym it defines (not the acronym's expansion).
        options = [title_head(paper.title)] + [
            n.lstrip("=~") for n in paper.names if is_name_shaped(n.lstrip("=~"))]
        for name in options:
            if name and names.lookup(name) == [pid] and "^" not in name:
                out[pid] = name
                break
    return out


def absent_names(papers: Iterable[StoredPaper], candidates: Iterable[str] = ABSENT_NAMES
                 ) -> list[str]:
    """The candidates that no paper's title or abstract mentions, in any case or spacing."""
    texts = [f"{p.title}\n{p.abstract}" for p in papers]
    out = []
    for name in candidates:
        parts = re.findall(r"[A-Za-z0-9]+", name)
        pattern = re.compile(r"(?<![A-Za-z0-9])" + r"[\s\-_.]*".join(map(re.escape, parts)),
                             re.IGNORECASE)
        if not any(pattern.search(t) for t in texts):
            out.append(name)
    return out


def build(papers: dict[str, StoredPaper], names: NameIndex, *, pairs: int = 200,
          seed: int = 7) -> list[Case]:
    """All three suites over this corpus (deterministic for a given corpus and seed)."""
    rng = random.Random(seed)
    named = short_names(papers, names)
    cases = []
    for pid, name in named.items():
        phrasings = NAMED_PHRASINGS
        if re.fullmatch(r"[A-Za-z]{4,}", name):
            phrasings += LOWER_PHRASINGS
        for phrasing in phrasings:
            cases.append(Case("named", phrasing.format(a=name, lower=name.lower()), [pid]))
    ids = sorted(named)
    for _ in range(pairs):
        a, b = rng.sample(ids, 2)
        if name_key(named[a]) == name_key(named[b]):
            continue
        phrasing = rng.choice(PAIR_PHRASINGS)
        cases.append(Case("pairs", phrasing.format(a=named[a], b=named[b]), [a, b]))
    for x in absent_names(papers.values()):
        for phrasing in ABSENT_PHRASINGS:
            cases.append(Case("absent", phrasing.format(x=x), absent=x))
        a = rng.choice(ids)
        phrasing = rng.choice(ABSENT_PAIR_PHRASINGS)
        cases.append(Case("absent", phrasing.format(x=x, a=named[a]), absent=x))
    return cases


def judge(case: Case, answer: Answer) -> Outcome:
    cited = [c.paper_id for c in answer.citations]
    outcome = Outcome(case, True, answer.coverage, cited, list(answer.missing))
    if case.absent:
        named_missing = any(name_key(case.absent) in name_key(m) for m in answer.missing)
        if not (answer.coverage == "declined" or (answer.coverage == "partial" and named_missing)):
            outcome.passed, outcome.why = False, f"{case.absent} not reported missing"
    elif answer.coverage == "declined":
        outcome.passed, outcome.why = False, "declined"
    elif not set(case.papers) <= set(cited):
        outcome.passed, outcome.why = False, "named paper not cited"
    return outcome


def run(engine: Engine, cases: list[Case],
        progress: Callable[[int], None] | None = None) -> list[Outcome]:
    outcomes = []
    for i, case in enumerate(cases):
        outcomes.append(judge(case, engine.answer(case.question)))
        if progress:
            progress(i + 1)
    return outcomes


def pass_rates(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for suite in ("named", "pairs", "absent"):
        mine = [o for o in outcomes if o.case.suite == suite]
        if mine:
            out[suite] = {"cases": len(mine),
                          "passed": round(sum(o.passed for o in mine) / len(mine), 4)}
    return out
