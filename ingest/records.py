"""Papers as every source hands them to the pipeline: one shape, stable ids, extracted links."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field

from paperchat.ingest.names import NAMES_VERSION

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
# URLs end at whitespace or a closing bracket/quote; trailing sentence punctuation is trimmed below.
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}"


def normalise_title(title: str) -> str:
    """Casefolded, accent-insensitive, punctuation-free title: the key for de-duplication."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", text.casefold()).strip()


def paper_id_for(title: str) -> str:
    """Stable id derived from the normalised title: the same on every run and machine."""
    digest = hashlib.sha1(normalise_title(title).encode("utf-8")).hexdigest()
    return f"p{digest[:12]}"


def extract_urls(text: str) -> list[str]:
    """Code and project links in an abstract, without trailing punctuation, in order, unique."""
    seen: dict[str, None] = {}
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        if url.lower().startswith("www."):
            url = "https://" + url
        if len(url) > len("https://x.y"):
            seen.setdefault(url, None)
    return list(seen)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")  # terminal escape sequences


def clean_text(text: str) -> str:
    """One line of text: whitespace runs collapsed, terminal escapes and control characters
    dropped."""
    text = _ANSI.sub(" ", text)
    text = "".join(ch if ch.isprintable() or ch in "\t\n" else " " for ch in text)
    return " ".join(text.split())


@dataclass
class Paper:
    """One paper, whichever source it came from."""

    title: str
    abstract: str
    sources: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    date: str = ""
    url: str = ""
    categories: list[str] = field(default_factory=list)
    source_id: str = ""
    urls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.title = clean_text(self.title)
        self.abstract = clean_text(self.abstract)
        if not self.urls:
            self.urls = extract_urls(self.abstract)

    @property
    def paper_id(self) -> str:
        return paper_id_for(self.title)

    @property
    def has_code(self) -> bool:
        return bool(self.urls)

    @property
    def text_hash(self) -> str:
        """Hash of what gets embedded: a change here means new chunks and new vectors."""
        return _sha(self.title + "\n" + self.abstract)

    @property
    def meta_hash(self) -> str:
        """Hash of everything else: a change here only rewrites metadata."""
        return _sha(
            json.dumps(
                [
                    self.sources,
                    self.authors,
                    self.date,
                    self.url,
                    self.categories,
                    self.source_id,
                    self.urls,
                    NAMES_VERSION,  # the names found in the text are metadata too
                ],
                ensure_ascii=False,
            )
        )

    def merge(self, other: Paper) -> None:
        """Fold a duplicate of this paper (same normalised title) from another source into it."""
        for source in other.sources:
            if source not in self.sources:
                self.sources.append(source)
        self.authors = self.authors or other.authors
        self.date = self.date or other.date
        self.url = self.url or other.url
        self.categories = self.categories or other.categories
        self.source_id = self.source_id or other.source_id
        for url in other.urls:
            if url not in self.urls:
                self.urls.append(url)


@dataclass(frozen=True)
class Problem:
    """A record that was skipped: where it is and why. ``line`` is 1-based, 0 for a whole file."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
