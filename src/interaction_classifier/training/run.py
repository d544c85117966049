"""One training run for every model: read the data, (search,) fit, evaluate, save, track.

The config decides the kind: ``[corpus]`` fits the default four-head model with urgency,
``[data]`` one head per label column of your table. Both end the same way: a verified model
directory (``models.artifact.save_artifact``) holding the resolved ``config.toml`` (re-run
it with ``train --config``), ``evaluation.json``, the model card and a manifest signed with
the user's key (``models.signing``; checked before the fit starts, ``signer=None`` for an
unsigned model); with tracking, one MLflow run. Reports keep example row ids, never example
texts, unless ``log_examples`` (then masked: ``evaluation.report.logged_examples``). Every
run gets its own version, ``YYYYMMDD-HHMMSS-<8 hex>``: UTC time and a digest of the config
and the data fingerprint.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from interaction_classifier.config import HEADS, PATTERNS_DIR
from interaction_classifier.io import write_text
from interaction_classifier.models.model import InteractionModel
from interaction_classifier.training.config import TrainingConfig, write_config

HEADER = ("# Written by interaction-classifier train; repeat the run with\n"
          "# interaction-classifier train --config {path} --output DIR\n")


@dataclass
class TrainingData:
    """What a run fits on: the rows, their split and a content fingerprint."""

    frame: pd.DataFrame
    split: pd.Series
    fingerprint: str
    source: str
    corrections: dict[str, Any] | None = None


@dataclass
class RunResult:
    """A finished run: the model, its report and manifest, and where they were written."""

    model: InteractionModel
    report: dict[str, Any]
    manifest: dict[str, Any]
    output_dir: Path

    @property
    def config_path(self) -> Path:
        return self.output_dir / "config.toml"


def make_version(cfg: TrainingConfig, data_fingerprint: str,
                 now: dt.datetime | None = None) -> str:
    """``YYYYMMDD-HHMMSS-`` (UTC) + 8 hex of sha256(config digest, data fingerprint)."""
    now = now or dt.datetime.now(dt.UTC)
    digest = hashlib.sha256(f"{cfg.digest()}:{data_fingerprint}".encode()).hexdigest()[:8]
    return f"{now:%Y%m%d-%H%M%S}-{digest}"


def load_data(cfg: TrainingConfig) -> TrainingData:
    """The built corpus (its own split), or your table validated and split; then the
    reviewed corrections folded in (``training.corrections``)."""
    data = _load_source(cfg)
    if cfg.corrections:
        data = with_corrections(cfg, data)
    return data


def with_corrections(cfg: TrainingConfig, data: TrainingData) -> TrainingData:
    """The data with the config's corrections files applied, fingerprinted again, and the
    files' sha256 recorded for the manifest."""
    from interaction_classifier.data.corpus import fingerprint
    from interaction_classifier.training import corrections as fold
    from interaction_classifier.training.data import DataError, data_fingerprint

    try:
        paths = fold.correction_paths(cfg.corrections)
        heads = list(cfg.data.label_columns) if cfg.data else list(HEADS)
        notes = fold.read_corrections(paths, heads)
        if cfg.corpus is not None:
            frame = fold.apply_to_corpus(data.frame, notes, heads)
            split, digest = frame["split"], fingerprint(frame)
        else:
            frame, split = fold.apply_to_table(data.frame, data.split, notes, heads)
            digest = data_fingerprint(frame, heads)
    except (OSError, ValueError) as exc:
        raise DataError(str(exc)) from exc
    info = {**fold.fingerprint(paths), "rows": len(notes)}
    return TrainingData(frame, split, digest, data.source, info)


