"""Training weights: which rows a head learns from, and how much each counts (origin, source)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def head_rows(frame: pd.DataFrame, head: str, cap: int | None, seed: int) -> pd.DataFrame:
    """Rows labelled for ``head``, at most ``cap`` per source (seeded sample)."""
    rows = frame[frame[head].notna()]
    if not cap:
        return rows
    parts = [g if len(g) <= cap else g.sample(n=cap, random_state=seed)
             for _, g in rows.groupby("source", sort=True)]
    return pd.concat(parts).sort_index()


def label_weights(rows: pd.DataFrame, head: str, weights: dict[str, float]) -> np.ndarray:
    """Per-row weight by where this head's label came from: hand, rule or mapping."""
    from_rule = rows["rule_ids"].fillna("").str.contains(f"{head}=", regex=False)
    origin = np.where(from_rule, "rule", rows["label_origin"].fillna("mapping").str.split("+")
                      .str[0].to_numpy())
    return np.array([weights.get(o, 1.0) for o in origin], dtype=np.float64)


def source_weights(rows: pd.DataFrame, weights: dict[str, float]) -> np.ndarray:
    """Per-row multiplier by source (default 1), e.g. to lean a head towards tweets."""
    return rows["source"].map(weights).fillna(1.0).to_numpy(dtype=np.float64)


def head_weights(rows: pd.DataFrame, head: str, mcfg: dict) -> np.ndarray:
    """Training weight per row of one head: its origin weight (``origin_weights``, overridden
    per head by ``head_origin_weights``) times its source weight (``source_weights``)."""
    origins = {**mcfg.get("origin_weights", {}),
               **mcfg.get("head_origin_weights", {}).get(head, {})}
    return label_weights(rows, head, origins) \
        * source_weights(rows, mcfg.get("source_weights", {}).get(head, {}))
