"""MLflow pyfunc packaging: the same verified model behind ``mlflow.pyfunc.load_model``.

Input rows are checked exactly as the batch scorer checks them (``batch.chunks``): a null,
NaN, non-string, empty or over-long text is never scored as the string ``"None"`` or
``"123"``; its row keeps null labels, ``needs_review`` True and a ``status`` that says why.
Review thresholds and priority cut-offs can be overridden per call with MLflow ``params``
named ``review.<head>`` and ``priority.<tier>`` (``signature_params`` gives the defaults to
declare in the model signature).

``pyfunc_spec`` gives everything ``mlflow.pyfunc.save_model`` or ``log_model`` needs for any
model directory (the shipped default model included): the wrapper as a code file
(``mlflow_model.py``, MLflow's "models from code": no cloudpickle file is written), the signed
directory as its artifact (verified by signature when the pyfunc loads), and a signature
whose output is what ``predict`` really returns (``status`` and ``model_version`` included)
and whose params are the overridable thresholds. ``save_pyfunc``
writes it to a folder that ``mlflow models serve -m FOLDER --env-manager local`` serves
(``interaction-classifier export-mlflow``; docs/serving.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import pandas as pd

from interaction_classifier.batch.chunks import score_chunk

if TYPE_CHECKING:
    from interaction_classifier.serving.predictor import Predictor

TEXT = "text"
PARAM_KINDS = ("review", "priority")
EXAMPLES = ["My card was stolen, please block it now!", "How do I change my PIN?"]


def signature_params(predictor: Predictor) -> dict[str, float]:
    """Every overridable threshold as a flat MLflow param with its default value."""
    described = predictor.describe()["thresholds"]
    return {f"{kind}.{key}": value for kind in PARAM_KINDS
            for key, value in described[kind].items()}


def thresholds_from_params(params: Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    """``{"review.topic": 0.7}`` -> ``{"review": {"topic": 0.7}, "priority": {}}``; other
    names are refused (the predictor checks heads, tiers and values)."""
    out: dict[str, dict[str, float]] = {kind: {} for kind in PARAM_KINDS}
    for name, value in (params or {}).items():
        kind, _, key = name.partition(".")
        if kind not in out or not key:
            raise ValueError(f"unknown param {name!r}; expected review.<head> or "
                             "priority.<tier>")
        out[kind][key] = value
    return out


def score_texts(predictor: Predictor, model_input: pd.DataFrame | Sequence[Any],
                params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per input row, in order: ``predictor.output_columns``, the probability
    columns, ``status`` and ``model_version``; rows whose status is not ``ok`` have null
    labels and ``needs_review`` True."""
    if isinstance(model_input, pd.DataFrame):
        if TEXT not in model_input.columns:
            raise ValueError(f"input needs a {TEXT!r} column; got {list(model_input.columns)}")
        frame = model_input[[TEXT]].reset_index(drop=True)
    else:
        frame = pd.DataFrame({TEXT: list(model_input)})
    scorer = predictor.with_thresholds(**thresholds_from_params(params))
    out = score_chunk(scorer, frame, TEXT).drop(columns=[TEXT])
    out["needs_review"] = out["needs_review"].fillna(True).astype(bool)  # unscored rows
    return out


class InteractionClassifierPyfunc(mlflow.pyfunc.PythonModel):
    """Wraps a model directory; input is a DataFrame with a ``text`` column (or a list)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        from interaction_classifier.serving.predictor import load_model

        trust = bool((context.model_config or {}).get("trust_unsigned", False))
        self.model = load_model(context.artifacts["model_dir"], trust_unsigned=trust)

    def predict(self, context: object, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        return score_texts(self.model, model_input, params)


def pyfunc_spec(model_dir: str | Path, trust_unsigned: bool = False) -> dict[str, Any]:
    """Keyword arguments of ``mlflow.pyfunc.save_model``/``log_model`` for a model directory
    (verified on load, ``trust_unsigned`` recorded in the model config): the wrapper's code
    file, artifact, signature with params, input example."""
    from mlflow.models import infer_signature

    from interaction_classifier.serving.predictor import load_model

    predictor = load_model(model_dir, trust_unsigned=trust_unsigned)
    example = pd.DataFrame({TEXT: EXAMPLES})
    signature = infer_signature(example, score_texts(predictor, example),
                                params=signature_params(predictor))
    return {"python_model": str(Path(__file__).with_name("mlflow_model.py")),
            "model_config": {"trust_unsigned": trust_unsigned},
            "artifacts": {"model_dir": str(model_dir)}, "signature": signature,
            "input_example": example, "pip_requirements": ["interaction-classifier"]}


def save_pyfunc(model_dir: str | Path, output: str | Path) -> Path:
    """Write ``model_dir`` as an MLflow pyfunc model folder at ``output`` (a new folder)."""
    mlflow.pyfunc.save_model(str(output), **pyfunc_spec(model_dir))
    return Path(output)
