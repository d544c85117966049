"""The inline API: ``predict``, ``predict_batch`` and ``load_model``.

The default model loads lazily on first use (signature and checksums verified) and is
cached; calls are thread-safe. Every call takes ``review`` (head -> review threshold) and
``priority`` (tier -> minimum urgency score) overrides, merged over the model's defaults
(``describe()``).
Input is checked by the validator every entry point shares (``text.validate``): a value that
is not a string raises ``TypeError`` (so does a bare string given to ``predict_batch``), empty
or undecodable text returns a result flagged for review. A text over ``max_chars`` is scored
by the shared long-message policy (``text.longtext``: head and tail, every urgency cue kept),
and the quoted thread below an e-mail reply is not scored (``replies.reply_body``), each with
a reason. A message that is not English needs review, with a reason (``text.language``).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from interaction_classifier.config import DEFAULT_MODEL_DIR, PROFILES
from interaction_classifier.models.artifact import PATTERNS_DIR, load_artifact
from interaction_classifier.models.model import InteractionModel
from interaction_classifier.text.cues import Cue, CueMatcher
from interaction_classifier.text.language import is_foreign
from interaction_classifier.text.longtext import HEAD_SHARE, LongTextPolicy
from interaction_classifier.text.replies import reply_body
from interaction_classifier.text.validate import (
    EMPTY,
    REASONS,
    TOO_LARGE,
    UNDECODABLE,
    text_list,
    text_status,
)

if TYPE_CHECKING:  # pandas is imported by predict_batch only: predict() never needs it
    import pandas as pd

    from interaction_classifier.models.model import InteractionModel


ENV_MODEL = "INTERACTION_CLASSIFIER_MODEL"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
Overrides = Mapping[str, float] | None


class Prepared(NamedTuple):
    """One input made ready for the model: the text to score, the urgency cues of a part
    left out, reasons, and whether review is forced."""

    text: str
    cues: list[Cue]
    reasons: list[str]
    forced: bool


class Predictor:
    """A verified model with input validation; what ``load_model`` returns.

    ``review`` and ``priority`` replace the model's default thresholds for every call of
    this predictor (see ``with_thresholds``); a call's own overrides are merged over them.
    ``head_share`` is the part of ``max_chars`` a long text keeps from its start.
    """

    def __init__(self, model: InteractionModel, manifest: dict, path: Path,
                 review: Overrides = None, priority: Overrides = None,
                 head_share: float = HEAD_SHARE) -> None:
        self.model = model
        self.manifest = manifest
        self.path = path
        self.long_text = LongTextPolicy(model.max_chars, head_share)
        model.review_thresholds(review)  # checked once here, merged on every call
        model.priority_cutoffs(priority)
        self.overrides = {"review": dict(review or {}), "priority": dict(priority or {})}

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def max_chars(self) -> int:
        return self.model.max_chars

    @property
    def heads(self) -> list[str]:
        return list(self.model.heads)

    @property
    def output_columns(self) -> list[str]:
        """Label columns of ``predict_batch`` (and of scored files), in order: the heads,
        ``sentiment_score``, ``urgency`` and ``priority`` when capable, ``needs_review``."""
        return self.model.output_columns

    def describe(self) -> dict:
        """The model's ``describe()`` with this predictor's thresholds."""
        return {**self.model.describe(), "thresholds": {
            "review": self.model.review_thresholds(self.overrides["review"]),
            "priority": self.model.priority_cutoffs(self.overrides["priority"])}}

    def with_thresholds(self, review: Overrides = None, priority: Overrides = None
                        ) -> Predictor:
        """The same model with other default thresholds (checked now), e.g. for a scorer
        that only calls ``predict_batch(texts)``; this predictor is unchanged."""
        return Predictor(self.model, self.manifest, self.path,
                         {**self.overrides["review"], **(review or {})},
                         {**self.overrides["priority"], **(priority or {})},
                         self.long_text.head_share)

    def _thresholds(self, review: Overrides, priority: Overrides) -> dict[str, Overrides]:
        """This predictor's overrides with a call's over them (the model checks and merges
        them over its defaults)."""
        return {kind: {**mine, **call} if call else mine or None
                for kind, mine, call in (("review", self.overrides["review"], review),
                                         ("priority", self.overrides["priority"], priority))}

    def _prepare(self, text: object) -> Prepared:
        """Check and clean one input (``text.validate``), set the quoted thread aside and
        shorten a long text (``text.longtext``)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        status = text_status(text)
        if status == TOO_LARGE:
            return Prepared("", [], [f"needs review: {REASONS[TOO_LARGE]}"], True)
        reasons = [f"needs review: {REASONS[UNDECODABLE]}"] if status == UNDECODABLE else []
        if status == UNDECODABLE:
            text = text.encode("utf-8", "replace").decode("utf-8")
        clean, removed = reply_body(_CONTROL.sub(" ", text))
        if removed:
            reasons.append(f"quoted reply removed: {removed} characters of earlier messages")
        if text_status(clean) == EMPTY:
            return Prepared("", [], [*reasons, "empty text: nothing to classify"], True)
        matcher = getattr(self.model, "matcher", None) if self.model.has_urgency else None
        clean, cues, shortened = self.long_text.shorten(clean, matcher)
        return Prepared(clean, cues, [*reasons, *([shortened] if shortened else [])],
                        status == UNDECODABLE)

    def _prepare_all(self, texts: Iterable[str]) -> list[Prepared]:
        """:meth:`_prepare` for each item of a batch (a bare string is refused)."""
        return [self._prepare(t) for t in text_list(texts)]

    def predict_batch(self, texts: Iterable[str], *, review: Overrides = None,
                      priority: Overrides = None) -> pd.DataFrame:
        """One row per input, in order: ``output_columns``, then one ``p_{head}__{label}``
        probability column per head and label."""
        thresholds = self._thresholds(review, priority)
        prepared = self._prepare_all(texts)
        frame, _ = self.model.predict_frame([p.text for p in prepared], **thresholds,
                                            extra_cues=[p.cues for p in prepared])
        forced = np.array([p.forced for p in prepared], dtype=bool)
        frame["needs_review"] = frame["needs_review"].to_numpy(dtype=bool) | forced
        return frame

    def predict(self, text: str, *, review: Overrides = None,
                priority: Overrides = None) -> dict[str, Any]:
        """All labels for one message (the keys of ``output_columns``), with confidences,
        probabilities, reasons and the model version; plain Python types only."""
        return self.predict_many([text], review=review, priority=priority)[0]

    def predict_many(self, texts: Iterable[str], *, review: Overrides = None,
                     priority: Overrides = None) -> list[dict[str, Any]]:
        """``predict()``'s dict for each text, in order, from one vectorised model call (what
        the HTTP batch endpoint returns; ``predict`` is this with one text)."""
        thresholds = self._thresholds(review, priority)
        prepared = self._prepare_all(texts)
        out, probas, reasons = self.model.predict_arrays([p.text for p in prepared],
                                                         **thresholds,
                                                         extra_cues=[p.cues for p in prepared])
        columns = {key: np.asarray(out[key]).tolist() for key in self.output_columns}
        heads = {h: (head.classes, probas[h].tolist()) for h, head in self.model.heads.items()}
        review_at: dict[str, float] | None = None
        results = []
        for i, (_, _, extra, forced) in enumerate(prepared):
            result: dict[str, Any] = {key: values[i] for key, values in columns.items()}
            result["needs_review"] = bool(result["needs_review"]) or forced
            result["probabilities"] = {h: dict(zip(classes, rows[i], strict=True))
                                       for h, (classes, rows) in heads.items()}
            result["confidence"] = {h: max(p.values())
                                    for h, p in result["probabilities"].items()}
            extra = list(extra)
            if result["needs_review"] and not forced:
                review_at = review_at or self.model.review_thresholds(thresholds["review"])
                extra += [f"needs review: low confidence in {h} ({c:.3f} < {limit:g})"
                          for h, c in result["confidence"].items()
                          if c < (limit := review_at[h])]
            if is_foreign(result["language"]):
                extra.append(f"needs review: the message is in {result['language']!r}, not "
                             "English, which is all the model reads")
            result["reasons"] = [*extra, *reasons[i]]
            result["model_version"] = self.version
            results.append(result)
        return results


