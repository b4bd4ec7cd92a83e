"""Follow-up questions: turned into a standalone query using the chat history.

With an LLM the question is condensed by the model; offline (or when the model's rewrite is
unusable) the previous question's key terms are added, and a question that points back ("which
of those ...") is answered from the papers the previous question retrieved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from paperchat.rag.answerer import History

if TYPE_CHECKING:
    from llama_index.core.llms import LLM

# Words that point back at the previous answer.
_BACKREF = re.compile(
    r"\b(those|these|them|they|their|it|its|this one|that one|the above|above|former|latter|"
    r"ones|same|which of|what about|how about)\b",
    re.IGNORECASE,
)
_CONTINUATION = re.compile(r"^\s*(and|but|also|or|so|then|what about|how about)\b", re.IGNORECASE)
_RESTRICT = re.compile(
    r"\b(which|what|how many) of (those|these|them)\b|\b(among|of) (those|these|them)\b",
    re.IGNORECASE,
)
_STOP = frozenset(
    "a an and are as at be by can could do does for from has have how i in is it its me of on or "
    "paper papers please show tell that the their them these they this those to use used uses "
    "using was were what when where which who why will with would you your about any some there "
    "give list summarise summarize explain describe find work works approach approaches method "
    "methods technique techniques".split()
)


@dataclass(frozen=True)
class Rewrite:
    query: str  # standalone question for retrieval and scoring
    previous: str | None  # the previous standalone question, when this one follows it up
    restrict: bool  # answer from the previous question's papers only


def last_user_question(history: History) -> str | None:
    for role, text in reversed(history):
        if role == "user" and text.strip():
            return text.strip()
    return None


def is_followup(question: str, history: History) -> bool:
    if last_user_question(history) is None:
        return False
    words = question.split()
    return bool(_BACKREF.search(question) or _CONTINUATION.search(question) or len(words) <= 3)


def key_terms(text: str) -> list[str]:
    """Content words of a question, in order, without repeats."""
    seen: dict[str, None] = {}
    for word in re.findall(r"[A-Za-z0-9][A-Za-z0-9\-+.]*[A-Za-z0-9]|[A-Za-z0-9]", text):
        if word.casefold() not in _STOP:
            seen.setdefault(word, None)
    return list(seen)


def standalone_history(history: History) -> str | None:
    """The previous question as a standalone query (its own follow-ups resolved offline)."""
    users = [i for i, (role, text) in enumerate(history) if role == "user" and text.strip()]
    if not users:
        return None
    last = users[-1]
    return offline_rewrite(history[last][1].strip(), history[:last]).query


def offline_rewrite(question: str, history: History) -> Rewrite:
    if not is_followup(question, history):
        return Rewrite(question, None, False)
    previous = standalone_history(history)
    assert previous is not None
    terms = [t for t in key_terms(previous) if t.casefold() not in question.casefold()]
    query = f"{question} ({' '.join(terms)})" if terms else question
    return Rewrite(query, previous, bool(_RESTRICT.search(question)))


CONDENSE_PROMPT = (
    "Rewrite the last user question as one standalone question that can be understood without "
    "the conversation. Keep every technical term. Reply with the question only.\n\n"
    "Conversation:\n{history}\n\nLast user question: {question}\n\nStandalone question:"
)


def llm_rewrite(llm: LLM, question: str, history: History) -> Rewrite:
    """Condense with the LLM; fall back to the offline rewrite when its output is unusable."""
    offline = offline_rewrite(question, history)
    if offline.previous is None:
        return offline
    turns = "\n".join(f"{role}: {text[:600]}" for role, text in history[-6:])
    text = str(llm.complete(CONDENSE_PROMPT.format(history=turns, question=question))).strip()
    line = text.splitlines()[0].strip() if text else ""
    if not (3 <= len(line) <= 4 * max(len(question), 80)):
        return offline
    return Rewrite(line, offline.previous, offline.restrict)