def _load_source(cfg: TrainingConfig) -> TrainingData:
    if cfg.corpus is not None:
        from interaction_classifier.data.corpus import fingerprint, read_corpus

        corpus = read_corpus(cfg.corpus_path())
        return TrainingData(corpus, corpus["split"], fingerprint(corpus), str(cfg.corpus_path()))
    from interaction_classifier.training.data import (
        assign_split,
        data_fingerprint,
        prepare,
        read_table,
    )

    path = cfg.data.resolved_path()
    frame = prepare(read_table(path), cfg.data, str(path))
    return TrainingData(frame, assign_split(frame, cfg.data, cfg.seed),
                        data_fingerprint(frame, cfg.data.label_columns), str(path))


def fit(cfg: TrainingConfig, data: TrainingData, version: str) -> InteractionModel:
    """The one fit entry: the default model from the corpus, the accurate profile over it, or
    a model on your labels."""
    if cfg.accurate is not None:
        from interaction_classifier.training.accurate import fit_accurate_model

        return fit_accurate_model(data.frame, cfg, version)
    if cfg.corpus is not None:
        from interaction_classifier.text.cues import CueMatcher
        from interaction_classifier.training.default_model import fit_default_model

        return fit_default_model(data.frame, cfg, CueMatcher(PATTERNS_DIR), version)
    from interaction_classifier.training.retrain import fit_table_model

    return fit_table_model(data.frame, data.split, cfg, version)


def evaluate(model: InteractionModel, cfg: TrainingConfig, data: TrainingData,
             plots_dir: Path) -> dict[str, Any]:
    """The evaluation report on the held-out rows (the default model: also gold, SemEval)."""
    from interaction_classifier.evaluation.report import default_report, evaluation_report
    from interaction_classifier.serving.predictor import Predictor

    predictor = Predictor(model, {}, Path("."))
    if cfg.corpus is not None:
        return default_report(predictor, data.frame, plots_dir)
    return evaluation_report(predictor, data.frame[data.split == "test"], plots_dir)


def describe_data(model: InteractionModel, data: TrainingData) -> dict[str, Any]:
    """Row counts per split and, per head (urgency too), labelled rows per split."""
    heads = [*model.heads, *(["urgency"] if model.urgency is not None else [])]
    splits = ("train", "valid", "test")
    return {"rows": {s: int((data.split == s).sum()) for s in splits},
            "labelled_rows": {h: {s: int((data.frame[h].notna() & (data.split == s)).sum())
                                  for s in splits} for h in heads}}


def reference_profile(model: InteractionModel, data: TrainingData, seed: int
                      ) -> dict[str, Any]:
    """The drift reference (``loop.drift.summarise``) of the model as evaluated, before any
    refit: its predictions on up to 5,000 test rows, and their out-of-vocabulary rate."""
    from interaction_classifier.loop.drift import sample_texts, summarise

    texts = sample_texts(data.frame.loc[data.split == "test", "text"], seed)
    scored, _ = model.predict_frame(texts)
    return {**summarise(scored, model.oov_rate(texts)), "source": "training test split"}


def resolve_signer(signer: Ed25519PrivateKey | Literal["configured"] | None
                   ) -> Ed25519PrivateKey | None:
    """The key a run signs with: ``"configured"`` loads the user's key (an error naming
    ``keys generate`` and ``--unsigned`` when there is none)."""
    if signer != "configured":
        return signer
    from interaction_classifier.models import signing

    return signing.load_private_key(signing.default_key_path())