def resolve_model_dir(path_or_uri: str | os.PathLike | None) -> Path:
    """A local directory for a shipped profile's name (``fast``, ``accurate``; a folder of
    that name is ``./accurate``), a path, an MLflow model URI, or the default model."""
    if path_or_uri is None:
        return Path(os.environ.get(ENV_MODEL, DEFAULT_MODEL_DIR))
    text = str(path_or_uri)
    if text in PROFILES:
        return PROFILES[text]
    if re.match(r"^(models|runs|mlflow-artifacts|file):", text):
        import mlflow.artifacts

        local = mlflow.artifacts.download_artifacts(
            artifact_uri=text.rstrip("/"), dst_path=tempfile.mkdtemp(prefix="ic-model-"))
        candidates = [p.parent for p in Path(local).rglob("manifest.json")]
        if not candidates:
            raise FileNotFoundError(f"{text}: no interaction-classifier model directory inside")
        return candidates[0]
    return Path(text)


def load_model(path_or_uri: str | os.PathLike | None = None, *,
               trust_unsigned: bool = False,
               head_share: float = HEAD_SHARE) -> Predictor:
    """Load a shipped profile (``"fast"``, the default, or ``"accurate"``, which needs the
    ``accurate`` extra), a model directory or an MLflow URI after verifying its signature by
    a trusted key
    (``models.signing``; a model fetched from MLflow too, by the local trusted keys) and
    every checksum. ``trust_unsigned=True`` accepts an unsigned or unknown-key model: only
    for one you made or trust. ``head_share`` as in :class:`Predictor`."""
    path = resolve_model_dir(path_or_uri)
    if not path.is_dir():
        raise FileNotFoundError(f"model directory not found: {path}")
    model, manifest = load_artifact(path, trust_unsigned=trust_unsigned)
    model.attach(CueMatcher(path / PATTERNS_DIR))
    return Predictor(model, manifest, path, head_share=head_share)


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


def predict(text: str, *, review: Overrides = None, priority: Overrides = None
            ) -> dict[str, Any]:
    """Classify one message with the default model (overrides as in ``Predictor.predict``)."""
    return default_model().predict(text, review=review, priority=priority)


def predict_batch(texts: Iterable[str], *, review: Overrides = None,
                  priority: Overrides = None) -> pd.DataFrame:
    """Classify many messages with the default model; one row per input, in order."""
    return default_model().predict_batch(texts, review=review, priority=priority)
