"""A self-contained HTML report of a scoring run: charts, priority bars and the top of the queue.

The page is rendered by a Jinja2 template with autoescaping on, so message texts, label and
column names can hold any markup. Charts are matplotlib PNGs embedded as base64 data URIs,
so the page is one file that opens offline and can be attached to an e-mail; it references
no external URL. What is shown follows the model: a model without urgency has no urgency
histogram or priority bars, and its queue shows the ordering the run used.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from interaction_classifier.batch.chunks import OK, STATUS_COLUMN
from interaction_classifier.batch.stats import URGENCY_BINS
from interaction_classifier.batch.triage import URGENCY, probability_column
from interaction_classifier.io import write_text

TEXT_PREVIEW = 280
SENTIMENT_COLOURS = {"negative": "#c0392b", "neutral": "#7f8c8d", "positive": "#27ae60"}
PRIORITY = "priority"
CONFIDENCE = "lowest confidence"
REASONS = "reasons"


def _png(fig: plt.Figure) -> str:
    """Encode and close a figure: the base64 PNG for a data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def label_chart(labels: dict[str, dict[str, int]]) -> str | None:
    """One horizontal bar chart per head (None without scored rows)."""
    heads = [h for h in labels if labels[h]]
    if not heads:
        return None
    fig, axes = plt.subplots(1, len(heads), figsize=(4 * len(heads), 3), squeeze=False)
    for ax, head in zip(axes[0], heads, strict=True):
        counts = pd.Series(labels[head]).sort_values()
        ax.barh(counts.index, counts.to_numpy(), color="#2c7fb8")
        ax.set_title(head)
        ax.set_xlabel("rows")
    fig.tight_layout()
    return _png(fig)


def urgency_chart(histogram: list[int]) -> str:
    """Urgency scores in ``URGENCY_BINS`` equal bins over [0, 1]."""
    fig, ax = plt.subplots(figsize=(7, 3))
    width = 1 / URGENCY_BINS
    ax.bar([i * width for i in range(URGENCY_BINS)], histogram, width=width, align="edge",
           color="#e6550d", edgecolor="white")
    ax.set_xlabel("urgency score")
    ax.set_ylabel("rows")
    ax.set_xlim(0, 1)
    return _png(fig)


def type_by_stage_chart(pairs: dict[str, int]) -> str:
    """Stacked bars: interaction types within each journey stage."""
    table = pd.Series(pairs)
    table.index = pd.MultiIndex.from_tuples([tuple(k.split("|", 1)) for k in table.index],
                                            names=["interaction_type", "journey_stage"])
    grid = table.unstack("interaction_type", fill_value=0)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    grid.plot.bar(stacked=True, ax=ax, rot=0)
    ax.set_ylabel("rows")
    ax.legend(title="interaction type", fontsize="small")
    return _png(fig)


def sentiment_chart(daily: dict[str, dict[str, float]]) -> str:
    """Mean sentiment score and message counts per period (day, week or month)."""
    frame = pd.DataFrame.from_dict(daily, orient="index").fillna(0)
    frame.index = pd.to_datetime(frame.index)
    span = (frame.index.max() - frame.index.min()).days
    rule = "D" if span <= 92 else ("W" if span <= 730 else "MS")
    frame = frame.sort_index().resample(rule).sum()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    mean = frame["score_sum"] / frame["n"].where(frame["n"] > 0)
    top.plot(frame.index, mean, marker="o", color="#2c7fb8")
    top.axhline(0, color="grey", linewidth=0.8)
    top.set_ylabel("mean sentiment score")
    for label, colour in SENTIMENT_COLOURS.items():
        if label in frame.columns:
            bottom.plot(frame.index, frame[label], label=label, color=colour)
    bottom.set_ylabel("messages")
    bottom.legend(fontsize="small")
    fig.autofmt_xdate()
    return _png(fig)


