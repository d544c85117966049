"""Per-chunk statistics of scored rows (status, label counts, review flags, urgency histogram,
type by stage, daily sentiment), cheap to merge across chunks, for the summary and report.

What is counted follows the model: label counts for its heads (and the priority tier when it
has urgency), the urgency histogram only when it has an urgency score, daily sentiment only
when it has a ``sentiment`` head and ``sentiment_score``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interaction_classifier.batch.chunks import OK, STATUS_COLUMN
from interaction_classifier.batch.triage import parse_times

URGENCY_BINS = 20


def merge_stats(a: Any, b: Any) -> Any:
    """Sum nested dicts of counts (and lists of equal length, for histograms)."""
    if isinstance(a, dict):
        out = dict(a)
        for key, value in b.items():
            out[key] = merge_stats(out[key], value) if key in out else value
        return out
    if isinstance(a, list):
        return [x + y for x, y in zip(a, b, strict=True)]
    return a + b


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.dropna().value_counts().items()}


def chunk_stats(scored: pd.DataFrame, label_columns: list[str],
                time_column: str | None) -> dict[str, Any]:
    """Counts of one scored chunk; ``label_columns`` are the model's categorical outputs."""
    ok = scored[scored[STATUS_COLUMN] == OK]
    stats: dict[str, Any] = {
        "rows": len(scored),
        "status": _counts(scored[STATUS_COLUMN]),
        "labels": {c: _counts(ok[c]) for c in label_columns if c in ok.columns},
        "needs_review": int(ok["needs_review"].fillna(False).astype(bool).sum())
        if "needs_review" in ok.columns else 0,
        "type_by_stage": {},
        "daily": {},
    }
    if "urgency" in ok.columns:
        urgency = pd.to_numeric(ok["urgency"], errors="coerce").dropna()
        histogram, _ = np.histogram(urgency.clip(0, 1), bins=URGENCY_BINS, range=(0, 1))
        stats["urgency_histogram"] = [int(x) for x in histogram]
    if {"interaction_type", "journey_stage"} <= set(ok.columns):
        pairs = ok["interaction_type"].astype(str) + "|" + ok["journey_stage"].astype(str)
        stats["type_by_stage"] = _counts(pairs)
    if time_column and time_column in ok.columns and {"sentiment", "sentiment_score"} <= set(
            ok.columns):
        stats["daily"] = _daily_sentiment(ok, time_column)
    return stats


def _daily_sentiment(ok: pd.DataFrame, time_column: str) -> dict[str, dict[str, float]]:
    """Per UTC day: row count, sum of sentiment scores and count per sentiment label."""
    days = parse_times(ok[time_column]).dt.strftime("%Y-%m-%d")
    frame = pd.DataFrame({"day": days, "sentiment": ok["sentiment"].astype(str),
                          "score": pd.to_numeric(ok["sentiment_score"], errors="coerce")})
    frame = frame.dropna(subset=["day"])
    out: dict[str, dict[str, float]] = {}
    for day, group in frame.groupby("day"):
        entry = {"n": len(group), "score_sum": float(group["score"].fillna(0).sum())}
        entry.update({str(k): int(v) for k, v in group["sentiment"].value_counts().items()})
        out[str(day)] = entry
    return out
