"""Per-sentence support of LLM answers (rag/support.py), on real abstracts of the corpus.

The sentences are the kind a small instruct model writes: faithful paraphrases, a right fact
under the wrong citation, an uncited fact, a number no source states, a comparison between two
papers that neither makes, and the broken citation tail of a truncated answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from paperchat.ingest.sources import read_file
from paperchat.rag.sentences import SentenceBank
from paperchat.rag.support import Checked, SupportChecker, numbers_in, paper_names, parse
from paperchat.rag.types import RetrievedPaper
from paperchat.settings import Settings

DATA = Path(__file__).resolve().parent.parent / "data"


def corpus_paper(title_start: str) -> RetrievedPaper:
    for path in sorted(DATA.iterdir()):
        for item in read_file(path):
            title = getattr(item, "title", "")
            if title.startswith(title_start):
                return RetrievedPaper(rank=1, paper_id=item.paper_id, title=title, score=1.0,
                                      abstract=item.abstract, passages=[item.abstract])
    raise AssertionError(f"no paper titled {title_start!r} in data/")


@pytest.fixture(scope="module")
def papers() -> list[RetrievedPaper]:
    return [corpus_paper("KIVI: A Tuning-Free"), corpus_paper("Scissorhands: Exploiting")]


@pytest.fixture(scope="module")
def checker() -> SupportChecker:
    settings = Settings()
    return SupportChecker(SentenceBank(settings.embedder), settings.answer.support_threshold,
                          settings.answer.support_number_margin)


def verdicts(checked: Checked) -> dict[str, tuple[str, list[int]]]:
    return {s.text: (s.verdict, s.cites) for s in checked.sentences}


def test_a_faithful_cited_sentence_is_supported_with_the_passage_that_says_it(
    checker: SupportChecker, papers: list[RetrievedPaper],
) -> None:
    checked = checker.check("KIVI is a tuning-free algorithm that quantizes the KV cache to "
                            "2 bits [1].", papers)
    [sentence] = checked.sentences
    assert sentence.verdict == "supported" and sentence.cites == [1]
    assert "tuning-free 2bit KV cache quantization algorithm" in sentence.passage
    assert sentence.support >= checker.threshold
    assert [c.n for c in checked.citations] == [1] and not checked.flags


def test_a_sentence_under_the_wrong_citation_is_corrected(
    checker: SupportChecker, papers: list[RetrievedPaper],
) -> None:
    checked = checker.check("Scissorhands keeps the pivotal tokens of the KV cache within a "
                            "fixed memory budget [1].", papers)
    [sentence] = checked.sentences
    assert sentence.verdict == "corrected" and sentence.cites == [2] and sentence.written == [1]
    assert "[2]" in checked.text and "[1]" not in checked.text
    assert "pivotal tokens" in sentence.passage


def test_an_uncited_supported_sentence_gets_its_citation(
    checker: SupportChecker, papers: list[RetrievedPaper],
) -> None:
    checked = checker.check("Scissorhands reduces the KV cache memory by up to 5X without "
                            "hurting model quality.", papers)
    [sentence] = checked.sentences
    assert sentence.verdict == "added" and sentence.cites == [2]
    assert checked.text.endswith("quality [2].")


def test_a_number_that_no_passage_states_is_unsupported(
    checker: SupportChecker, papers: list[RetrievedPaper],
) -> None:
    checked = checker.check("KIVI uses 2.6 times less peak memory [1]. "
                            "KIVI uses 9.7 times less peak memory [1].", papers)
    found = verdicts(checked)
    assert found["KIVI uses 2.6 times less peak memory."] == ("supported", [1])
    assert found["KIVI uses 9.7 times less peak memory."][0] == "unsupported"
    assert [(f.sentence, f.reason) for f in checked.flags] == [
        ("KIVI uses 9.7 times less peak memory.", "unsupported by [1]")]


def test_a_comparison_neither_abstract_makes_is_unsupported(
    checker: SupportChecker, papers: list[RetrievedPaper],
) -> None:
    # The failure: KIVI's 2.6x saving attributed to a comparison with Scissorhands.
    checked = checker.check("KIVI achieves a 2.6x reduction in peak memory usage compared with "
                            "Scissorhands [1].", papers)
    [sentence] = checked.sentences
    assert sentence.verdict == "unsupported", sentence
    assert "Scissorhands" in sentence.reason
    assert checked.flags and checked.flags[0].reason == "unsupported by [1]"


def test_another_papers_numbers_under_a_name_are_not_supported(
    checker: SupportChecker, papers: list[RetrievedPaper],
) -> None:
    # Scissorhands' 5X, said of KIVI: KIVI's abstract has no 5x, Scissorhands' does not name KIVI.
    checked = checker.check("KIVI reduces the memory of the KV cache by up to 5X [1].", papers)
    assert checked.sentences[0].verdict == "unsupported"


def test_a_broken_citation_tail_is_cleaned_and_every_sentence_gets_a_verdict(
    checker: SupportChecker, papers: list[RetrievedPaper],
) -> None:
    text = ("1. KIVI is a tuning-free 2bit KV cache quantization algorithm [1]. "
            "This approach helps reduce memory usage.\n"
            "2. Scissorhands stores the pivotal tokens with a higher probability [2][3] [4][5] [4")
    checked = checker.check(text, papers)
    assert len(checked.sentences) == 3 and checked.sentences[0].verdict == "supported"
    assert "[4" not in checked.text and "[5]" not in checked.text and "[3]" not in checked.text
    assert checked.text.splitlines()[1].startswith("2. Scissorhands") and \
        checked.text.endswith("probability [2]")
    assert {c.n for c in checked.citations} <= {1, 2}


def test_numbers_glued_to_names_are_names_not_claims() -> None:
    shown = [written for written, _ in numbers_in(
        "GPT-4 and H2O with FP16 on Llama-2-7B use 4-bit keys, 2.6x less memory, 1k tokens, 20%.")]
    assert shown == ["7B", "4", "2.6x", "1k", "20%"]
    assert "1000" in numbers_in("1k tokens")[0][1]


def test_a_papers_name_is_its_titles_head() -> None:
    kivi = RetrievedPaper(rank=1, paper_id="p", title="KIVI: A Tuning-Free Asymmetric 2bit "
                          "Quantization for KV Cache", score=1.0)
    assert paper_names(kivi) == ["KIVI"]


def test_marks_at_the_start_of_a_sentence_belong_to_the_one_before() -> None:
    [line] = parse("KIVI quantizes keys per-channel. [1] It also quantizes values [1].")
    assert [(p.text, p.written) for p in line.pieces] == [
        ("KIVI quantizes keys per-channel.", [1]), ("It also quantizes values.", [1])]
