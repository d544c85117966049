"""A self-contained HTML report of a scoring run: charts and the top of the queue.

Charts are matplotlib PNGs embedded as base64 data URIs, so the page is one file that
opens offline and can be attached to an e-mail; it references no external URL.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from interaction_classifier.batch.run import URGENCY_BINS
from interaction_classifier.io import atomic_path

TEXT_PREVIEW = 280
SENTIMENT_COLOURS = {"negative": "#c0392b", "neutral": "#7f8c8d", "positive": "#27ae60"}


def _png(fig: plt.Figure) -> str:
    """Encode and close a figure; returns an ``<img>`` tag with a data URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="chart" alt="chart" src="data:image/png;base64,{data}">'


def label_chart(labels: dict[str, dict[str, int]]) -> str:
    """One horizontal bar chart per head."""
    heads = [h for h in labels if labels[h]]
    if not heads:
        return "<p>No scored rows.</p>"
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
    if not pairs:
        return "<p>No scored rows.</p>"
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


def queue_table(top: pd.DataFrame, options: Any) -> str:
    """The most urgent rows as an HTML table (texts shortened, everything escaped)."""
    if top.empty:
        return "<p>The queue is empty.</p>"
    wanted = [options.id_column, options.time_column, "priority", "urgency",
              "interaction_type", "journey_stage", "sentiment", "status",
              options.text_column]
    columns = [c for c in dict.fromkeys(wanted) if c and c in top.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in ["#", *columns])
    body = []
    for rank, (_, row) in enumerate(top[columns].iterrows(), start=1):
        cells = [f"<td>{rank}</td>"] + [f"<td>{html.escape(_cell(row[c]))}</td>"
                                         for c in columns]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, str | bytes) and pd.isna(value) is True):
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    return text if len(text) <= TEXT_PREVIEW else text[:TEXT_PREVIEW] + "…"


def render(summary: dict[str, Any], stats: dict[str, Any], top: pd.DataFrame,
           options: Any) -> str:
    """The full HTML page as a string."""
    sections = [
        ("Label distribution per head", label_chart(stats.get("labels", {}))),
        ("Urgency", urgency_chart(stats.get("urgency_histogram", [0] * URGENCY_BINS))),
        ("Interaction type by journey stage", type_by_stage_chart(stats.get("type_by_stage",
                                                                            {}))),
    ]
    if stats.get("daily"):
        sections.append(("Sentiment over time", sentiment_chart(stats["daily"])))
    sections.append((f"Top {len(top)} of the queue", queue_table(top, options)))
    body = "".join(f"<section><h2>{html.escape(t)}</h2>{c}</section>" for t, c in sections)
    facts = _facts(summary)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Scoring report: {html.escape(Path(summary['input']).name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
img.chart {{ max-width: 100%; }}
table {{ border-collapse: collapse; font-size: 0.85rem; }}
td, th {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; vertical-align: top; }}
th {{ background: #f0f0f0; }}
dl {{ display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }}
dt {{ font-weight: 600; }}
</style></head>
<body><h1>Scoring report</h1>{facts}{body}</body></html>
"""


def _facts(summary: dict[str, Any]) -> str:
    t = summary.get("throughput", {})
    items = {
        "input": summary["input"], "model version": summary["model_version"],
        "rows in / rows out": f"{summary['rows_in']:,} / {summary['rows_out']:,}",
        "scored": f"{summary['scored']:,}",
        "flagged": f"{summary['flagged']:,} {summary['flagged_by_reason'] or ''}",
        "needs review": f"{summary['needs_review']:,}",
        "priority tiers": ", ".join(f"{k} {v:,}" for k, v in summary["priority_tiers"].items()),
        "throughput": f"{t.get('rows_per_second', 0):,.0f} rows/s",
    }
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>"
                   for k, v in items.items())
    return f"<dl>{rows}</dl>"


def write_report(path: Path, summary: dict[str, Any], stats: dict[str, Any],
                 top: pd.DataFrame, options: Any) -> None:
    """Render and write the report atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(render(summary, stats, top, options), encoding="utf-8")
