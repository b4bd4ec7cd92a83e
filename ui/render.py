"""HTML and markdown for the web UI and its API: answers with linked citations, the sources panel,
paper pages, the API's plain answer.

Everything that comes from the corpus or from an answerer is untrusted text: it is escaped here,
before it reaches a ``gr.HTML`` or the chat's markdown, so a title or an abstract cannot inject
markup or script. Only the tags written in this module reach the page.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlparse

from paperchat.rag.text import CITATION_MARK, mark_numbers, split_sentences
from paperchat.rag.types import Answer, CheckedSentence, Citation, RetrievedPaper

_MARKDOWN_BRACKETS = str.maketrans({"[": r"\[", "]": r"\]"})
_TEMPLATE_CHARS = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"})


def escape(text: str) -> str:
    """``html.escape``, plus the characters of template syntax (``${}``, ``{{ }}``, backticks).

    Gradio fills a ``gr.HTML`` through a template; corpus text must never be read as one.
    """
    return html.escape(text, quote=True).translate(_TEMPLATE_CHARS)


def anchor(turn: int, n: int) -> str:
    """Element id of source ``[n]`` of the ``turn``-th answer of a conversation (from 1)."""
    return f"src-{turn}-{n}"


def escape_markdown(text: str) -> str:
    """Untrusted text made safe for the chat's markdown: no HTML, no links or images.

    Brackets are backslash-escaped so ``[x](javascript:...)`` or ``![](http://tracker)`` from the
    corpus stay literal text; emphasis and lists an LLM writes still render.
    """
    return html.escape(text, quote=False).translate(_MARKDOWN_BRACKETS)


def answer_markdown(text: str, turn: int, known: Iterable[int] | None = None) -> str:
    """The answer as chat markdown: escaped, each cited number a link to its entry in the panel.

    ``[1]`` is one link; in ``[1, 2]`` each number is a link between plain brackets. ``known``
    limits links to the citations that exist (while an answer streams, all are linked; a
    dangling number in a final answer stays plain text).
    """
    allowed = None if known is None else set(known)
    out: list[str] = []
    last = 0
    for match in CITATION_MARK.finditer(text):
        out.append(escape_markdown(text[last:match.start()]))
        out.append(_linked_mark(match, turn, allowed))
        last = match.end()
    out.append(escape_markdown(text[last:]))
    return "".join(out)


def _linked_mark(match: re.Match[str], turn: int, allowed: set[int] | None) -> str:
    numbers = mark_numbers(match.group(1))
    if len(numbers) == 1:
        n = numbers[0]
        if allowed is None or n in allowed:
            return f'<a href="#{anchor(turn, n)}" class="cite" data-n="{n}">[{n}]</a>'
        return escape_markdown(match.group(0))
    # Each number's separator as written (", " or "; "), between the numbers' links.
    pieces = re.split(r"(\d+)", match.group(1))
    out = []
    for piece in pieces:
        if piece.isdigit() and (allowed is None or int(piece) in allowed):
            out.append(f'<a href="#{anchor(turn, int(piece))}" class="cite" '
                       f'data-n="{int(piece)}">{int(piece)}</a>')
        else:
            out.append(escape_markdown(piece))
    return escape_markdown("[") + "".join(out) + escape_markdown("]")


_SENTENCE_TAIL = re.compile(r"(?:\s*" + CITATION_MARK.pattern + r")*[.!?]*[\"')\]*_]*")
_END_PUNCT = re.compile(r"[.!?]+[\"')\]*_]*$")
BADGES = {"supported": "supported", "corrected": "corrected", "added": "citation added",
          "unsupported": "unsupported"}


def badge(sentence: CheckedSentence, turn: int) -> str:
    """The verdict of one sentence as a small link to its supporting source in the panel (an
    unsupported sentence without a valid citation links nowhere); the passage is its tooltip."""
    label = BADGES.get(sentence.verdict, sentence.verdict)
    tip = sentence.passage if sentence.verdict != "unsupported" else \
        (sentence.reason or "no retrieved source supports this sentence")
    attrs = f'class="verdict v-{escape(sentence.verdict)}" title="{escape(tip)}"'
    if sentence.cites:
        n = sentence.cites[0]
        return f'<a href="#{anchor(turn, n)}" {attrs} data-n="{n}">{escape(label)}</a>'
    return f"<a {attrs}>{escape(label)}</a>"


def checked_markdown(answer: Answer, turn: int) -> str:
    """An LLM answer as chat markdown with each checked sentence followed by its verdict badge.

    Sentences are found in the answer's text in order (the check wrote the text from them);
    anything between them (list markers, labels, sentences too short to check) stays as it is.
    """
    known = [c.n for c in answer.citations]
    text = answer.text
    out: list[str] = []
    cursor = 0
    for sentence in answer.sentences:
        core = _END_PUNCT.sub("", sentence.text).rstrip()
        at = text.find(core, cursor) if core else -1
        if at < 0:
            continue
        end = at + len(core)
        end += _SENTENCE_TAIL.match(text, end).end() - end  # type: ignore[union-attr]
        out.append(answer_markdown(text[cursor:end], turn, known))
        out.append(" " + badge(sentence, turn))
        cursor = end
    out.append(answer_markdown(text[cursor:], turn, known))
    return "".join(out)


def chat_message(answer: Answer, turn: int) -> str:
    """The final chat message of an answer: its text (each checked sentence with its verdict
    badge), then notices and failed citation checks."""
    known = (c.n for c in answer.citations)
    parts = [checked_markdown(answer, turn) if answer.sentences
             else answer_markdown(answer.text, turn, known)]
    if answer.refused and answer.closest:
        parts.append("*The closest papers are listed in the sources panel.*")
    for notice in answer.notices:
        parts.append(f"*Note: {escape_markdown(notice)}*")
    if answer.flags and not answer.sentences:  # checked sentences carry their own badges
        flagged = "\n".join(
            f"- {escape_markdown(f.sentence)} ({escape_markdown(f.reason)})" for f in answer.flags
        )
        parts.append(f"**Check these sentences:**\n{flagged}")
    return "\n\n".join(parts)


def highlight(abstract: str, passage: str) -> str:
    """The abstract, escaped, with the passage that supports a claim wrapped in ``<mark>``.

    The passage may be several sentences, and may differ from the abstract in spacing, case or
    a title in front (chunks start with the title), so each sentence is looked up on its own:
    exactly (ignoring case) first, then as the longest common stretch, which must cover most of
    the sentence to count.
    """
    spans = sorted(span for sentence in split_sentences(passage)
                   if (span := _locate(abstract, sentence)) is not None)
    out: list[str] = []
    last = 0
    for start, end in spans:
        start = max(start, last)
        if end <= start:
            continue
        out.append(escape(abstract[last:start]))
        out.append(f'<mark class="passage">{escape(abstract[start:end])}</mark>')
        last = end
    out.append(escape(abstract[last:]))
    return "".join(out)


def _locate(abstract: str, sentence: str) -> tuple[int, int] | None:
    words = sentence.split()
    if not words or not abstract:
        return None
    exact = re.search(r"\s+".join(map(re.escape, words)), abstract, re.IGNORECASE)
    if exact:
        return exact.span()
    sentence = " ".join(words)
    matcher = difflib.SequenceMatcher(None, abstract.lower(), sentence.lower(), autojunk=False)
    match = matcher.find_longest_match(0, len(abstract), 0, len(sentence))
    if match.size < max(20, len(sentence) * 0.6):
        return None
    start, end = match.a, match.a + match.size
    while start < end and not abstract[start].isalnum():
        start += 1
    while end > start and abstract[end - 1].isspace():
        end -= 1
    return start, end


def links_html(urls: Sequence[str]) -> str:
    """Code and project links; anything but http(s) is shown as text, never as a link."""
    items = []
    for url in urls:
        label = escape(url)
        if urlparse(url).scheme in ("http", "https"):
            items.append(
                f'<a href="{escape(url)}" target="_blank" '
                f'rel="noopener noreferrer nofollow">{label}</a>'
            )
        else:
            items.append(f"<span>{label}</span>")
    if not items:
        return ""
    return '<div class="src-links">' + " · ".join(items) + "</div>"


def source_html(citation: Citation, abstract: str, turn: int) -> str:
    """One entry of the sources panel: title, abstract with the passage marked, links."""
    body = highlight(abstract, citation.passage) if abstract else (
        '<mark class="passage">' + escape(citation.passage) + "</mark>"
    )
    return (
        f'<div class="src" id="{anchor(turn, citation.n)}">'
        f'<div class="src-title"><span class="src-n">[{citation.n}]</span> '
        f"{escape(citation.title)}</div>"
        f'<p class="src-abstract">{body}</p>'
        f"{links_html(citation.urls)}</div>"
    )


def closest_html(papers: Sequence[RetrievedPaper]) -> str:
    """The papers nearest a refused question, best first, with their best passage marked."""
    entries = []
    for paper in papers:
        passage = paper.passages[0] if paper.passages else ""
        body = highlight(paper.abstract, passage) if paper.abstract else escape(passage)
        entries.append(
            '<div class="src closest">'
            f'<div class="src-title">{escape(paper.title)} '
            f'<span class="score">score {paper.score:.3f}</span></div>'
            f'<p class="src-abstract">{body}</p>{links_html(paper.urls)}</div>'
        )
    return "".join(entries)


def sources_panel(turns: Sequence[Answer], abstracts: Mapping[str, str]) -> str:
    """The panel beside the chat: the sources of every answer so far, the newest first.

    ``abstracts`` maps paper ids to their abstracts (citations carry only the passage).
    """
    if not turns:
        return '<div class="sources empty">Sources of the answers appear here.</div>'
    groups = []
    for turn in range(len(turns), 0, -1):
        answer = turns[turn - 1]
        head = f'<div class="turn-q">Q{turn}: {escape(answer.question)}</div>'
        if answer.refused:
            reason = escape(getattr(answer, "reason", "") or "No supported answer.")
            body = (f'<div class="refused">Declined: {reason} Closest matches:</div>'
                    + (closest_html(answer.closest) or "<p>None.</p>"))
        elif answer.citations:
            body = "".join(
                source_html(c, abstracts.get(c.paper_id, ""), turn) for c in answer.citations
            )
            if getattr(answer, "coverage", "") == "partial":
                missing = escape("; ".join(answer.missing))
                body = f'<div class="partial">Partial answer. Missing: {missing}</div>' + body
        else:
            body = "<p>No sources.</p>"
        groups.append(f'<section class="turn" data-turn="{turn}">{head}{body}</section>')
    return '<div class="sources">' + "".join(groups) + "</div>"


def api_markdown(answer: Answer) -> str:
    """The API's answer: its markdown, then the numbered sources (or the closest papers).

    Plain text for programs and agents, not HTML: it is not escaped here.
    """
    lines = [answer.text.strip()]
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for c in answer.citations:
            link = f" <{c.urls[0]}>" if c.urls else ""
            lines.append(f"[{c.n}] {c.title}{link}")
    elif answer.refused and answer.closest and not any(p.title in answer.text
                                                      for p in answer.closest):
        lines.append("")
        lines.append("Closest papers:")
        lines.extend(f"- {p.title} (score {p.score:.3f})" for p in answer.closest)
    for notice in answer.notices:
        lines.append(f"\nNote: {notice}")
    return "\n".join(lines)


def paper_html(title: str, abstract: str, links: Sequence[str], meta: Sequence[str] = ()) -> str:
    """A paper opened from the Papers tab: escaped title, metadata line, abstract, links."""
    info = " · ".join(escape(m) for m in meta if m)
    return (
        '<article class="paper">'
        f"<h3>{escape(title)}</h3>"
        + (f'<div class="paper-meta">{info}</div>' if info else "")
        + f'<p class="src-abstract">{escape(abstract)}</p>'
        + links_html(links)
        + "</article>"
    )


def message(text: str, kind: str = "error") -> str:
    """A short escaped notice for an HTML panel."""
    return f'<div class="notice {escape(kind)}">{escape(text)}</div>'


CSS = """
.sources { font-size: 0.92em; }
.sources .turn { margin-bottom: 1.2em; }
.sources .turn-q { font-weight: 600; opacity: 0.75; margin-bottom: 0.4em; }
.src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.6em 0.8em;
       margin-bottom: 0.6em; scroll-margin-top: 8px; transition: box-shadow 0.3s; }
