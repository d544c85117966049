"""Knowledge distillation: a teacher's class probabilities on unlabelled texts as corpus rows.

Each (text, head) becomes one row per class the teacher gives at least ``min_p``, with that
class as the head's label, the probabilities renormalised over the kept classes as
``row_weight`` and ``label_origin = "teacher"`` (its origin weight scales the whole text).
The trainer's weighted cross-entropy over these rows, ``-sum_k w * p_k * log q_k``, is the
cross-entropy against the teacher's (truncated) soft label, so a linear head learns the
teacher's distribution with the trainer it already has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

TEACHER = "teacher"


def text_key(texts: pd.Series) -> pd.Series:
    """The form two texts are compared in (strip + lower): an evaluation text must not come
    back as a training text through a difference of case or spacing."""
    return texts.astype("string").str.strip().str.lower()


def exclude(pool: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    """``pool`` without the rows of ``held`` (columns text, source, source_id): same
    (source, source_id) or same text after :func:`text_key`."""
    ids = set(zip(held["source"], held["source_id"], strict=True))
    same_id = np.array([k in ids for k in zip(pool["source"], pool["source_id"], strict=True)],
                       dtype=bool)
    same_text = text_key(pool["text"]).isin(set(text_key(held["text"]))).to_numpy()
    return pool[~(same_id | same_text)]


def sample_pool(pool: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows, split as evenly as the sources allow (a small source gives all it has,
    the rest shares what is left), so one large source does not make the pool."""
    sizes = pool.groupby("source").size().sort_values()
    quota, left = {}, n
    for i, (source, size) in enumerate(sizes.items()):
        quota[source] = min(int(size), left // (len(sizes) - i))
        left -= quota[source]
    parts = [g.sample(n=quota[s], random_state=seed) for s, g in pool.groupby("source")]
    return pd.concat(parts).sort_index()


def teacher_rows(texts: pd.DataFrame, proba: pd.DataFrame, heads: list[str],
                 all_heads: list[str], min_p: float = 0.05) -> pd.DataFrame:
    """Corpus rows (split ``train``) from the teacher's ``p_<head>__<label>`` columns of
    ``proba`` (aligned with ``texts``: text, source, source_id); heads not in ``heads`` NA."""
    parts = []
    for head in heads:
        cols = [c for c in proba.columns if c.startswith(f"p_{head}__")]
        p = proba[cols].to_numpy(dtype=np.float64)
        p = np.where(p >= min_p, p, 0.0)
        p /= p.sum(axis=1, keepdims=True)
        row, k = np.nonzero(p)
        part = texts.iloc[row][["text", "source", "source_id"]].reset_index(drop=True)
        part[list(all_heads)] = pd.NA
        part[head] = [cols[j].split("__", 1)[1] for j in k]
        part["row_weight"] = p[row, k]
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True).assign(split="train", label_origin=TEACHER,
                                                       rule_ids="")
    return rows.astype({c: "string" for c in rows.columns if c != "row_weight"})
