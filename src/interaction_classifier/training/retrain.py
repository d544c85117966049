"""Retraining on your own labels: any table, any label set, one head per label column.

Data scientists retrain on their own tickets and only trust the result if it is as good as
what they would build themselves, so this trainer produces the same artifact as the default
model (``load_model(DIR)`` works unchanged) and the evidence to judge it: per-class metrics,
plots, confused pairs, an abstain analysis, a data fingerprint and the exact configuration
to repeat the run (``DIR/config.toml``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from interaction_classifier.data.corpus import fingerprint
from interaction_classifier.features.featurizer import TextFeaturizer
from interaction_classifier.models.model import InteractionModel, LinearHead
from interaction_classifier.training.fit import fit_temperature

CLASSIFIERS = ("logreg", "svm", "svm+logreg")
RESERVED = frozenset({"needs_review", "reasons", "text", "model_version", "confidence",
                      "probabilities"})
SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "valid", "val": "valid",
                 "validation": "valid", "dev": "valid", "test": "test"}
FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".parquet": "parquet",
           ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}

# Profiles are starting points; every key can be overridden in the config file.
PROFILES: dict[str, dict[str, Any]] = {
    # One linear head per label column: well under 1 ms a message on one CPU core.
    "fast": {
        "features": {"word_ngram_range": [1, 3], "word_min_df": 1, "word_max_features": 0,
                     "char_ngram_range": [2, 5], "char_min_df": 2, "char_max_features": 0,
                     "sublinear_tf": True},
        "model": {"classifier": "svm+logreg", "svm_C": 0.5, "svm_multi_class": "ovr",
                  "logreg_C": 30.0,
                  "class_weight": "none", "refit_on_valid": True},
    },
}
DEFAULTS: dict[str, Any] = {
    "seed": 13,
    "profile": "fast",
    "version": "",
    "data": {"path": "", "text_column": "text", "label_columns": [], "split_column": "",
             "valid_size": 0.1, "test_size": 0.2, "min_examples_per_class": 5},
    "search": {"budget_minutes": 0.0, "folds": 3, "factor": 3},
    "abstain": {},
    "mlflow": {"experiment": "interaction-classifier-retrain", "registered_model": ""},
}


class RetrainError(ValueError):
    """Unusable input for retraining; the message names the file, column or class."""


# --------------------------------------------------------------------------- config


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins, nested tables are merged, not replaced."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_config(raw: dict[str, Any], overrides: dict[str, Any] | None = None
                   ) -> dict[str, Any]:
    """Defaults, then the profile's settings, then the config file, then CLI overrides."""
    user = merge(raw, overrides or {})
    profile = user.get("profile", DEFAULTS["profile"])
    if profile not in PROFILES:
        raise RetrainError(f"unknown profile {profile!r}; profiles: {sorted(PROFILES)}")
    cfg = merge(merge(DEFAULTS, PROFILES[profile]), user)
    data = cfg["data"]
    data["path"] = str(Path(data["path"]).resolve()) if data["path"] else ""
    if isinstance(data["label_columns"], str):
        data["label_columns"] = [data["label_columns"]]
    if not data["path"]:
        raise RetrainError("no data file: pass --data FILE or set [data] path in the config")
    if not data["label_columns"]:
        raise RetrainError("no label column: pass --label-column COL (repeat for more heads)")
    if cfg["model"]["classifier"] not in CLASSIFIERS:
        raise RetrainError(f"unknown classifier {cfg['model']['classifier']!r}; "
                           f"choose one of {list(CLASSIFIERS)}")
    return cfg


