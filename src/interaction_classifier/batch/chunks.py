"""Score one chunk of rows: validate the text, predict the valid rows, flag the rest.

``score_chunk`` is pure (no I/O, no global state) so that the CLI's workers and a Spark
``mapInPandas`` call run exactly the same code. Bad rows are never dropped: they keep
their input columns, get null predictions and a ``status`` that says why.

Statuses: those of the validator every entry point shares (``text.validate``: ``ok``,
``missing_text``, ``non_text``, ``empty_text``, ``undecodable``), and reader statuses such as
``malformed_json``, ``malformed_row`` and ``malformed_record`` passed in
``READ_STATUS``. A text over ``model.max_chars`` is ``ok``: the
model scores it by the long-message policy that ``predict`` uses (``text.longtext``). A lone
surrogate (from a JSON ``"\ud800"`` escape) cannot be written to any file: in the output it
is kept as the escape ``\ud800`` (``writable``), so the write never fails.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import pandas as pd

from interaction_classifier.batch.formats import BatchError
from interaction_classifier.text.validate import OK, as_text, text_status

MALFORMED_JSON = "malformed_json"
MALFORMED_ROW = "malformed_row"
MALFORMED_RECORD = "malformed_record"
STATUS_COLUMN = "status"
VERSION_COLUMN = "model_version"
# Optional column a reader sets for rows it could not parse; consumed, never written.
READ_STATUS = "_ic_read_status"
_SURROGATE = re.compile("[\ud800-\udfff]")


class Model(Protocol):
    """What scoring needs from a model (see ``interaction_classifier.load_model``)."""

    version: str

    def predict_batch(self, texts: list[str], *, review: dict[str, float] | None = None,
                      priority: dict[str, float] | None = None) -> pd.DataFrame: ...


def validate(frame: pd.DataFrame, text_column: str) -> list[str]:
    """One status per row: a reader's status wins, then the shared text checks."""
    missing = [None] * len(frame)
    values = frame[text_column].tolist() if text_column in frame.columns else missing
    statuses = [text_status(v) for v in values]
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
    statuses = validate(frame, text_column)
    rows = [i for i, status in enumerate(statuses) if status == OK]
    values = frame[text_column].tolist() if rows else []
    texts = [as_text(values[i]) for i in rows]
    base = writable(frame.drop(columns=[READ_STATUS], errors="ignore"))
    predictions = _predictions(model, texts, base.index, rows,
                               {"review": review, "priority": priority})
    check_clashes(base.columns, [*predictions.columns, STATUS_COLUMN, VERSION_COLUMN])
    out = pd.concat([base, predictions], axis=1)
    out[STATUS_COLUMN] = statuses
    out[VERSION_COLUMN] = model.version
    return out


def writable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every lone surrogate in a string value written as its escape."""
    out = frame
    for column, dtype in frame.dtypes.items():
        if dtype != object:  # noqa: E721 (a string dtype cannot hold a lone surrogate)
            continue
        values = frame[column].tolist()
        if any(isinstance(v, str) and not v.isascii() and _SURROGATE.search(v) for v in values):
            out = out.copy() if out is frame else out
            out[column] = [_escaped(v) for v in values]
    return out


def _escaped(value: Any) -> Any:
    """A string with its lone surrogates as ``\\udXXX`` escapes; other values unchanged."""
    if isinstance(value, str) and not value.isascii():
        return _SURROGATE.sub(lambda m: m.group(0).encode("utf-8", "backslashreplace")
                              .decode("ascii"), value)
    return value
