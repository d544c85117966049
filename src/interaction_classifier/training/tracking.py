"""MLflow tracking: runs, the pyfunc model, the registry and the ``champion`` alias.

The default store is an embedded SQLite database in the project (``mlflow.db``, artifacts
in ``mlruns/``); ``MLFLOW_TRACKING_URI`` points runs at any tracking server instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from interaction_classifier.config import PROJECT_ROOT
from interaction_classifier.serving.pyfunc import InteractionClassifierPyfunc

CHAMPION = "champion"


def setup(experiment: str) -> str:
    """Point MLflow at the configured store and experiment; returns the tracking URI."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(experiment) is None:
        location = None if os.environ.get("MLFLOW_TRACKING_URI") else \
            (PROJECT_ROOT / "mlruns").as_uri()
        mlflow.create_experiment(experiment, artifact_location=location)
    mlflow.set_experiment(experiment)
    return uri


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
    """Nested metric dicts to MLflow keys like ``gold.sentiment.macro_f1``; non-numbers
    (labels, lists, None) are left out."""
    return _flatten(metrics, "", lambda v: float(v) if isinstance(v, int | float)
                    and not isinstance(v, bool) else None)


def log_model_dir(model_dir: Path, example: pd.DataFrame, output: pd.DataFrame,
                  registered_model: str | None) -> Any:
    """Log the model directory as a pyfunc with signature and input example."""
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=InteractionClassifierPyfunc(),
        artifacts={"model_dir": str(model_dir)},
        signature=infer_signature(example, output),
        input_example=example,
        registered_model_name=registered_model,
        pip_requirements=["interaction-classifier"],
    )


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
