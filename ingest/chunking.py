"""Sentence-aware chunks that always fit the embedding model, each carrying its paper's title."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from llama_index.core.node_parser import SentenceSplitter

from paperchat.ingest.records import Paper
from paperchat.rag.text import split_sentences

# Below this many word pieces for the body, a chunk says too little; a longer title is shortened
# in the embedded text instead.
MIN_BODY_TOKENS = 64


class Tokenizer(Protocol):
    def tokenize(self, text: str) -> list[str]: ...
    def count_tokens(self, text: str) -> int: ...


@dataclass(frozen=True)
class Chunk:
    """A piece of one paper's abstract. ``embed_text`` is what the model sees."""

    paper_id: str
    index: int
    text: str
    embed_text: str

    @property
    def id(self) -> str:
        return f"{self.paper_id}#{self.index}"


class Chunker:
    """Splits abstracts on sentence boundaries into chunks of at most ``max_tokens`` word pieces
    (title and special tokens included), so the model never truncates one silently."""

    def __init__(self, tokenizer: Tokenizer, max_tokens: int, overlap: int = 0) -> None:
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap = overlap
        self._splitters: dict[int, SentenceSplitter] = {}

    def chunk(self, paper: Paper) -> list[Chunk]:
        title = paper.title
        title_tokens = self.tokenizer.count_tokens(title + "\n")  # includes [CLS] and [SEP]
        budget = self.max_tokens - title_tokens
        if budget < MIN_BODY_TOKENS:
            pieces = self.tokenizer.tokenize(title)[: self.max_tokens // 4]
            title = " ".join(pieces).replace(" ##", "")
            budget = self.max_tokens - self.tokenizer.count_tokens(title + "\n")
        texts = self._split(paper.abstract, budget)
        return [Chunk(paper.paper_id, i, text, f"{title}\n{text}") for i, text in enumerate(texts)]

    def _split(self, text: str, budget: int) -> list[str]:
        out: list[str] = []
        for piece in self._splitter(budget).split_text(text):
            # The splitter counts tokens of pieces, not of the joined text; re-check the result.
            if self.tokenizer.count_tokens(piece) - 2 <= budget or budget <= MIN_BODY_TOKENS // 2:
                out.append(piece)
            else:
                out.extend(self._split(piece, budget - 16))
        return out

    def _splitter(self, budget: int) -> SentenceSplitter:
        if budget not in self._splitters:
            self._splitters[budget] = SentenceSplitter(
                chunk_size=budget,
                chunk_overlap=min(self.overlap, budget // 4),
                tokenizer=self.tokenizer.tokenize,
                # Our splitter, not llama-index's default (nltk punkt): chunks break where the
                # answers and the eval see sentences end.
                chunking_tokenizer_fn=_sentences_with_space,
            )
        return self._splitters[budget]


def _sentences_with_space(text: str) -> list[str]:
    """``split_sentences`` as llama-index's splitter wants them: each keeps the space after it,
    since the splitter joins pieces as they are."""
    return [f"{sentence} " for sentence in split_sentences(text)]
