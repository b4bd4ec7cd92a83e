"""What each sentence of an abstract does: states the problem, the method, a result, or other.

Rules, not a model: cue phrases ("we propose", "outperforms", "achieves"), numbers with units,
and position (abstracts open with the problem and close with results). Measured against hand
labels in ``eval/datasets/roles.jsonl``: ``python -m paperchat.eval.roles`` prints accuracy per
role.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

Role = Literal["problem", "method", "result", "other"]
ROLES: tuple[Role, ...] = ("problem", "method", "result", "other")

# A measured quantity: 2.3x, 45%, 1.4 times, 13W, 156 TFLOPS, 10 points, 7B.
QUANTITY = re.compile(
    r"\d(?:[\d.,]*\d)?\s*(?:%|\\%|x\b|×|times\b|-?fold\b|percent|points?\b|pp\b|"
    r"(?:t|g|p)?flops\b|tokens?/s|ms\b|s\b|seconds?\b|hours?\b|gb\b|mb\b|w\b|bleu|"
    r"\$|dollars?|gpu[- ]hours?)|\$\s?\d|\bup to \d|\bby \d",
    re.IGNORECASE,
)
# Findings: stated as shown, measured or better than something.
_FINDING = re.compile(
    r"\b(outperform\w*|surpass\w*|achiev(?:es|ed|ing)|attain\w*|speed[- ]?ups?|"
    r"state[- ]of[- ]the[- ]art|sota\b|on par|exceed\w*|"
    r"(?:results|experiments|evaluations?|analysis|analyses|findings|studies|evidence) "
    r"(?:\w+ )?(?:show|demonstrate|reveal|indicate|suggest|confirm|illustrate)\w*|"
    r"(?:we|our \w+) (?:(?:also|further|empirically|then) )?(?:show|demonstrate|find|found|"
    r"observe|reveal|illustrate|confirm)\w*|(?:shows?|demonstrates?|reveals?|illustrates?) that|"
    r"(?:method|approach|model|framework|system) "
    r"(?:demonstrates|shows|provides|delivers|yields))\b",
    re.IGNORECASE,
)
# Benefits, weaker evidence of a result: "leads to", "improves", "enables".
_BENEFIT = re.compile(
    r"\b(improv(?:es|ed|ing|ement|ements)|reduc(?:es|ed|ing|tion)|boost\w*|faster|"
    r"comparable|competitive|matches|leads? to|results? in|yield\w*|higher|lower|better|"
    r"fewer|enabl(?:es|ing)|eliminat\w*|while (?:maintaining|preserving|retaining))\b",
    re.IGNORECASE,
)
# The paper says what it does: from here on, the abstract describes its method.
_PROPOSE = re.compile(
    r"\b(we (?:\w+ )?(?:propose|introduce|present|develop|design|devise|describe|formulate|"
    r"revisit|focus on|study|investigate|explore|analy[sz]e|examine|consider|address|tackle|"
    r"fabricate|build|model|release|conduct|evaluate|hypothesi[sz]e)\w*|"
    r"(?:this|our|the present) (?:paper|work|study|article|report|survey)\b|"
    r"in this (?:paper|work|study)|here,? we)\b",
    re.IGNORECASE,
)
_METHOD = re.compile(
    r"\b(we (?:\w+ )?(?:leverage|employ|use|adopt|apply|train|extend|combine|cast|frame|"
    r"construct|perform|first|then|further|also|instead|fine-tune)\w*|"
    r"our (?:method|approach|framework|model|system|technique|algorithm|design|key|idea|"
    r"solution|insight|measure|recipe)\w*|(?:named|called|dubbed|termed)\b|"
    r"(?:by|via|through) (?:\w+ing|using|leveraging|exploiting)|"
    r"(?:consists? of|comprises?|is based on|relies on|builds? on|leverages|employs|"
    r"utili[sz]es|only computes|decompos\w+|integrat\w+|incorporat\w+))\b",
    re.IGNORECASE,
)
# Closing statements of significance, not findings: "offers a new perspective", "serves as a".
_OUTLOOK = re.compile(
    r"\b(new perspective|insights? (?:for|into)|future (?:research|work|directions)|"
    r"serves? as a|pav(?:e|es|ing) the way|we hope|hoping|foundational reference|"
    r"provides? (?:a )?(?:principled|quantitative|practical|concrete)|"
    r"(?:results|findings) (?:offer|provide|illuminate)|aims? to serve)\b",
    re.IGNORECASE,
)
_PROBLEM = re.compile(
    r"\b(however|challeng\w*|suffer\w*|limit(?:s|ed|ation|ations)?\b|bottleneck\w*|costly|"
    r"expensive|prohibitive|remains?|struggl\w*|difficult\w*|hard to|issues?|problems?|"
    r"lack\w*|hinder\w*|impractical|inefficien\w*|demand\w*|hamper\w*|gap|unclear|"
    r"degrad\w*|little is known|increasingly|growing|widely|popular|recent(?:ly)?|emerged?|"
    r"rapid\w*|crucial|essential|important|require\w*|constrain\w*|overhead|scarc\w*)\b",
    re.IGNORECASE,
)
_OTHER = re.compile(
    r"^(?:(?:our |the |all )?(?:source )?(?:code|data|dataset|models?|weights|project page|"
    r"implementation|demo|checkpoints?|website)\b[^.]*\b(?:available|released|open[- ]sourced|"
    r"public|found at|at)\b|(?:we )?(?:release|open[- ]source|make|commit)\b[^.]*\b(?:code|"
    r"models?|data|weights|publicly)\b|website and)",
    re.IGNORECASE,
)
_URL = re.compile(r"https?://|github\.com|huggingface\.co", re.IGNORECASE)


# A sentence that continues the one before ("In contrast, the value cache ...") and has no cue of
# its own shares its role.
_CONTINUES = re.compile(r"^(?:in contrast|similarly|likewise|conversely|on the other hand|"
                        r"meanwhile|moreover|furthermore|additionally|in addition|also)\b",
                        re.IGNORECASE)


def tag_roles(sentences: Sequence[str]) -> list[Role]:
    """The role of each sentence of one abstract, in order."""
    first = next((i for i, s in enumerate(sentences) if _PROPOSE.search(s)), len(sentences))
    roles: list[Role] = []
    for i, sentence in enumerate(sentences):
        role = tag_role(sentence, i, len(sentences), first)
        if roles and role == "other" and _CONTINUES.match(sentence) and roles[-1] != "other":
            role = roles[-1]
        roles.append(role)
    return roles


def tag_role(sentence: str, index: int, count: int, first_method: int | None = None) -> Role:
    """The role of sentence ``index`` (from 0) of an abstract of ``count`` sentences, whose
    first sentence saying what the paper does is ``first_method`` (None: not known)."""
    text = sentence.strip()
    if _OTHER.search(text) or (_URL.search(text) and len(text.split()) < 25) \
            or len(text.split()) < 4:
        return "other"
    before = first_method is not None and index < first_method
    late = count > 2 and index >= count * 0.6
    numbers = bool(QUANTITY.search(text))
    proposes = bool(_PROPOSE.search(text))
    if numbers and not (proposes and not _FINDING.search(text) and index <= count / 2):
        return "result"
    if before and not numbers and not re.search(r"(?i)\b(?:we|our \w+) (?:\w+ )?(?:show|find|"
                                                 r"found|observe|demonstrate)", text):
        return "problem"
    if _FINDING.search(text) and not (proposes and re.search(r"\bwe (?:\w+ )?(?:propos|introduc|"
                                                              r"present)", text, re.I)):
        return "result"
    if _OUTLOOK.search(text) and index > 0:
        return "other"
    if proposes or _METHOD.search(text):
        return "method" if not before or proposes else "problem"
    if before or (first_method is None and index <= max(1, count // 4)):
        return "problem"
    if _BENEFIT.search(text) and (late or not _PROBLEM.search(text)):
        return "result"
    if _PROBLEM.search(text) and not late:
        return "problem"
    return "method" if not late else "other"
