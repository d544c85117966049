"""Request and response bodies of the HTTP service, as pydantic models.

They are what ``docs/openapi.json`` documents (and the contract tests check), so they say
exactly what a client may send and get back. A message's ``text`` accepts any JSON value on
purpose: a null, a number or an empty string is not a malformed request but a bad item, which
comes back flagged with the status of the validator every entry point shares
(``text.validate``) instead of failing the whole batch. The heads are the model's own
(``GET /v1/model``), so a result carries them as extra keys rather than fixed fields.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from interaction_classifier.text.validate import OK, REASONS

Status = Literal["ok", "missing_text", "non_text", "empty_text", "undecodable", "too_large"]
assert set(REASONS) | {OK} == set(Status.__args__)  # type: ignore[attr-defined]

TEXT_DOC = ("The message. Anything but a non-empty string (null, a number, whitespace, a "
            "lone surrogate) is not scored: its result is flagged with a status. A text over "
            "the model's max_chars is scored on its head and tail, every urgency cue kept.")


class Overrides(BaseModel):
    """Per-call thresholds, merged over the model's defaults (as ``predict(review=...)``)."""

    review: dict[str, float] | None = Field(
        None, description="Head -> review threshold in [0, 1]: flag for review when the "
        "head's top probability is below it. Unknown heads are refused (422).",
        examples=[{"journey_stage": 0.6}])
    priority: dict[str, float] | None = Field(
        None, description="Priority tier -> minimum urgency score in [0, 1] (models with "
        "urgency only).", examples=[{"critical": 0.9}])


class PredictRequest(Overrides):
    """One message."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"text": "My card was stolen yesterday, please block it now!"}]})

    text: Any = Field(..., description=TEXT_DOC)


class BatchItem(BaseModel):
    """One message of a batch, with the caller's id (echoed in its result)."""

    model_config = ConfigDict(extra="forbid")

    id: StrictStr | StrictInt | None = Field(None, description="Echoed in the result.")
    text: Any = Field(None, description=TEXT_DOC)


class TextsBatch(Overrides):
    """Messages as a list of texts; results come back in the same order."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"texts": ["Where is my parcel?", "Love the new app!"]}]})

    texts: list[Any] = Field(..., description="The messages, at most max_batch_items "
                             "(GET /v1/model; 1,000 by default, else 413). " + TEXT_DOC)


class ItemsBatch(Overrides):
    """Messages with ids; results come back in the same order, each with its id."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"items": [{"id": "T-1", "text": "Where is my parcel?"}]}]})

    items: list[BatchItem] = Field(..., description="At most max_batch_items (else 413).")


class Prediction(BaseModel):
    """``predict()``'s dict plus ``status``; one extra key per head with its label.

    A flagged item (status other than ``ok``) has null labels, scores, probabilities and
    confidences, ``needs_review`` true and the reason in ``reasons``. ``sentiment_score``,
    ``urgency`` and ``priority`` are present only when the model has them.
    """

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str | None]

    status: Status
    language: str | None = Field(None, description="ISO 639-1 code of the message's "
                                 "language, 'und' when too short or unsure; a message in "
                                 "another language than English needs review.")
    sentiment_score: float | None = None
    urgency: float | None = None
    priority: str | None = None
    needs_review: bool
    probabilities: dict[str, dict[str, float]] | None
    confidence: dict[str, float] | None
    reasons: list[str]
    model_version: str


class BatchPrediction(Prediction):
    """One result of a batch."""

    id: str | int | None = Field(None, description="The item's id (null for texts).")


class BatchResponse(BaseModel):
    """One result per input, in input order."""

    model_version: str
    results: list[BatchPrediction]


class Thresholds(BaseModel):
    review: dict[str, float]
    priority: dict[str, float]


class Limits(BaseModel):
    max_chars: int = Field(..., description="Longest text scored whole; a longer one is "
                           "scored on its head and tail, every urgency cue kept.")
    max_body_bytes: int
    max_batch_items: int
    request_timeout_s: float


class ModelInfo(BaseModel):
    """The loaded model: ``describe()`` plus its manifest's digest and the limits in force."""

    version: str
    heads: dict[str, list[str]]
    capabilities: dict[str, bool]
    thresholds: Thresholds
    output_columns: list[str]
    manifest_sha256: str = Field(..., description="sha256 of the model's manifest.json, "
                                 "which lists the sha256 of every file of the model.")
    loaded_at: str
    limits: Limits


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    model_version: str


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="Model directory or MLflow URI; default: "
                              "the one this worker serves (reloaded from disk).")


class ReloadResponse(BaseModel):
    status: Literal["reloaded"]
    previous_version: str | None
    model_version: str
    manifest_sha256: str
    pid: int = Field(..., description="The worker that reloaded (each worker has its own).")


class Problem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error: a stable code, a sentence for people, and for 422 each problem found."""

    error: str = Field(..., examples=["invalid_request"])
    message: str
    problems: list[Problem] | None = None
