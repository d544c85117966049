"""The inline API: ``predict``, ``predict_batch`` and ``load_model``.

The default model loads lazily on first use (checksums verified) and is cached; calls are
thread-safe. Bad input never crashes silently: non-strings raise ``TypeError``, empty text
returns a result flagged for review, over-long text is truncated with a reason. The quoted
thread below an e-mail reply is not scored (``replies.reply_body``), also with a reason.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from interaction_classifier.config import DEFAULT_MODEL_DIR
from interaction_classifier.models.artifact import PATTERNS_DIR, load_artifact
from interaction_classifier.models.model import InteractionModel
from interaction_classifier.text.cues import CueMatcher
from interaction_classifier.text.replies import reply_body

if TYPE_CHECKING:  # pandas is imported by predict_batch only: predict() never needs it
    import pandas as pd


ENV_MODEL = "INTERACTION_CLASSIFIER_MODEL"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LABEL_COLUMNS = ("interaction_type", "journey_stage", "sentiment", "sentiment_score", "urgency",
                 "priority", "needs_review")


class Predictor:
    """A verified model with input validation; what ``load_model`` returns."""

    def __init__(self, model: InteractionModel, manifest: dict, path: Path) -> None:
        self.model = model
        self.manifest = manifest
        self.path = path

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def max_chars(self) -> int:
        return self.model.max_chars

    @property
    def heads(self) -> list[str]:
        return list(self.model.heads)

    def _prepare(self, text: object) -> tuple[str, list[str], bool]:
        """Clean one input: returns text to score, reasons, and whether review is forced."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        reasons: list[str] = []
        clean, removed = reply_body(_CONTROL.sub(" ", text))
        if removed:
            reasons.append(f"quoted reply removed: {removed} characters of earlier messages")
        if len(clean) > self.max_chars:
            clean = clean[: self.max_chars]
            reasons.append(f"truncated: text longer than {self.max_chars} characters")
        if not clean.strip():
            return "", [*reasons, "empty text: nothing to classify"], True
        return clean, reasons, False

    def predict_batch(self, texts: Iterable[str]) -> pd.DataFrame:
        """One row per input, in order: labels, scores, needs_review, class probabilities."""
        prepared = [self._prepare(t) for t in texts]
        frame, _ = self.model.predict_frame([p[0] for p in prepared])
        forced = np.array([p[2] for p in prepared], dtype=bool)
        frame["needs_review"] = frame["needs_review"].to_numpy(dtype=bool) | forced
        return frame

    def predict(self, text: str) -> dict[str, Any]:
        """All labels for one message, with confidences, probabilities and reasons."""
        clean, extra, forced = self._prepare(text)
        out, probas, reasons = self.model.predict_arrays([clean])
        result: dict[str, Any] = {}
        for key in (*self.heads, *LABEL_COLUMNS):
            if key in out:
                value = out[key][0]
                result[key] = value.item() if hasattr(value, "item") else value
        needs_review = bool(out["needs_review"][0]) or forced
        result["needs_review"] = needs_review
        result["probabilities"] = {
            h: dict(zip(head.classes, probas[h][0].tolist(), strict=True))
            for h, head in self.model.heads.items()
        }
        result["confidence"] = {h: max(p.values()) for h, p in result["probabilities"].items()}
        if needs_review and not forced:
            extra = [*extra, "needs review: low confidence"]
        result["reasons"] = [*extra, *reasons[0]]
        result["model_version"] = self.version
        return result


def _resolve_uri(path_or_uri: str | os.PathLike | None) -> Path:
    """A local directory for a path, an MLflow model URI, or the default model."""
    if path_or_uri is None:
        return Path(os.environ.get(ENV_MODEL, DEFAULT_MODEL_DIR))
    text = str(path_or_uri)
    if re.match(r"^(models|runs|mlflow-artifacts|file):", text):
        import mlflow.artifacts

        local = mlflow.artifacts.download_artifacts(
            artifact_uri=text.rstrip("/"), dst_path=tempfile.mkdtemp(prefix="ic-model-"))
        candidates = [p.parent for p in Path(local).rglob("manifest.json")]
        if not candidates:
            raise FileNotFoundError(f"{text}: no interaction-classifier model directory inside")
        return candidates[0]
    return Path(text)


def load_model(path_or_uri: str | os.PathLike | None = None) -> Predictor:
    """Load a model directory (or MLflow URI) after verifying every checksum."""
    path = _resolve_uri(path_or_uri)
    if not path.is_dir():
        raise FileNotFoundError(f"model directory not found: {path}")
    model, manifest = load_artifact(path)
    if not isinstance(model, InteractionModel):
        raise TypeError(f"{path}: not an interaction-classifier model")
    model.attach(CueMatcher(path / PATTERNS_DIR))
    return Predictor(model, manifest, path)


_default: Predictor | None = None
_default_lock = threading.Lock()


def default_model() -> Predictor:
    """The shipped default model, loaded once per process."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = load_model()
    return _default


def predict(text: str) -> dict[str, Any]:
    """Classify one message with the default model."""
    return default_model().predict(text)


def predict_batch(texts: Iterable[str]) -> pd.DataFrame:
    """Classify many messages with the default model; one row per input, in order."""
    return default_model().predict_batch(texts)