.src:target, .src.active { box-shadow: 0 0 0 3px var(--color-accent); }
.src-title { font-weight: 600; margin-bottom: 0.3em; }
.src-n { color: var(--color-accent); }
.src-abstract { margin: 0.3em 0; line-height: 1.45; }
mark.passage { background: #fde68a; color: #111; padding: 0 2px; border-radius: 2px; }
.src-links { font-size: 0.9em; word-break: break-all; }
.score { font-weight: 400; opacity: 0.7; font-size: 0.9em; }
.refused { font-style: italic; margin-bottom: 0.4em; }
.partial { font-style: italic; margin-bottom: 0.4em; color: #8a5a00; }
a.cite { text-decoration: none; font-weight: 600; }
a.verdict { font-size: 0.72em; font-weight: 600; padding: 0 0.45em; border-radius: 0.7em;
            text-decoration: none; white-space: nowrap; vertical-align: 0.1em; cursor: pointer; }
a.v-supported { background: #dcfce7; color: #166534; }
a.v-corrected, a.v-added { background: #fef3c7; color: #92400e; }
a.v-unsupported { background: #fee2e2; color: #991b1b; }
.notice.error { color: var(--error-text-color, #b91c1c); }
.paper .paper-meta { opacity: 0.7; font-size: 0.9em; }
"""