def run(cfg: TrainingConfig, output_dir: Path, track: bool = True, version: str | None = None,
        config_path: Path | None = None, *,
        signer: Ed25519PrivateKey | Literal["configured"] | None = "configured",
        log_examples: bool = False) -> RunResult:
    """Train, evaluate, save a signed model directory and optionally log an MLflow run."""
    from interaction_classifier.evaluation.card import write_card
    from interaction_classifier.evaluation.report import example_redactor, logged_examples
    from interaction_classifier.loop.drift import REFERENCE_FILE
    from interaction_classifier.models.artifact import (
        artifact_fields,
        save_artifact,
        write_manifest,
    )

    signer = resolve_signer(signer)  # before hours of fitting, not after
    if log_examples:
        example_redactor()
    started = time.perf_counter()
    data = load_data(cfg)
    search_log: dict[str, Any] = {}
    if cfg.data is not None and cfg.search.budget_minutes > 0:
        from interaction_classifier.training.tune import search

        cfg, search_log = search(data.frame[data.split == "train"], cfg)
    version = version or make_version(cfg, data.fingerprint)
    timer = time.perf_counter()
    model = fit(cfg, data, version)
    fit_seconds = time.perf_counter() - timer
    # The shipped default model stays small: its plots go to MLflow only.
    plots_dir = output_dir / "plots" if cfg.data is not None else \
        Path(tempfile.mkdtemp(prefix="ic-plots-"))
    report = evaluate(model, cfg, data, plots_dir)
    reference = reference_profile(model, data, cfg.seed)
    if cfg.data is not None and cfg.model.refit == "all":
        from interaction_classifier.training.retrain import refit

        timer = time.perf_counter()
        model = refit(model, data.frame, cfg)
        fit_seconds += time.perf_counter() - timer
    output_dir.mkdir(parents=True, exist_ok=True)
    write_config(cfg, output_dir / "config.toml",
                 HEADER.format(path=output_dir / "config.toml"))
    # Example texts (masked) only for your own data when asked: the corpus's are not ours.
    shown = logged_examples(report, log_examples and cfg.data is not None)
    write_text(output_dir / "evaluation.json", json.dumps(shown, indent=2) + "\n")
    write_text(output_dir / REFERENCE_FILE, json.dumps(reference, indent=2) + "\n")
    manifest = {"name": "interaction-classifier", "kind": cfg.kind, "version": version,
                "profile": "accurate" if cfg.accurate is not None else "fast",
                "heads": {h: head.classes for h, head in model.heads.items()},
                "thresholds": {"review": dict(model.abstain),
                               "priority": dict(model.urgency.tiers) if model.urgency else {}},
                "data": data.source, "data_fingerprint": data.fingerprint,
                "config_digest": cfg.digest(), **describe_data(model, data),
                "config": cfg.model_dump(mode="json", exclude_none=True), "search": search_log,
                "train_seconds": round(time.perf_counter() - started, 1),
                "fit_seconds": round(fit_seconds, 1), "refit": cfg.model.refit,
                "metrics": logged_examples(report, False)}
    if data.corrections:
        manifest["corrections"] = data.corrections
    manifest.update(artifact_fields(signer))
    if cfg.corpus is not None:
        from interaction_classifier.config import load_taxonomy

        manifest["corpus_fingerprint"] = data.fingerprint
        manifest["taxonomy"] = load_taxonomy().as_dict()
    write_card(output_dir, manifest)
    save_artifact(model, output_dir, manifest, signer=signer)
    if track:
        manifest["mlflow"] = _track(cfg, output_dir, manifest, shown, plots_dir, config_path,
                                    signer is None)
        write_manifest(output_dir, manifest, signer=signer)
    return RunResult(model, report, manifest, output_dir)


def _track(cfg: TrainingConfig, output_dir: Path, manifest: dict[str, Any],
           report: dict[str, Any], plots_dir: Path, config_path: Path | None,
           unsigned: bool) -> dict[str, Any]:
    """Log the run to MLflow (registered model: the config's, else by kind and heads)."""
    from interaction_classifier.training.tracking import safe_name, track_run

    name = cfg.mlflow.registered_model or (
        "interaction-classifier" if cfg.corpus is not None
        else "retrained-" + "-".join(safe_name(c) for c in cfg.data.label_columns))
    params = {**manifest["config"], "data_fingerprint": manifest["data_fingerprint"]}
    files = [output_dir / "config.toml", output_dir / "evaluation.json", plots_dir]
    if config_path is not None:
        files.append(config_path)
    return track_run(output_dir, manifest, report, params, cfg.mlflow.experiment, name, files,
                     trust_unsigned=unsigned)
