"""The triage queue: scored rows ranked by a rule, ties by time (oldest first), then input order.

The rule (``score --queue-by``) depends on what the model predicts:

- ``urgency`` (the default when the model has an urgency score): most urgent first.
- ``review`` (the default for a model without urgency): rows flagged ``needs_review``
  first, then the least confident first, where a row's confidence is the lowest top
  probability over its heads, so the row most likely to be wrong is read first.
- ``HEAD=LABEL``: highest probability of that label first (``p_HEAD__LABEL``), e.g.
  ``category=card_not_working`` to read the likeliest card problems first.

Sorting millions of rows must not hold them all in memory, so the queue is an external
merge: every chunk is sorted on its own (``queue_order``), only the small sort keys of all
rows are sorted globally, and ``merge_sorted_runs`` then streams each chunk's rows in that
global order. Rows without a score (flagged rows) go last; so do rows whose time cannot be
parsed, within their rank.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

URGENCY = "urgency"
REVIEW = "review"
LABEL = "label"
_LATEST = np.iinfo(np.int64).max
KEY_NAMES = ("rank", "time", "row")


def probability_column(head: str, label: str) -> str:
    """The output column holding P(``label``) for ``head``."""
    return f"p_{head}__{label}"


@dataclass(frozen=True)
class QueueRule:
    """How the queue ranks scored rows before the time and input-order tie-breaks."""

    by: str
    heads: dict[str, tuple[str, ...]]
    head: str | None = None
    label: str | None = None

    @property
    def spec(self) -> str:
        """The ``--queue-by`` value that selects this rule."""
        return f"{self.head}={self.label}" if self.by == LABEL else self.by

    def describe(self) -> str:
        """One line for the summary and the report."""
        if self.by == URGENCY:
            return "urgency score, highest first"
        if self.by == REVIEW:
            return "needs_review first, then lowest top probability (least confident) first"
        return f"probability of {self.head} = {self.label}, highest first"

    def rank_keys(self, frame: pd.DataFrame) -> np.ndarray:
        """Ascending sort keys, one column per criterion; a row without a score is inf."""
        if self.by == URGENCY:
            return -_numbers(frame[URGENCY])[:, None]
        if self.by == LABEL:
            return -_numbers(frame[probability_column(self.head, self.label)])[:, None]
        review = frame["needs_review"].astype("boolean")
        flagged = np.where(review.isna().to_numpy(), np.nan,
                           np.where(review.fillna(False).to_numpy(dtype=bool), 0.0, 1.0))
        top = [frame[[probability_column(h, x) for x in labels]].astype(float).max(axis=1)
               for h, labels in self.heads.items()]
        confidence = pd.concat(top, axis=1).min(axis=1, skipna=False)
        return np.column_stack([_inf_for_nan(flagged), _inf_for_nan(_numbers(confidence))])


def _numbers(values: pd.Series) -> np.ndarray:
    """Floats, NaN for missing or unparseable values."""
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _inf_for_nan(values: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(values), np.inf, values)


def parse_rule(spec: str | None, description: dict[str, Any]) -> QueueRule:
    """The rule named by ``--queue-by`` (or the model's default), checked against the model's
    ``describe()``; a ``ValueError`` names what this model offers."""
    heads = {h: tuple(labels) for h, labels in description["heads"].items()}
    has_urgency = bool(description["capabilities"].get("urgency"))
    choices = ([URGENCY] if has_urgency else []) + [REVIEW, "HEAD=LABEL"]
    if spec is None:
        spec = URGENCY if has_urgency else REVIEW
    if spec == URGENCY and has_urgency:
        return QueueRule(URGENCY, heads)
    if spec == REVIEW:
        return QueueRule(REVIEW, heads)
    head, sep, label = spec.partition("=")
    if not sep:
        raise ValueError(f"--queue-by {spec!r}: use one of {', '.join(choices)}"
                         + ("" if has_urgency else " (this model has no urgency score)"))
    if head not in heads:
        raise ValueError(f"--queue-by {spec!r}: unknown head {head!r}; heads: {sorted(heads)}")
    if label not in heads[head]:
        raise ValueError(f"--queue-by {spec!r}: unknown label {label!r} of {head}; "
                         f"labels: {list(heads[head])}")
    return QueueRule(LABEL, heads, head, label)


def parse_times(values: pd.Series) -> pd.Series:
    """UTC timestamps; ISO 8601 fast path, then a per-value fallback for other formats."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
        values.dtype
    ):
        return pd.to_datetime(values, utc=True)
    text = values.astype("string")
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], errors="coerce", utc=True, format="mixed")
    return parsed


