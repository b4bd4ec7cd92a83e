"""The LLM judge option: llama-index's Faithfulness, Relevancy and Correctness evaluators.

Off unless an LLM is configured: ``--judge PROVIDER[:MODEL]`` names one
(for llamacpp, MODEL is the GGUF file), and an LLM answerer
(``settings.answer.answerer`` other than ``extractive``) is the judge when none is named.
The provider connection settings (base URL, key, GGUF file, timeout) are the answerer's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperchat.errors import PaperchatError

if TYPE_CHECKING:
    from paperchat.eval.dataset import Dataset
    from paperchat.eval.run import QuestionResult
    from paperchat.settings import Settings

_SCORE = re.compile(r"\d+(?:\.\d+)?")
CONTEXT_PAPERS = 3  # abstracts shown to the judge when an answer cites nothing


@dataclass
class Judge:
    """A llama-index LLM and the name the report gives it."""

    llm: Any
    model: str
    workers: int = 2
    error: str = ""

    def grade(self, results: list[QuestionResult], dataset: Dataset,
              abstracts: dict[str, str]) -> None:
        """Add faithfulness, relevancy (0/1) and correctness (1-5) to the answered results."""
        from llama_index.core.evaluation import (
            BatchEvalRunner,
            CorrectnessEvaluator,
            FaithfulnessEvaluator,
            RelevancyEvaluator,
        )

        answered = [r for r in results if r.answer and not r.refused]
        if not answered:
            return
        references = {q.id: q.reference_answer for q in dataset.questions}
        runner = BatchEvalRunner(
            {
                "faithfulness": FaithfulnessEvaluator(llm=self.llm),
                "relevancy": RelevancyEvaluator(llm=self.llm),
                "correctness": CorrectnessEvaluator(llm=self.llm, parser_function=parse_score),
            },
            workers=self.workers,
        )
        contexts = [
            [abstracts[p] for p in dict.fromkeys(r.cited or r.retrieved[:CONTEXT_PAPERS])
             if p in abstracts] or [""]
            for r in answered
        ]
        try:
            graded = runner.evaluate_response_strs(
                queries=[r.question for r in answered],
                response_strs=[r.answer for r in answered],
                contexts_list=contexts,
                correctness={"reference": [references.get(r.id) or None for r in answered]},
            )
        except Exception as exc:  # whatever the provider raised: shown in the report, not hidden
            self.error = f"{type(exc).__name__}: {exc}"
            return
        for name, outcomes in graded.items():
            for result, outcome in zip(answered, outcomes, strict=True):
                result.metrics[name] = None if outcome.invalid_result else outcome.score


def parse_score(reply: str) -> tuple[float | None, str]:
    """The 1-5 score a correctness reply starts with, read leniently: llama-index's own parser
    raises on a one-line reply, which would sink the whole batch over one small model's whim."""
    found = _SCORE.search(reply)
    score = float(found.group(0)) if found else None
    return (score if score is not None and 1 <= score <= 5 else None), reply.strip()


def make_judge(settings: Settings, spec: str | None) -> Judge | None:
    """The judge for ``--judge spec`` (``off``, ``PROVIDER`` or ``PROVIDER:MODEL``), or None."""
    if spec == "off":
        return None
    if not spec:
        if settings.answer.answerer == "extractive":
            return None
        spec = settings.answer.answerer
    provider, _, model = spec.partition(":")
    if provider == "extractive":
        raise PaperchatError("--judge needs an LLM provider: openai, ollama or llamacpp.")
    field = "llm_gguf_path" if provider == "llamacpp" else "llm_model"
    judged = settings.with_overrides(answer={field: model} if model else {})
    from paperchat.rag.providers import make_llm

    llm = make_llm(judged, provider)
    name = getattr(judged.answer, field) or provider
    if provider == "llamacpp":
        name = Path(name).name
    return Judge(llm=llm, model=f"{provider}:{name}")
