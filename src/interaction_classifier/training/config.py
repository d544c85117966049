"""The training config: one schema for every model, validated on load, written back as TOML.

A run trains either the default four-head model from the built corpus (a ``[corpus]``
table, with ``[urgency]``) or a model on your own labelled table (a ``[data]`` table, one
head per label column). Every table forbids unknown keys, so a typo in a config is an error
that names the key and the file instead of a silently ignored setting.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from interaction_classifier.config import PROJECT_ROOT, ConfigError, read_toml
from interaction_classifier.io import write_text


class Strict(BaseModel):
    """A config table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class CorpusSource(Strict):
    """The built corpus (``interaction-classifier corpus build``): the default model."""

    path: str = "data/corpus/corpus.parquet"
    # Reviewed corrections (``review import`` files, paths or globs): training.corrections.
    corrections: list[str] = Field(default_factory=list)


class TableSource(Strict):
    """Your labelled table: a file, or a registered dataset file (``dataset`` + ``file``)."""

    path: str = ""
    dataset: str = ""
    file: str = ""
    text_column: str = "text"
    label_columns: list[str] = Field(default_factory=list)
    split_column: str = ""
    valid_size: float = Field(0.1, gt=0, lt=1)
    test_size: float = Field(0.2, gt=0, lt=1)
    min_examples_per_class: int = Field(5, ge=1)
    corrections: list[str] = Field(default_factory=list)  # as in CorpusSource

    def resolved_path(self) -> Path:
        """The file to read: ``path`` (relative to the working directory) or the registry's."""
        if self.path:
            return Path(self.path).resolve()
        if self.dataset:
            from interaction_classifier.data.registry import resolve

            return resolve(self.dataset, self.file or "train")
        raise ConfigError("no data file: pass --data FILE or set [data] path (or dataset)")