def priority_bars(counts: dict[str, int], cutoffs: dict[str, float]) -> list[dict[str, Any]]:
    """One bar per tier, most severe first: the tiers with a cut-off in the model's order
    (most urgent first), then the tier below every cut-off."""
    order = [t for t in cutoffs if t in counts] + [t for t in counts if t not in cutoffs]
    total, most = sum(counts.values()), max(counts.values())
    return [{"tier": t, "rows": counts[t], "share": counts[t] / total,
             "width": 100 * counts[t] / most, "cutoff": cutoffs.get(t)} for t in order]


def flagged(value: Any) -> bool:
    """A review flag as read back from any output format (bool, numpy bool, NA)."""
    return value is not None and not pd.isna(value) and bool(value)


def _top_probability(row: pd.Series, head: str) -> float | None:
    values = pd.to_numeric(row.filter(like=f"p_{head}__"), errors="coerce").dropna()
    return float(values.max()) if len(values) else None


def row_reasons(row: pd.Series, summary: dict[str, Any]) -> list[str]:
    """Why a row sits where it does in the queue and why it is flagged for review: its
    tier's cut-off or the ranked label's probability, then the predictor's ``reasons``
    when the rows carry them (what raised or lowered urgency, low confidence), else the
    heads whose top probability is below the run's review threshold."""
    if row.get(STATUS_COLUMN, OK) != OK:
        return [f"not scored: {row[STATUS_COLUMN]}"]
    thresholds = summary.get("thresholds", {})
    reasons = []
    by, cutoffs = summary.get("queue_by") or "", thresholds.get("priority", {})
    if PRIORITY in row and URGENCY in row and pd.notna(row[URGENCY]):
        tier, score = row[PRIORITY], float(row[URGENCY])
        reasons.append(f"priority {tier}: urgency {score:.2f} >= cut-off {cutoffs[tier]:.2f}"
                       if tier in cutoffs else
                       f"priority {tier}: urgency {score:.2f}, below every cut-off")
    if "=" in by:
        head, label = by.split("=", 1)
        reasons.append(f"P({head} = {label}) = {float(row[probability_column(head, label)]):.2f}")
    if isinstance(given := row.get(REASONS), list | tuple | np.ndarray):
        return reasons + [str(r) for r in given]
    low = [f"low confidence in {head}: {top:.2f} < {limit:.2f}"
           for head, limit in thresholds.get("review", {}).items()
           if (top := _top_probability(row, head)) is not None and top < limit]
    if flagged(row.get("needs_review")) and not low:
        low = ["needs review: no text left to classify after cleaning"]
    return reasons + low


def _ordering(summary: dict[str, Any], top: pd.DataFrame) -> tuple[str, pd.Series | None]:
    """The column the queue was ordered by, with its values: urgency, one label's
    probability, or (for the review rule) each row's lowest top probability over heads."""
    by = summary.get("queue_by") or URGENCY
    if by == URGENCY and URGENCY in top.columns:
        return URGENCY, top[URGENCY]
    if "=" in by:
        head, label = by.split("=", 1)
        return f"P({head} = {label})", top.get(probability_column(head, label))
    heads = summary.get("thresholds", {}).get("review", {})
    tops = [top.filter(like=f"p_{h}__").apply(pd.to_numeric, errors="coerce").max(axis=1)
            for h in heads]
    return CONFIDENCE, pd.concat(tops, axis=1).min(axis=1) if tops else None


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, str | bytes) and pd.isna(value) is True):
        return ""
    if isinstance(value, float | np.floating):
        return f"{value:.3f}"
    text = str(value)
    return text if len(text) <= TEXT_PREVIEW else text[:TEXT_PREVIEW] + "…"


def queue_table(top: pd.DataFrame, summary: dict[str, Any], options: Any) -> dict[str, Any]:
    """Header and rows of the top of the queue: id, time, the ordering column, the model's
    label columns, the review flag, the reasons and the (shortened) text."""
    order_name, order_values = _ordering(summary, top)
    labels = [c for c in summary.get("labels", {}) if c in top.columns]
    labels = [c for c in labels if c == PRIORITY] + [c for c in labels if c != PRIORITY]
    columns = [c for c in (options.id_column, options.time_column) if c and c in top.columns]
    header = ["#", *columns, order_name, *labels, "review", "reasons", options.text_column]
    rows = []
    for rank, (i, row) in enumerate(top.iterrows(), start=1):
        order = order_values.loc[i] if order_values is not None else None
        rows.append({"rank": rank, "review": flagged(row.get("needs_review")),
                     "before": [_cell(row[c]) for c in columns], "order": _cell(order),
                     "labels": [_cell(row[c]) for c in labels],
                     "reasons": row_reasons(row, summary),
                     "text": _cell(row.get(options.text_column))})
    return {"header": header, "rows": rows}


