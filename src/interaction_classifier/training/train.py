"""Training: fit the featurizer and one calibrated classifier per head, then urgency.

Heads are fitted on the ``train`` split (rows where that head is labelled), temperatures
and the urgency model on ``valid``, and everything is reported on ``test`` and the gold
set. Seeded and deterministic: the same corpus and config give the same weights.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interaction_classifier.config import PATTERNS_DIR, PROJECT_ROOT, read_toml
from interaction_classifier.features.featurizer import TextFeaturizer
from interaction_classifier.models.model import (
    InteractionModel,
    LinearHead,
    driver_flags,
)
from interaction_classifier.text.cues import CueMatcher
from interaction_classifier.training.fit import (
    domain_flags,
    fit_head,
    fit_temperature,
    head_columns,
    stacking_proba,
)
from interaction_classifier.training.urgency import fit_urgency, urgency_feature_names
from interaction_classifier.training.weights import head_rows, head_weights


@dataclass
class TrainConfig:
    """The parsed training config (``configs/default.toml``)."""

    raw: dict[str, Any]
    path: Path | None = None
    heads: list[str] = field(default_factory=lambda: ["interaction_type", "journey_stage",
                                                      "sentiment"])

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls(read_toml(path), Path(path))

    @property
    def seed(self) -> int:
        return int(self.raw.get("seed", 13))

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.raw.get(name, {}))

    def corpus_path(self) -> Path:
        return PROJECT_ROOT / self.section("corpus").get("path", "data/corpus/corpus.parquet")

    def flat_params(self) -> dict[str, str]:
        """Config flattened to ``section.key`` strings for MLflow."""
        from interaction_classifier.training.tracking import flat_params

        return flat_params(self.raw)


def train_model(corpus: pd.DataFrame, cfg: TrainConfig, matcher: CueMatcher,
                version: str | None = None) -> InteractionModel:
    """Fit the full default model from a built corpus."""
    seed, mcfg, fcfg = cfg.seed, cfg.section("model"), cfg.section("features")
    train = corpus[corpus["split"] == "train"]
    valid = corpus[corpus["split"] == "valid"]
    cap = mcfg.get("max_rows_per_source")
    selected = {h: head_rows(train, h, cap, seed) for h in [*cfg.heads, "urgency"]}
    union = pd.concat(selected.values())
    union = union[~union.index.duplicated()].sort_index()
    featurizer = TextFeaturizer(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in fcfg.items()}).set_matcher(matcher)
    featurizer.fit(union["text"].tolist())
    X_all = featurizer.transform(union["text"].tolist())
    pos = {idx: i for i, idx in enumerate(union.index)}
    X_valid, valid_cues = featurizer.transform_with_cues(valid["text"].tolist())
    heads: dict[str, LinearHead] = {}
    names = featurizer.feature_names()
    for h in cfg.heads:
        rows = [pos[i] for i in selected[h].index]
        weights = head_weights(selected[h], h, mcfg)
        head = fit_head(h, X_all[rows], selected[h][h].to_numpy(), float(mcfg["C"][h]),
                        mcfg.get("class_weight"), int(mcfg.get("max_iter", 2000)),
                        weights, head_columns(names, mcfg.get("exclude_blocks", {}).get(h, [])),
                        domain_flags(selected[h], mcfg.get("domain_adaptation", {}).get(h, [])))
        vmask = valid[h].notna().to_numpy()
        head.temperature = fit_temperature(head, X_valid[vmask], valid[h][vmask].to_numpy(),
                                           head_weights(valid[vmask], h, mcfg))
        heads[h] = head
    ucfg = cfg.section("urgency")
    urows = selected["urgency"]
    text_head = fit_head("urgency", X_all[[pos[i] for i in urows.index]],
                         urows["urgency"].to_numpy(), float(ucfg.get("text_C", 1.0)),
                         mcfg.get("class_weight"), int(mcfg.get("max_iter", 2000)),
                         head_weights(urows, "urgency", mcfg))
    umask = valid["urgency"].notna().to_numpy()
    uweights = head_weights(valid[umask], "urgency", mcfg)
    text_head.temperature = fit_temperature(text_head, X_valid[umask],
                                            valid["urgency"][umask].to_numpy(), uweights)
    flags = np.vstack([driver_flags(c) for c, keep in zip(valid_cues, umask, strict=True)
                       if keep])
    probas = {h: stacking_proba(heads[h], X_valid[umask])
              for h in ("interaction_type", "sentiment")}
    urgency = fit_urgency(text_head, X_valid[umask], probas, flags, valid[umask],
                          urgency_feature_names(text_head, heads), ucfg, uweights)
    abstain = {k: float(v) for k, v in cfg.section("abstain").items()}
    max_chars = int(cfg.section("predict").get("max_chars", 5000))
    version = version or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    model = InteractionModel(featurizer=featurizer.freeze(), heads=heads, abstain=abstain,
                             max_chars=max_chars, version=version, urgency=urgency)
    return model.attach(matcher)


def evaluation_report(predictor: Any, corpus: pd.DataFrame, plots_dir: Path | None = None,
                      semeval_limit: int | None = None) -> dict[str, Any]:
    """Metrics on the test split, the gold set and held-out SemEval; plots when asked."""
    from interaction_classifier.data.gold import load_gold
    from interaction_classifier.evaluation import metrics as evaluate

    test = corpus[corpus["split"] == "test"]
    gold = load_gold()
    report: dict[str, Any] = {}
    for name, frame in (("test", test), ("gold", gold)):
        metrics, pred = evaluate.evaluate_frame(predictor, frame)
        report[name] = metrics
        for head, linear in predictor.model.heads.items():
            proba = pred[[f"p_{head}__{c}" for c in linear.classes]]
            metrics[head]["ece"] = evaluate.expected_calibration_error(frame[head], proba)
            metrics[head]["abstain"] = evaluate.abstention(
                frame[head], proba, predictor.model.abstain.get(head, 0.0))
            if plots_dir is not None:
                evaluate.plot_confusion(frame[head], pred[head], linear.classes,
                                        f"{name}: {head}", plots_dir / f"cm_{name}_{head}.png")
                evaluate.plot_calibration(frame[head], proba, f"{name}: {head}",
                                          plots_dir / f"calibration_{name}_{head}.png")
        if name == "test":
            report["test_per_source"] = evaluate.per_source(
                frame, pred, list(predictor.model.heads)).to_dict(orient="records")
    report["semeval_heldout"] = evaluate.semeval_report(predictor, limit=semeval_limit)
    return report


def gold_score(report: dict[str, Any]) -> float:
    """The single number the champion alias is decided on: mean gold macro-F1 and AUC."""
    gold = report["gold"]
    parts = [gold[h]["macro_f1"] for h in ("interaction_type", "journey_stage", "sentiment")]
    parts.append(gold["urgency"]["roc_auc_urgent"] or 0.0)
    return float(sum(parts) / len(parts))


def run_training(config_path: Path, output_dir: Path, track: bool = True,
                 version: str | None = None, corpus_path: Path | None = None
                 ) -> dict[str, Any]:
    """Train, evaluate, save a verified artifact and (optionally) log it all to MLflow."""
    import tempfile

    from interaction_classifier.config import load_taxonomy
    from interaction_classifier.data.corpus import fingerprint, read_corpus
    from interaction_classifier.evaluation.card import write_card
    from interaction_classifier.models.artifact import save_artifact, write_manifest
    from interaction_classifier.serving.predictor import Predictor

    cfg = TrainConfig.load(config_path)
    corpus = read_corpus(corpus_path or cfg.corpus_path())
    matcher = CueMatcher(PATTERNS_DIR)
    model = train_model(corpus, cfg, matcher, version=version)
    plots = Path(tempfile.mkdtemp(prefix="ic-plots-"))
    report = evaluation_report(Predictor(model, {}, output_dir), corpus, plots)
    report["gold_score"] = gold_score(report)
    manifest = {"name": "interaction-classifier", "version": model.version,
                "corpus_fingerprint": fingerprint(corpus), "config": cfg.raw,
                "taxonomy": load_taxonomy().as_dict(), "metrics": report}
    output_dir.mkdir(parents=True, exist_ok=True)
    write_card(output_dir, manifest)
    save_artifact(model, output_dir, manifest)
    if track:
        _track(cfg, output_dir, report, manifest, plots)
    write_manifest(output_dir, manifest)
    return report


def _track(cfg: TrainConfig, output_dir: Path, report: dict[str, Any], manifest: dict,
           plots: Path) -> None:
    """Log params, metrics, plots and the pyfunc; move ``champion`` if gold improves."""
    import mlflow

    from interaction_classifier.serving.predictor import load_model
    from interaction_classifier.training import tracking

    ml = cfg.section("mlflow")
    tracking.setup(ml.get("experiment", "interaction-classifier"))
    name = ml.get("registered_model", "interaction-classifier")
    with mlflow.start_run(run_name=f"train-{manifest['version']}") as run:
        mlflow.log_params(cfg.flat_params())
        mlflow.log_param("corpus_fingerprint", manifest["corpus_fingerprint"])
        mlflow.set_tag("model_version", manifest["version"])
        mlflow.log_metrics(tracking.flatten_metrics(
            {k: v for k, v in report.items() if k != "test_per_source"}))
        mlflow.log_artifacts(str(plots), artifact_path="plots")
        if cfg.path is not None:
            mlflow.log_artifact(str(cfg.path), artifact_path="config")
        predictor = load_model(output_dir)
        example = pd.DataFrame({"text": ["My card was stolen, please block it now!",
                                         "Thanks for the quick help yesterday."]})
        info = tracking.log_model_dir(output_dir, example, predictor.predict_batch(
            example["text"].tolist()), name)
        manifest["mlflow"] = {"run_id": run.info.run_id, "model_uri": info.model_uri,
                              "registered_version": str(info.registered_model_version)}
        manifest["mlflow"]["champion"] = tracking.promote_if_better(
            name, str(info.registered_model_version), report["gold_score"], "gold_score")
