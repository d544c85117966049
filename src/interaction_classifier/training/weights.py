"""Training weights: which rows a head learns from, and how much each counts (origin, source)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from interaction_classifier.training.distill import TEACHER


def head_rows(frame: pd.DataFrame, head: str, cap: int | None, seed: int) -> pd.DataFrame:
    """Rows labelled for ``head``, at most ``cap`` per source (seeded sample). Soft-label
    rows (origin ``teacher``, ``training.distill``) are not capped: a row sample would cut a
    text's soft label apart, and their number is set where the unlabelled pool is sampled."""
    rows = frame[frame[head].notna()]
    if not cap:
        return rows
    soft = rows["label_origin"].eq(TEACHER).fillna(False).to_numpy(dtype=bool)
    parts = [g if len(g) <= cap else g.sample(n=cap, random_state=seed)
             for _, g in rows[~soft].groupby("source", sort=True)]
    return pd.concat([*parts, rows[soft]]).sort_index()


def label_weights(rows: pd.DataFrame, head: str, weights: dict[str, float]) -> np.ndarray:
    """Per-row weight by where this head's label came from: hand, rule or mapping."""
    from_rule = rows["rule_ids"].fillna("").str.contains(f"{head}=", regex=False)
    origin = np.where(from_rule, "rule", rows["label_origin"].fillna("mapping").str.split("+")
                      .str[0].to_numpy())
    return np.array([weights.get(o, 1.0) for o in origin], dtype=np.float64)


def source_weights(rows: pd.DataFrame, weights: dict[str, float]) -> np.ndarray:
    """Per-row multiplier by source (default 1), e.g. to lean a head towards tweets."""
    return rows["source"].map(weights).fillna(1.0).to_numpy(dtype=np.float64)


def row_weights(rows: pd.DataFrame) -> np.ndarray:
    """Per-row multiplier from a ``row_weight`` column (1 where absent or NA): a soft
    label's class probability (``training.distill``)."""
    if "row_weight" not in rows:
        return np.ones(len(rows))
    return rows["row_weight"].astype("float64").fillna(1.0).to_numpy(dtype=np.float64)


def head_weights(rows: pd.DataFrame, head: str, mcfg: dict) -> np.ndarray:
    """Training weight per row of one head: its origin weight (``origin_weights``, overridden
    per head by ``head_origin_weights``) times its source weight (``source_weights``) times
    its ``row_weight``."""
    origins = {**mcfg.get("origin_weights", {}),
               **mcfg.get("head_origin_weights", {}).get(head, {})}
    return label_weights(rows, head, origins) \
        * source_weights(rows, mcfg.get("source_weights", {}).get(head, {})) * row_weights(rows)