def _facts(summary: dict[str, Any], bars: list[dict[str, Any]]) -> list[tuple[str, str]]:
    t = summary.get("throughput", {})
    thresholds = summary.get("thresholds", {})
    facts = [
        ("input", summary["input"]), ("model version", summary["model_version"]),
        ("rows in / rows out", f"{summary['rows_in']:,} / {summary['rows_out']:,}"),
        ("scored", f"{summary['scored']:,}"),
        ("flagged", f"{summary['flagged']:,}" + "".join(
            f", {reason} {n:,}" for reason, n in summary["flagged_by_reason"].items())),
        ("needs review", f"{summary['needs_review']:,}"),
        ("queue order", summary.get("queue_rule") or summary.get("queue_by") or ""),
        ("review thresholds", ", ".join(f"{h} {v:g}"
                                        for h, v in thresholds.get("review", {}).items())),
    ]
    if bars:
        facts.append(("priority tiers", ", ".join(f"{b['tier']} {b['rows']:,}" for b in bars)))
        facts.append(("priority cut-offs", ", ".join(
            f"{k} {v:g}" for k, v in thresholds.get("priority", {}).items())))
    facts.append(("throughput", f"{t.get('rows_per_second', 0):,.0f} rows/s"))
    return [(k, v) for k, v in facts if v]


def context(summary: dict[str, Any], stats: dict[str, Any], top: pd.DataFrame,
            options: Any) -> dict[str, Any]:
    """Everything the template shows."""
    labels = stats.get("labels", {})
    counts = labels.get(PRIORITY) or {}
    bars = priority_bars(counts, summary.get("thresholds", {}).get("priority", {})) \
        if counts else []
    histogram = stats.get("urgency_histogram")
    return {
        "title": Path(summary["input"]).name, "facts": _facts(summary, bars),
        "label_chart": label_chart({h: c for h, c in labels.items() if h != PRIORITY}),
        "priority_bars": bars,
        "urgency_chart": urgency_chart(histogram) if histogram is not None else None,
        "type_by_stage_chart": type_by_stage_chart(stats["type_by_stage"])
        if stats.get("type_by_stage") else None,
        "sentiment_chart": sentiment_chart(stats["daily"]) if stats.get("daily") else None,
        "queue": queue_table(top, summary, options),
    }


def _environment() -> Environment:
    return Environment(loader=PackageLoader("interaction_classifier.batch", "templates"),
                       autoescape=True, undefined=StrictUndefined, trim_blocks=True,
                       lstrip_blocks=True)


def drift_context(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The drift section's data (``loop.drift.compare`` output), or None without a
    reference."""
    if report is None:
        return None
    from interaction_classifier.loop.drift import table_rows

    return {**report, "table": table_rows(report)}


def render(summary: dict[str, Any], stats: dict[str, Any], top: pd.DataFrame,
           options: Any, drift: dict[str, Any] | None = None) -> str:
    """The full HTML page as a string (with the drift section when ``drift`` is given)."""
    return _environment().get_template("report.html.j2").render(
        **context(summary, stats, top, options), drift=drift_context(drift))


def render_drift(title: str, drift: dict[str, Any]) -> str:
    """The drift section alone, as a page (``interaction-classifier drift --html``)."""
    return _environment().get_template("drift_page.html.j2").render(
        title=title, drift=drift_context(drift))


def write_report(path: Path, summary: dict[str, Any], stats: dict[str, Any],
                 top: pd.DataFrame, options: Any, drift: dict[str, Any] | None = None) -> None:
    """Render and write the report atomically."""
    write_text(path, render(summary, stats, top, options, drift))