class FeaturesConfig(Strict):
    """``TextFeaturizer`` arguments (0 for a ``max_features`` means no cap)."""

    word_ngram_range: tuple[int, int] = (1, 2)
    word_min_df: int = 2
    word_max_features: int = 60000
    char_ngram_range: tuple[int, int] = (2, 5)
    char_min_df: int = 3
    char_max_features: int = 80000
    sublinear_tf: bool = True
    use_cues: bool = True
    lexicon_weight: float = 0.0
    mark_negation: bool = False
    char_surface: bool = False
    embedding_weight: float = 0.0
    embedding_top_words: int = 40000

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``TextFeaturizer``."""
        out = self.model_dump()
        for key in ("word_max_features", "char_max_features"):
            out[key] = out[key] or None
        return out


class ModelConfig(Strict):
    """How each head is fitted: the estimator, its regularisation and the row weights."""

    classifier: Literal["logreg", "svm", "svm+logreg"] = "logreg"
    # Logistic-regression C: one value, or one per head.
    C: float | dict[str, float] = 1.0
    svm_C: float = 0.5
    svm_multi_class: Literal["ovr", "crammer_singer"] = "ovr"
    class_weight: Literal["balanced", "none"] = "balanced"
    max_iter: int = 2000
    # What the saved model of your labels is fitted on, with the settings, temperatures and
    # review thresholds found on train/valid: "train"; "train+valid" (before the test
    # report); "all" rows (after the test report, which is then of the train-only model).
    refit: Literal["train", "train+valid", "all"] = "train"
    exclude_blocks: dict[str, list[str]] = Field(default_factory=dict)
    domain_adaptation: dict[str, list[str]] = Field(default_factory=dict)
    max_rows_per_source: int = 0
    origin_weights: dict[str, float] = Field(default_factory=dict)
    head_origin_weights: dict[str, dict[str, float]] = Field(default_factory=dict)
    source_weights: dict[str, dict[str, float]] = Field(default_factory=dict)

    def c_for(self, head: str) -> float:
        """The logistic-regression C of one head."""
        if isinstance(self.C, dict):
            if head not in self.C:
                raise ConfigError(f"[model] C has no value for head {head!r}: {self.C}")
            return float(self.C[head])
        return float(self.C)


class UrgencyConfig(Strict):
    """The ordinal urgency model of the default taxonomy (tier cut-offs: [thresholds]).
    ``fit_cutoffs``: move those cut-offs to the ones that maximise the tiers' macro-F1 on
    the validation rows (``training.urgency.fit_cutoffs``)."""

    values: dict[str, float]
    text_C: float = 1.0
    C: float = 1.0
    fit_cutoffs: bool = False


class AccurateConfig(Strict):
    """The accurate profile (``training.accurate``): embedding heads over a fast model, each
    fitted as ``[model]`` says (estimator, C per head, row weights)."""

    base_model: str = "src/interaction_classifier/resources/default_model"
    # The output of ``python -m interaction_classifier.training.encoder_export DIR --int8``;
    # both files must match the digests pinned here.
    encoder_dir: str = "data/cache/encoder-int8"
    graph_sha256: str
    tokenizer_sha256: str
    max_length: int = Field(128, ge=8, le=512)
    # Fusion weight grid: 0, 1/steps, ..., 1 (share of the fast model's probabilities).
    fusion_steps: int = Field(20, ge=1)
    cache_dir: str = "data/cache/embeddings"

    def fusion_grid(self) -> list[float]:
        return [i / self.fusion_steps for i in range(self.fusion_steps + 1)]


class FinetuneConfig(Strict):
    """Multi-task fine-tuning of the encoder (``training.finetune``, the ``train`` extra): the
    accurate profile's embedding heads are then the fine-tuned linear heads, not logistic fits
    on frozen embeddings. Early stopping reads the corpus ``valid`` split, never gold."""

    # Stratified (by source) subsample of the train split; 0: every labelled train row.
    train_rows: int = Field(0, ge=0)
    valid_rows: int = Field(1000, ge=10)  # stratified sample of ``valid`` for early stopping
    batch_size: int = Field(32, ge=1)
    epochs: float = Field(1.0, gt=0)
    lr: float = Field(5e-5, gt=0)  # encoder
    head_lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup: float = Field(0.1, ge=0, lt=1)  # share of the steps, linear warm-up then decay
    scale: float = Field(20.0, gt=0)  # logits = head(scale * unit embedding)
    eval_every: int = Field(50, ge=1)  # steps between validation checks
    patience: int = Field(4, ge=1)  # checks without a better validation loss before stopping
    budget_minutes: float = Field(0.0, ge=0)  # stop training after this long (0: no limit)
    threads: int = Field(2, ge=1)  # torch.set_num_threads
    int8: bool = True  # export the fine-tuned graph with per-channel int8 weights
    output_dir: str = "data/cache/finetuned"


class ThresholdsConfig(Strict):
    """Model defaults, overridable per call. ``review``: per head, below this top probability
    a row needs review; a head without one gets the confidence below which ``review_rate`` of
    its validation rows fall. ``priority``: minimum urgency score per tier."""

    review_rate: float = Field(0.1, ge=0, lt=1)
    review: dict[str, float] = Field(default_factory=dict)
    priority: dict[str, float] = Field(default_factory=dict)


class SearchConfig(Strict):
    """Model selection by successive halving within a wall-clock budget (0: off)."""

    budget_minutes: float = Field(0.0, ge=0)
    folds: int = 3
    factor: int = 3


class PredictConfig(Strict):
    max_chars: int = 5000


class MlflowConfig(Strict):
    experiment: str = "interaction-classifier"
    registered_model: str = ""


class TrainingConfig(Strict):
    """A whole training run."""

    seed: int = 13
    corpus: CorpusSource | None = None
    data: TableSource | None = None
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    urgency: UrgencyConfig | None = None
    accurate: AccurateConfig | None = None
    finetune: FinetuneConfig | None = None
    thresholds: ThresholdsConfig = Field(default_factory=ThresholdsConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    predict: PredictConfig = Field(default_factory=PredictConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)

    @model_validator(mode="after")
    def _one_source(self) -> TrainingConfig:
        if (self.corpus is None) == (self.data is None):
            raise ValueError(
                "give exactly one of [corpus] (the default model) or [data] (your labelled table)"
            )
        if self.data is not None and self.urgency is not None:
            raise ValueError("[urgency] needs the default taxonomy: only with [corpus]")
        if self.accurate is not None and self.corpus is None:
            raise ValueError("[accurate] extends the default model: it needs [corpus]")
        if self.finetune is not None and self.accurate is None:
            raise ValueError("[finetune] fits the accurate profile's heads: it needs [accurate]")
        if (
            self.corpus is not None
            and self.accurate is None
            and (self.urgency is None or not self.thresholds.priority)
        ):
            raise ValueError(
                "the default model ([corpus]) needs an [urgency] table and "
                "[thresholds] priority cut-offs"
            )
        return self

    @property
    def kind(self) -> str:
        """``default`` (corpus, four heads), ``accurate`` (the default model fused with
        embedding heads) or ``retrained`` (your labels)."""
        if self.accurate is not None:
            return "accurate"
        return "default" if self.corpus is not None else "retrained"

    @property
    def corrections(self) -> list[str]:
        """The corrections files of the run's data source (``[corpus]`` or ``[data]``)."""
        return (self.corpus or self.data).corrections

    def corpus_path(self) -> Path:
        return PROJECT_ROOT / self.corpus.path if self.corpus else Path()

    def digest(self) -> str:
        """sha256 of the canonical JSON of the config."""
        canon = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canon.encode()).hexdigest()


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge (``update`` wins; nested tables merged, not replaced)."""
    out = dict(base)
    for key, value in update.items():
        out[key] = (
            merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


def parse_config(raw: dict[str, Any], origin: str = "<config>") -> TrainingConfig:
    """Validate a raw mapping; a ConfigError names every bad key and the file."""
    try:
        return TrainingConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: "
            f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from exc


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainingConfig:
    """Read, merge command-line ``overrides`` over it, and validate."""
    return parse_config(merge(read_toml(path), overrides or {}), origin=str(path))


def to_toml(cfg: TrainingConfig) -> str:
    """The resolved config as TOML (None values left out: TOML has no null)."""
    return tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True))


def write_config(cfg: TrainingConfig, path: Path, header: str = "") -> Path:
    """Write the resolved config, so that ``train --config PATH`` repeats the run."""
    return write_text(path, header + to_toml(cfg))
