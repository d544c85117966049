"""MLflow tracking: one function logs a training run of any model; names made safe for any
label; the pyfunc model, the registry and the ``champion`` alias; comparing two runs.

The default store is an embedded SQLite database in the project (``mlflow.db``, artifacts
in ``mlruns/``); ``MLFLOW_TRACKING_URI`` points runs at any tracking server instead.
MLflow accepts only letters, digits, ``_ - . /``, space (and ``:``) in metric, param and tag
names, while labels are free text (``reverted_card_payment?``, ``Billing & Payments``): every
name is sanitised, and ``names.json`` (logged with the run) maps each changed name back to
the original.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from interaction_classifier.config import PROJECT_ROOT
from interaction_classifier.serving.pyfunc import pyfunc_spec

CHAMPION = "champion"
NAMES_FILE = "names.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. ]")


def connect() -> str:
    """Point MLflow at the configured store; returns the tracking URI."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    return uri


def setup(experiment: str) -> str:
    """Point MLflow at the configured store and experiment; returns the tracking URI."""
    uri = connect()
    if mlflow.get_experiment_by_name(experiment) is None:
        location = None if os.environ.get("MLFLOW_TRACKING_URI") else \
            (PROJECT_ROOT / "mlruns").as_uri()
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    return uri


def safe_name(name: str) -> str:
    """An MLflow-safe name: unsafe characters (anything but ASCII letters, digits, ``_ - .``
    and space) become ``_``, and a name that changed gets 6 hex of its sha256, so that two
    labels differing only in unsafe characters stay two names."""
    safe = _UNSAFE.sub("_", name)
    return safe if safe == name else f"{safe}_{hashlib.sha256(name.encode()).hexdigest()[:6]}"


def _flatten(tree: dict[str, Any], prefix: str, leaf: Callable[[Any], Any]) -> dict[str, Any]:
    """Nested dicts to ``a.b.c`` keys; ``leaf`` converts a value, or drops it with None."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flatten(value, name, leaf))
        elif (converted := leaf(value)) is not None:
            out[name] = converted
    return out


def flat_params(cfg: dict[str, Any]) -> dict[str, str]:
    """Nested config to ``section.key`` strings for MLflow params."""
    return _flatten(cfg, "", str)


def flatten_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Nested metric dicts to keys like ``gold.sentiment.macro_f1``; non-numbers (labels,
    lists, None) are left out."""
    return _flatten(metrics, "", lambda v: float(v) if isinstance(v, int | float)
                    and not isinstance(v, bool) else None)


def sanitise(values: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """``values`` with each part of every dotted key made safe; ``names`` collects
    safe -> original for the keys that changed."""
    out = {}
    for key, value in values.items():
        safe = ".".join(safe_name(part) for part in key.split("."))
        if safe != key:
            names[safe] = key
        out[safe] = value
    return out


def log_model_dir(model_dir: Path, registered_model: str | None,
                  trust_unsigned: bool = False) -> Any:
    """Log the signed model directory as a pyfunc from code (no pickle) with signature
    (threshold params included) and input example (``serving.pyfunc.pyfunc_spec``)."""
    return mlflow.pyfunc.log_model(name="model", registered_model_name=registered_model,
                                   **pyfunc_spec(model_dir, trust_unsigned))


def promote_if_better(name: str, version: str, score: float, metric: str) -> bool:
    """Move ``champion`` to this version only if it beats the current champion's score."""
    client = MlflowClient()
    try:
        current = client.get_model_version_by_alias(name, CHAMPION)
    except mlflow.exceptions.MlflowException:
        current = None
    if current is not None:
        best = client.get_run(current.run_id).data.metrics.get(metric, float("-inf"))
        if score <= best:
            return False
    client.set_registered_model_alias(name, CHAMPION, version)
    return True


def track_run(output_dir: Path, manifest: dict[str, Any], report: dict[str, Any],
              params: dict[str, Any], experiment: str, registered_model: str,
              files: list[Path], trust_unsigned: bool = False) -> dict[str, Any]:
    """Log one training run: params, metrics (``score`` among them), tags, ``files`` (config,
    evaluation; a folder is logged as ``plots``) and the model as a registered pyfunc; move
    ``champion`` to it only if its ``score`` beats the champion's. Returns the ids for the
    manifest."""

    setup(experiment)
    names: dict[str, str] = {}
    kind = manifest["kind"]
    with mlflow.start_run(run_name=f"{kind}-{manifest['version']}") as run:
        mlflow.log_params(sanitise(flat_params(params), names))
        mlflow.set_tags(sanitise({"model_version": manifest["version"], "kind": kind,
                                  "heads": ",".join(manifest["heads"]),
                                  **({"corrections_fingerprint": manifest["corrections"]
                                      ["fingerprint"]} if "corrections" in manifest else {})},
                                 names))
        metrics = {k: v for k, v in report.items() if k != "test_per_source"}
        mlflow.log_metrics(sanitise(flatten_metrics(metrics), names))
        mlflow.log_dict(names, NAMES_FILE)
        for path in files:
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path="plots")
            elif path.is_file():
                mlflow.log_artifact(str(path))
        with tempfile.TemporaryDirectory() as tmp:  # the directory is rewritten afterwards
            copy = Path(tmp) / "model"
            shutil.copytree(output_dir, copy)
            info = log_model_dir(copy, registered_model, trust_unsigned)
        version = str(info.registered_model_version)
        if "corrections" in manifest:  # the registered version names what it learnt from
            MlflowClient().set_model_version_tag(registered_model, version,
                                                 "corrections_fingerprint",
                                                 manifest["corrections"]["fingerprint"])
        champion = promote_if_better(registered_model, version, report["score"], "score")
    return {"run_id": run.info.run_id, "model_uri": info.model_uri,
            "registered_model": registered_model, "registered_version": version,
            "champion": champion}


def compare_runs(run_a: str, run_b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Params that differ and headline metrics (no per-class or abstention rows) of two
    MLflow runs of any kind, side by side."""
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