def time_keys(values: pd.Series | None, rows: int) -> np.ndarray:
    """Nanoseconds since the epoch per row; missing or unparseable times sort last."""
    if values is None:
        return np.zeros(rows, dtype=np.int64)
    parsed = parse_times(values)
    keys = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    out = keys.astype(np.int64)
    out[np.isnat(keys)] = _LATEST
    return out


def queue_order(rank: np.ndarray, times: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in queue order: rank keys (first column first), time, input row: a total
    order, so every chunk and the global merge agree."""
    if not len(rows):
        return np.arange(0)
    rank = np.asarray(rank, dtype=float).reshape(len(rows), -1)
    return np.lexsort((rows, times, *rank.T[::-1]))


def sort_keys(frame: pd.DataFrame, rule: QueueRule, time_column: str | None,
              rows: np.ndarray) -> dict[str, np.ndarray]:
    """The sort keys of a scored frame whose rows have global input numbers ``rows``."""
    times = frame[time_column] if time_column and time_column in frame.columns else None
    return {
        "rank": rule.rank_keys(frame),
        "time": time_keys(times, len(frame)),
        "row": np.asarray(rows, dtype=np.int64),
    }


def global_sources(keys_per_run: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
    """For each queue position, the index of the run that holds that row."""
    merged = {name: np.concatenate([k[name] for k in keys_per_run]) for name in KEY_NAMES}
    run_of_row = np.concatenate([np.full(len(k["row"]), i, dtype=np.int64)
                                 for i, k in enumerate(keys_per_run)])
    order = queue_order(merged["rank"], merged["time"], merged["row"])
    return run_of_row[order]


class _Run:
    """A sorted run read piece by piece, so only a small buffer of it is in memory."""

    def __init__(self, frames: Iterator[pd.DataFrame]) -> None:
        self.frames = frames
        self.buffer = pd.DataFrame()
        self.pos = 0

    def take(self, n: int) -> list[pd.DataFrame]:
        pieces = []
        while n > 0:
            if self.pos >= len(self.buffer):
                self.buffer = next(self.frames)
                self.pos = 0
            piece = self.buffer.iloc[self.pos:self.pos + n]
            self.pos += len(piece)
            n -= len(piece)
            pieces.append(piece)
        return pieces


def merge_sorted_runs(runs: Sequence[Iterator[pd.DataFrame]], sources: np.ndarray,
                      batch_rows: int = 10_000) -> Iterator[pd.DataFrame]:
    """Yield the queue in batches, given each run already in queue order and ``sources``.

    Because every run is sorted by the same total order, the rows a run contributes to
    the queue come out of it sequentially: only ``sources`` is needed to interleave them.
    """
    readers = [_Run(iter(run)) for run in runs]
    for start in range(0, len(sources), batch_rows):
        segment = sources[start:start + batch_rows]
        run_ids, counts = np.unique(segment, return_counts=True)
        pieces = [p for r, n in zip(run_ids, counts, strict=True)
                  for p in readers[r].take(int(n))]
        combined = pd.concat(pieces, ignore_index=True)
        grouped = np.argsort(segment, kind="stable")
        inverse = np.empty_like(grouped)
        inverse[grouped] = np.arange(len(grouped))
        yield combined.iloc[inverse].reset_index(drop=True)