def to_toml(cfg: dict[str, Any]) -> str:
    """The resolved config as TOML (scalars first, then one table per section)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int | float):
            return repr(v)
        if isinstance(v, list | tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))

    def key(k: str) -> str:
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)

    lines = [f"{key(k)} = {value(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for section, table in cfg.items():
        if isinstance(table, dict):
            lines += ["", f"[{key(section)}]"]
            lines += [f"{key(k)} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- data


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV, TSV, Parquet, JSON Lines or JSON records (optionally gzipped), labels as text."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise RetrainError(f"cannot read {path}: unknown file type; supported: "
                           f"{sorted(FORMATS)} (optionally .gz)")
    if not path.is_file():
        raise RetrainError(f"cannot read {path}: no such file")
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=str,
                               keep_default_na=False, na_values=[""])
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=fmt == "jsonl", orient="records", dtype=False)
    except Exception as exc:  # every reader has its own error types
        raise RetrainError(f"cannot read {path} as {fmt}: {exc}") from exc


def label_series(column: pd.Series) -> pd.Series:
    """Labels as strings with missing kept missing (2.0 read as a float becomes "2")."""
    if pd.api.types.is_float_dtype(column) and (column.dropna() % 1 == 0).all():
        column = column.astype("Int64")
    out = column.astype("string").str.strip().replace("", pd.NA)
    return out.astype(object).where(out.notna(), None)


def prepare(frame: pd.DataFrame, cfg: dict[str, Any]) -> pd.DataFrame:
    """Validate the table against the config; returns ``text``, label and split columns."""
    data = cfg["data"]
    text_col, heads = data["text_column"], list(data["label_columns"])
    split_col = data["split_column"]
    wanted = [text_col, *heads, *([split_col] if split_col else [])]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise RetrainError(f"column(s) {missing} not in {data['path']}; "
                           f"columns: {list(frame.columns)}")
    if len(set(heads)) != len(heads) or text_col in heads:
        raise RetrainError(f"label columns must be distinct and differ from the text column: "
                           f"{heads}")
    bad = [h for h in heads if h in RESERVED or "__" in h or h.startswith("p_")]
    if bad:
        raise RetrainError(f"label column name(s) {bad} clash with prediction columns; "
                           f"rename them (reserved: {sorted(RESERVED)}, no '__', no 'p_')")
    out = pd.DataFrame({"text": frame[text_col].astype("string").str.strip()})
    for h in heads:
        out[h] = label_series(frame[h])
    if split_col:
        given = frame[split_col].astype("string").str.strip().str.lower()
        out["split"] = given.map(SPLIT_ALIASES).fillna("train")  # unsplit rows: train
        unknown = given[given.notna() & ~given.isin(list(SPLIT_ALIASES))].unique()[:5]
        if len(unknown):
            raise RetrainError(f"split column {split_col!r} has values {list(unknown)}; "
                               f"use {sorted(set(SPLIT_ALIASES))}")
    out = out[out["text"].notna() & (out["text"] != "")].reset_index(drop=True)
    out["text"] = out["text"].astype(str)
    for h in heads:
        check_classes(out[h], h, int(data["min_examples_per_class"]))
    return out


def check_classes(labels: pd.Series, head: str, minimum: int) -> None:
    """At least two classes, and every class with enough rows to reach every split."""
    counts = labels.dropna().value_counts()
    if len(counts) < 2:
        raise RetrainError(f"label column {head!r} has {len(counts)} class(es) "
                           f"{list(counts.index)} among {int(counts.sum())} labelled rows; "
                           "a classifier needs at least 2")
    rare = counts[counts < minimum]
    if len(rare):
        shown = ", ".join(f"{k!r}: {v}" for k, v in rare.head(5).items())
        raise RetrainError(f"label column {head!r}: {len(rare)} class(es) have fewer than "
                           f"{minimum} labelled rows ({shown}), too few to split into "
                           "train/valid/test; merge or drop them, or lower "
                           "data.min_examples_per_class")


def assign_split(frame: pd.DataFrame, cfg: dict[str, Any]) -> pd.Series:
    """train/valid/test per row: the given split column, with missing parts carved out of
    train, stratified on the first label column (seeded)."""
    data, seed = cfg["data"], int(cfg["seed"])
    split = frame["split"].copy() if "split" in frame else pd.Series("train", frame.index)
    strata = frame[data["label_columns"][0]].fillna("<missing>")
    for part, size in (("test", data["test_size"]), ("valid", data["valid_size"])):
        if (split == part).any():
            continue
        pool = split.index[split == "train"]
        share = float(size) / (1.0 - float(data["test_size"])) if part == "valid" and \
            "split" not in frame else float(size)
        try:
            _, taken = train_test_split(pool, test_size=share, random_state=seed,
                                        stratify=strata[pool])
        except ValueError as exc:
            raise RetrainError(f"cannot carve a stratified {part} split: {exc}; add rows "
                               "or give a split column") from exc
        split[taken] = part
    return split


def data_fingerprint(frame: pd.DataFrame, heads: list[str]) -> str:
    """Content hash of text and labels, the same whatever the file format."""
    canon = frame[["text", *heads]].astype(object).where(frame[["text", *heads]].notna(), "")
    return fingerprint(canon.astype(str))


# --------------------------------------------------------------------------- model


def featurizer_from(features: dict[str, Any]) -> TextFeaturizer:
    """A TextFeaturizer without cue or lexicon blocks (those encode the default taxonomy);
    0 for a max_features key means no cap."""
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in features.items()}
    for key in ("word_max_features", "char_max_features"):
        kw[key] = kw.get(key) or None
    return TextFeaturizer(use_cues=False, lexicon_weight=0.0, **kw)


def fit_linear(name: str, X: Any, y: np.ndarray, model: dict[str, Any], seed: int
               ) -> LinearHead:
    """One head: a logistic regression, a linear SVM, or both averaged into one linear map.

    Each member's scores are divided by their spread on the training rows so that neither
    dominates; the sum of linear maps is linear, so the ensemble costs one product at
    prediction time."""
    weight = None if model["class_weight"] in ("none", None, "") else model["class_weight"]
    members = []
    if model["classifier"] in ("svm", "svm+logreg"):
        members.append(LinearSVC(C=float(model["svm_C"]), class_weight=weight,
                                 multi_class=model["svm_multi_class"],
                                 random_state=seed).fit(X, y))
    if model["classifier"] in ("logreg", "svm+logreg"):
        members.append(LogisticRegression(C=float(model["logreg_C"]), class_weight=weight,
                                          max_iter=3000, random_state=seed).fit(X, y))
    heads = [LinearHead.from_estimator(name, m) for m in members]
    scale = [float(np.std(h.logits(X))) or 1.0 for h in heads]
    coef = sum(h.coef / s for h, s in zip(heads, scale, strict=True)) / len(heads)
    intercept = sum(h.intercept / s for h, s in zip(heads, scale, strict=True)) / len(heads)
    return LinearHead(name, heads[0].classes, np.asarray(coef, dtype=np.float32),
                      np.asarray(intercept, dtype=np.float32))


def fit_heads(featurizer: TextFeaturizer, frame: pd.DataFrame, heads: list[str],
              model: dict[str, Any], seed: int) -> dict[str, LinearHead]:
    """Fit the featurizer on ``frame`` and one head per label column on its labelled rows."""
    featurizer.fit(frame["text"].tolist())
    X = featurizer.transform(frame["text"].tolist())
    out = {}
    for h in heads:
        mask = frame[h].notna().to_numpy()
        out[h] = fit_linear(h, X[mask], frame.loc[mask, h].to_numpy(), model, seed)
    return out


def fit_model(frame: pd.DataFrame, split: pd.Series, cfg: dict[str, Any]) -> InteractionModel:
    """Fit on train, temperature-scale on valid, then (by default) refit on train + valid
    keeping the temperatures, so the final model sees every non-test row."""
    heads, seed = list(cfg["data"]["label_columns"]), int(cfg["seed"])
    train, valid = frame[split == "train"], frame[split == "valid"]
    featurizer = featurizer_from(cfg["features"])
    fitted = fit_heads(featurizer, train, heads, cfg["model"], seed)
    X_valid = featurizer.transform(valid["text"].tolist())
    temperatures = {}
    for h, head in fitted.items():
        mask = (valid[h].notna() & valid[h].isin(head.classes)).to_numpy()
        temperatures[h] = fit_temperature(head, X_valid[mask], valid.loc[mask, h].to_numpy()) \
            if mask.any() else 1.0
    if cfg["model"].get("refit_on_valid", True):
        featurizer = featurizer_from(cfg["features"])
        fitted = fit_heads(featurizer, pd.concat([train, valid]), heads, cfg["model"], seed)
    for h, head in fitted.items():
        head.temperature = temperatures[h]
    abstain = {h: float(cfg["abstain"].get(h, 0.0)) for h in heads}
    version = cfg.get("version") or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return InteractionModel(featurizer=featurizer.freeze(), heads=fitted, abstain=abstain,
                            max_chars=5000, version=version)


# --------------------------------------------------------------------------- evaluation


def most_confused(y_true: pd.Series, y_pred: pd.Series, texts: pd.Series, top: int = 10,
                  examples: int = 3) -> list[dict[str, Any]]:
    """The most frequent (true, predicted) error pairs, each with a few example texts."""
    mask = y_true.notna() & (y_true.astype(str) != y_pred.astype(str))
    errors = pd.DataFrame({"true": y_true[mask], "predicted": y_pred[mask], "text": texts[mask]})
    pairs = errors.groupby(["true", "predicted"]).size().sort_values(ascending=False,
                                                                     kind="stable")
    return [{"true": t, "predicted": p, "count": int(n),
             "examples": errors.loc[(errors["true"] == t) & (errors["predicted"] == p),
                                    "text"].head(examples).tolist()}
            for (t, p), n in pairs.head(top).items()]


def plot_abstain(table: list[dict[str, float]], title: str, path: Path) -> Path:
    """Coverage and accuracy against the abstain threshold, as a PNG."""
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(table)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(frame["threshold"], frame["accuracy"], "o-", label="accuracy on answered")
    ax.plot(frame["threshold"], frame["coverage"], "s-", label="coverage")
    ax.set_xlabel("abstain below this top probability")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def head_report(y_true: pd.Series, pred: pd.DataFrame, head: LinearHead, texts: pd.Series,
                plots: Path | None) -> dict[str, Any]:
    """Per-class and averaged metrics, ECE, confused pairs, abstain table; plots if asked."""
    from interaction_classifier.evaluation import metrics as evaluate

    metrics = evaluate.head_metrics(y_true, pred[head.name], head.classes)
    mask = y_true.notna().to_numpy()
    t, p = y_true[mask].astype(str), pred[head.name][mask].astype(str)
    present = [c for c in head.classes if c in set(t)]
    prec, rec, f1, _ = precision_recall_fscore_support(t, p, labels=present, average="weighted",
                                                       zero_division=0)
    metrics["weighted"] = {"precision": float(prec), "recall": float(rec), "f1": float(f1)}
    macro = precision_recall_fscore_support(t, p, labels=present, average="macro",
                                            zero_division=0)
    metrics["macro"] = {"precision": float(macro[0]), "recall": float(macro[1]),
                        "f1": float(macro[2])}
    proba = pred[[f"p_{head.name}__{c}" for c in head.classes]]
    metrics["ece"] = evaluate.expected_calibration_error(y_true, proba)
    metrics["most_confused"] = most_confused(y_true, pred[head.name], texts)
    metrics["abstain"] = evaluate.abstain_table(y_true, proba)
    if plots is not None:
        evaluate.plot_confusion(y_true, pred[head.name], head.classes, f"test: {head.name}",
                                plots / f"confusion_{head.name}.png")
        evaluate.plot_calibration(y_true, proba, f"test: {head.name}",
                                  plots / f"calibration_{head.name}.png")
        plot_abstain(metrics["abstain"], f"test: {head.name}", plots / f"abstain_{head.name}.png")
    return metrics


def evaluate_model(model: InteractionModel, test: pd.DataFrame, plots: Path | None = None
                   ) -> dict[str, Any]:
    """The report on held-out rows, through the same Predictor that ``load_model`` returns."""
    from interaction_classifier.serving.predictor import Predictor

    pred = Predictor(model, {}, Path(".")).predict_batch(test["text"].tolist())
    pred.index = test.index
    report = {h: head_report(test[h], pred, head, test["text"], plots)
              for h, head in model.heads.items()}
    report["score"] = float(np.mean([report[h]["macro_f1"] for h in model.heads]))
    return report


def without_texts(report: dict[str, Any]) -> dict[str, Any]:
    """The report minus example texts, for the manifest (texts stay in evaluation.json)."""
    out = json.loads(json.dumps(report))
    for value in out.values():
        if isinstance(value, dict):
            for pair in value.get("most_confused", []):
                pair.pop("examples", None)
    return out


# --------------------------------------------------------------------------- run


def run_retraining(cfg: dict[str, Any], output_dir: Path, track: bool = True
                   ) -> dict[str, Any]:
    """Read, validate, split, (search,) fit, evaluate, save, and optionally track a run.

    Returns a summary with the report, the written config path and timings."""
    from interaction_classifier.models.artifact import save_artifact, write_manifest
    from interaction_classifier.training.tune import search

    started = time.perf_counter()
    frame = prepare(read_table(cfg["data"]["path"]), cfg)
    heads = list(cfg["data"]["label_columns"])
    split = assign_split(frame, cfg)
    search_log: dict[str, Any] = {}
    if float(cfg["search"]["budget_minutes"]) > 0:
        cfg, search_log = search(frame[split == "train"], cfg)
    fit_started = time.perf_counter()
    model = fit_model(frame, split, cfg)
    fit_seconds = time.perf_counter() - fit_started
    output_dir.mkdir(parents=True, exist_ok=True)
    plots = output_dir / "plots"
    plots.mkdir(exist_ok=True)
    report = evaluate_model(model, frame[split == "test"], plots)
    chosen = merge(cfg, {"search": {"budget_minutes": 0.0}, "version": model.version})
    (output_dir / "config.toml").write_text(
        "# Written by interaction-classifier train: re-run with\n"
        f"# interaction-classifier train --config {output_dir / 'config.toml'} --output DIR\n"
        + to_toml(chosen), encoding="utf-8")
    (output_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n",
                                                encoding="utf-8")
    manifest = {"name": "interaction-classifier-retrained", "version": model.version,
                "heads": {h: model.heads[h].classes for h in heads},
                "data_fingerprint": data_fingerprint(frame, heads),
                "rows": {s: int((split == s).sum()) for s in ("train", "valid", "test")},
                "labelled_rows": {h: {s: int((frame[h].notna() & (split == s)).sum())
                                      for s in ("train", "valid", "test")} for h in heads},
                "config": chosen, "search": search_log,
                "train_seconds": round(time.perf_counter() - started, 1),
                "fit_seconds": round(fit_seconds, 1), "metrics": without_texts(report)}
    save_artifact(model, output_dir, manifest)
    if track:
        manifest["mlflow"] = track_run(chosen, output_dir, report, manifest, plots)
        write_manifest(output_dir, manifest)
    return {"report": report, "config_path": output_dir / "config.toml", "manifest": manifest}


def track_run(cfg: dict[str, Any], output_dir: Path, report: dict[str, Any], manifest: dict,
              plots: Path) -> dict[str, Any]:
    """Log params, metrics, plots and the model; register a version, move ``champion``
    only if the mean test macro-F1 beats the current champion's."""
    import mlflow

    from interaction_classifier.serving.predictor import load_model
    from interaction_classifier.training import tracking

    tracking.setup(cfg["mlflow"]["experiment"])
    name = cfg["mlflow"]["registered_model"] or \
        "retrained-" + "-".join(cfg["data"]["label_columns"])
    with mlflow.start_run(run_name=f"retrain-{manifest['version']}") as run:
        mlflow.log_params(tracking.flat_params(cfg))
        mlflow.log_param("data_fingerprint", manifest["data_fingerprint"])
        mlflow.set_tags({"model_version": manifest["version"], "kind": "retrained"})
        mlflow.log_metrics(tracking.flatten_metrics(report))
        mlflow.log_metrics({f"rows.{k}": float(v) for k, v in manifest["rows"].items()})
        mlflow.log_artifacts(str(plots), artifact_path="plots")
        mlflow.log_artifact(str(output_dir / "config.toml"), artifact_path="config")
        mlflow.log_artifact(str(output_dir / "evaluation.json"))
        predictor = load_model(output_dir)
        example = pd.DataFrame({"text": ["I still have not received my new card.",
                                         "How do I change my PIN?"]})
        with tempfile.TemporaryDirectory() as tmp:
            # Log a clean copy: the model directory is rewritten after this call.
            import shutil

            copy = Path(tmp) / "model"
            shutil.copytree(output_dir, copy)
            info = tracking.log_model_dir(copy, example,
                                          predictor.predict_batch(example["text"].tolist()),
                                          name)
        version = str(info.registered_model_version)
        champion = tracking.promote_if_better(name, version, report["score"], "score")
    return {"run_id": run.info.run_id, "registered_model": name, "registered_version": version,
            "champion": champion}


def compare_runs(run_a: str, run_b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Params that differ and headline metrics of two MLflow runs, side by side."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    a, b = client.get_run(run_a).data, client.get_run(run_b).data
    params = pd.DataFrame(
        [{"param": k, "A": a.params.get(k), "B": b.params.get(k)}
         for k in sorted(set(a.params) | set(b.params)) if a.params.get(k) != b.params.get(k)],
        columns=["param", "A", "B"])
    keys = sorted(k for k in set(a.metrics) | set(b.metrics)
                  if ".per_class." not in k and ".abstain" not in k)
    metrics = pd.DataFrame([{"metric": k, "A": a.metrics.get(k), "B": b.metrics.get(k)}
                            for k in keys], columns=["metric", "A", "B"])
    metrics["B - A"] = metrics["B"] - metrics["A"]
    return params, metrics
