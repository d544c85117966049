"""The triage queue: rows ordered by urgency (highest first), ties by time, then input order.

Sorting millions of rows must not hold them all in memory, so the queue is an external
merge: every chunk is sorted on its own (``queue_order``), only the small sort keys of all
rows are sorted globally, and ``merge_sorted_runs`` then streams each chunk's rows in that
global order. Rows without an urgency (flagged rows) go last; so do rows whose time
cannot be parsed, within their urgency.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

URGENCY_COLUMN = "urgency"
_LATEST = np.iinfo(np.int64).max


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


def urgency_keys(values: pd.Series) -> np.ndarray:
    """Negated urgency, so that an ascending sort puts the most urgent first; null last."""
    urgency = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(urgency), np.inf, -urgency)


def queue_order(neg_urgency: np.ndarray, times: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions in queue order: urgency desc, time asc, input row asc (a total order)."""
    return np.lexsort((rows, times, neg_urgency))


def sort_keys(frame: pd.DataFrame, time_column: str | None,
              rows: np.ndarray) -> dict[str, np.ndarray]:
    """The three sort keys of a scored frame whose rows have global input numbers ``rows``."""
    times = frame[time_column] if time_column and time_column in frame.columns else None
    return {
        "neg_urgency": urgency_keys(frame[URGENCY_COLUMN]),
        "time": time_keys(times, len(frame)),
        "row": np.asarray(rows, dtype=np.int64),
    }


def global_sources(keys_per_run: Sequence[dict[str, np.ndarray]]) -> np.ndarray:
    """For each queue position, the index of the run that holds that row."""
    merged = {name: np.concatenate([k[name] for k in keys_per_run]) for name in
              ("neg_urgency", "time", "row")}
    run_of_row = np.concatenate([np.full(len(k["row"]), i, dtype=np.int64)
                                 for i, k in enumerate(keys_per_run)])
    order = queue_order(merged["neg_urgency"], merged["time"], merged["row"])
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
