"""Score one chunk of rows: validate the text, predict the valid rows, flag the rest.

``score_chunk`` is pure (no I/O, no global state) so that the CLI's workers and a Spark
``mapInPandas`` call run exactly the same code. Bad rows are never dropped: they keep
their input columns, get null predictions and a ``status`` that says why.

Statuses: ``ok``; ``missing_text`` (null / NaN / absent); ``non_text`` (a number, bool,
list...); ``empty_text`` (empty or whitespace only); ``too_long`` (more than
``model.max_chars`` characters once a quoted e-mail thread is set aside: flagged, not
truncated, because the decisive sentence of a long message is often at its end and a prefix
would give a confident wrong urgency);
``undecodable`` (the text holds U+FFFD, which readers put in place of bytes that are not
UTF-8); and reader statuses (``malformed_json``, ``malformed_row``, ``malformed_record``)
passed in ``READ_STATUS``.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import pandas as pd

from interaction_classifier.batch.formats import BatchError
from interaction_classifier.text.replies import reply_body

OK = "ok"
MISSING = "missing_text"
NON_TEXT = "non_text"
EMPTY = "empty_text"
TOO_LONG = "too_long"
UNDECODABLE = "undecodable"
MALFORMED_JSON = "malformed_json"
MALFORMED_ROW = "malformed_row"
MALFORMED_RECORD = "malformed_record"

# Why a row or item was not scored, one sentence per status (the service's flagged results).
REASONS = {
    MISSING: "missing_text: no text (null or absent)",
    NON_TEXT: "non_text: the text is not a string",
    EMPTY: "empty_text: empty or whitespace only",
    TOO_LONG: "too_long: longer than the model's max_chars once a quoted reply is set aside",
    UNDECODABLE: "undecodable: the text holds U+FFFD, which stands for bytes that were not "
                 "UTF-8",
    MALFORMED_RECORD: "malformed_record: a quoted field that is never closed (it would "
                      "swallow the following records); the raw line is kept",
}
STATUS_COLUMN = "status"
VERSION_COLUMN = "model_version"
# Optional column a reader sets for rows it could not parse; consumed, never written.
READ_STATUS = "_ic_read_status"
REPLACEMENT_CHAR = "\ufffd"


class Model(Protocol):
    """What scoring needs from a model (see ``interaction_classifier.load_model``)."""

    version: str
    max_chars: int

    def predict_batch(self, texts: list[str], *, review: dict[str, float] | None = None,
                      priority: dict[str, float] | None = None) -> pd.DataFrame: ...


def _is_missing(value: Any) -> bool:
    """None, NaN and pandas' NA/NaT all mean "no value" whatever the column dtype."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def text_status(value: Any, max_chars: int) -> str:
    """The status of one text value; ``ok`` means it can go to the model as is."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return UNDECODABLE
    if not isinstance(value, str):
        return NON_TEXT
    if not value.strip():
        return EMPTY
    if len(value) > max_chars and len(reply_body(value)[0]) > max_chars:
        return TOO_LONG
    if REPLACEMENT_CHAR in value:
        return UNDECODABLE
    return OK


def validate(frame: pd.DataFrame, text_column: str, max_chars: int) -> list[str]:
    """One status per row: a reader's status wins, then the text checks."""
    missing = [None] * len(frame)
    values = frame[text_column].tolist() if text_column in frame.columns else missing
    statuses = [text_status(v, max_chars) for v in values]
    if READ_STATUS in frame.columns:
        for i, read_status in enumerate(frame[READ_STATUS].tolist()):
            if isinstance(read_status, str):
                statuses[i] = read_status
    return statuses


def _predictions(model: Model, texts: list[str], index: pd.Index, rows: list[int],
                 overrides: dict[str, dict[str, float] | None]) -> pd.DataFrame:
    """Predict ``texts`` and spread them over ``index``; rows not predicted stay null.

    Works by position so that an input index with duplicate labels is harmless.
    """
    predicted = model.predict_batch(texts, **overrides).reset_index(drop=True)
    predicted.index = pd.RangeIndex(len(rows)) if not rows else pd.Index(rows)
    full = predicted.reindex(pd.RangeIndex(len(index)))
    full.index = index
    for column, dtype in predicted.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            full[column] = full[column].astype("boolean")
    return full


def check_clashes(inputs: Any, outputs: list[str]) -> None:
    """Refuse input columns that the output would overwrite (a label column named like a
    head, or ``status``): overwriting would silently lose the user's values."""
    clashes = [c for c in outputs if c in set(inputs)]
    if clashes:
        raise BatchError(f"input column(s) {clashes} have the names of prediction columns "
                         "and would be overwritten; rename or drop them before scoring")


def score_chunk(model: Model, frame: pd.DataFrame, text_column: str, *,
                review: dict[str, float] | None = None,
                priority: dict[str, float] | None = None) -> pd.DataFrame:
    """Input columns, then the model's prediction columns, ``status`` and ``model_version``.

    The output has exactly the input's rows in the input's order. Valid texts are sent to
    ``model.predict_batch`` as they are (bytes decoded), with the per-run ``review``
    thresholds and ``priority`` cut-offs; every other row gets null predictions and a
    status reason.
    """
    statuses = validate(frame, text_column, model.max_chars)
    rows = [i for i, status in enumerate(statuses) if status == OK]
    values = frame[text_column].tolist() if rows else []
    texts = [_as_text(values[i]) for i in rows]
    base = frame.drop(columns=[READ_STATUS], errors="ignore")
    predictions = _predictions(model, texts, base.index, rows,
                               {"review": review, "priority": priority})
    check_clashes(base.columns, [*predictions.columns, STATUS_COLUMN, VERSION_COLUMN])
    out = pd.concat([base, predictions], axis=1)
    out[STATUS_COLUMN] = statuses
    out[VERSION_COLUMN] = model.version
    return out


def _as_text(value: str | bytes) -> str:
    """Valid rows are str or UTF-8 bytes (already checked by ``text_status``)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value
