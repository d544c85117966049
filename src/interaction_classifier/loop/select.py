"""Choosing the scored rows whose corrections teach the model most (docs/learning-loop.md).

The strategy, measured against random choice in ``benchmarks/learning_loop.py``:

1. **A boundary per class**: for each head and each of its labels, the rows nearest that
   label's one-vs-rest decision boundary, i.e. with the smallest gap between the label's
   calibrated probability and the best other label's. Urgency has no per-tier probabilities
   in a scored file: its boundaries are the priority cut-offs (read off the batch: the
   lowest score of each tier above the lowest) and the gap is the score's distance to one.
   Where the cue rules name a label the model did not predict, that label's gap shrinks by
   ``DISAGREEMENT_BONUS``: the rules point at its boundary.
2. **Quota, round-robin**: the heads take turns, and within a head its labels take turns,
   each taking its nearest remaining row. Every head gets about n / heads rows and every
   label its share of them, so a rare label (which counts as much as a common one in
   macro-F1) gets as many corrections as a common one, and no head's uncertainty crowds
   out the others'. (Averaging one uncertainty over heads, the earlier strategy, picked
   rows of the common labels more often than random choice did.)
3. **Diversity**: the best ``CANDIDATES`` x quota rows of every queue are clustered (k-means
   on hashed word uni- and bigrams reduced by truncated SVD) into n clusters and each
   cluster gives at most one row, so 500 rows are not 500 copies of one complaint; a row
   whose words are near those of a row already taken (cosine >= ``NEAR_DUPLICATE``) is
   never taken.

No active-learning library: modAL-python (last release 2023) expects one scikit-learn
estimator with ``predict_proba`` and small-text its own classifier wrappers, while this
model has several calibrated heads in one scored table; the steps above are a few lines of
numpy and scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

DISAGREEMENT_BONUS = 0.25
CANDIDATES = 3
NEAR_DUPLICATE = 0.8  # cosine of hashed word uni- and bigrams


@dataclass
class Queue:
    """One label's boundary: its rows nearest first (``order``) and their ``gap``."""

    head: str
    label: str
    gap: np.ndarray
    order: np.ndarray


def head_probabilities(scored: pd.DataFrame, head: str) -> tuple[list[str], np.ndarray]:
    """The head's labels and calibrated probabilities (the ``p_<head>__<label>`` columns)."""
    columns = [c for c in scored.columns if c.startswith(f"p_{head}__")]
    if not columns:
        raise ValueError(
            f"scored file has no p_{head}__<label> columns: score it with "
            "`interaction-classifier score` first"
        )
    p = scored[columns].apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy()
    return [c[len(f"p_{head}__") :] for c in columns], p


def label_gaps(p: np.ndarray) -> np.ndarray:
    """Per row and label, |P(label) - the best other label's P|: 0 on the label's
    one-vs-rest boundary."""
    if p.shape[1] < 2:
        return np.ones_like(p)
    top2 = np.sort(p, axis=1)[:, -2:]
    best_other = np.where(p >= top2[:, [1]], top2[:, [0]], top2[:, [1]])
    return np.abs(p - best_other)


def urgency_gaps(scored: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per priority tier above the lowest, the score's distance to the tier's cut-off; the
    cut-off is the lowest score the batch has in that tier (scores at or above it get the
    tier or a higher one). Empty without ``urgency`` and ``priority`` columns."""
    if not {"urgency", "priority"} <= set(scored.columns):
        return {}
    score = pd.to_numeric(scored["urgency"], errors="coerce")
    lowest = score.groupby(scored["priority"].astype(str)).min().dropna().sort_values()
    values = score.fillna(-1.0).to_numpy()
    return {str(tier): np.abs(values - cut) for tier, cut in lowest.iloc[1:].items()}


def rule_disagreement(
    scored: pd.DataFrame, texts: Sequence[str], heads: Sequence[str]
) -> pd.DataFrame:
    """Per head, the cue rules' label where it differs from the model's (else empty): only
    for models with the default taxonomy, whose labels the rules speak."""
    from interaction_classifier.config import load_taxonomy
    from interaction_classifier.data.corpus import rule_labels
    from interaction_classifier.text.cues import get_matcher

    taxonomy = load_taxonomy()
    known = [h for h in heads if h in taxonomy.heads and h in scored.columns]
    out = {h: [""] * len(scored) for h in known}
    matcher = get_matcher() if known else None
    for pos, text in enumerate(texts if known else ()):
        for head, (label, _pattern) in rule_labels(matcher.match(text), taxonomy).items():
            if head in out and scored[head].iat[pos] != label:
                out[head][pos] = label
    return pd.DataFrame(out, index=scored.index, columns=known)


def boundary_queues(scored: pd.DataFrame, heads: Sequence[str], rules: pd.DataFrame) -> list[Queue]:
    """One queue per (head, label), nearest row first; urgency's per priority cut-off."""
    queues = []
    for head in heads:
        labels, p = head_probabilities(scored, head)
        gaps = label_gaps(p)
        for j, label in enumerate(labels):
            gap = gaps[:, j].copy()
            if head in rules.columns:
                gap[(rules[head] == label).to_numpy()] -= DISAGREEMENT_BONUS
            queues.append(Queue(head, label, gap, np.argsort(gap, kind="stable")))
    for tier, gap in urgency_gaps(scored).items():
        queues.append(Queue("urgency", tier, gap, np.argsort(gap, kind="stable")))
    return queues


def turns(queues: list[Queue]) -> list[Queue]:
    """The order queues take rows in: heads in turn, and within a head its labels in turn."""
    by_head: dict[str, list[Queue]] = {}
    for q in queues:
        by_head.setdefault(q.head, []).append(q)
    longest = max((len(v) for v in by_head.values()), default=0)
    cycles = [[v[i % len(v)] for v in by_head.values()] for i in range(longest)]
    return [q for cycle in cycles for q in cycle]


def hashed_words(texts: Sequence[str]) -> sparse.csr_matrix:
    """Hashed word uni- and bigram counts, unit length: dot products are cosines."""
    return HashingVectorizer(
        n_features=2**16, ngram_range=(1, 2), alternate_sign=False, norm="l2"
    ).transform(texts)


def text_vectors(hashed: sparse.csr_matrix, seed: int, dims: int = 64) -> np.ndarray:
    """``hashed_words`` reduced to ``dims`` by truncated SVD, unit length (for k-means)."""
    dims = min(dims, hashed.shape[0] - 1, hashed.shape[1] - 1)
    if dims < 2:
        return hashed.toarray()
    return normalize(TruncatedSVD(dims, random_state=seed).fit_transform(hashed))


def clusters_of(
    hashed: sparse.csr_matrix, candidates: np.ndarray, n: int, seed: int
) -> dict[int, int]:
    """Row position -> k-means cluster (n clusters) over the candidate rows' texts."""
    if len(candidates) <= n:
        return {int(p): i for i, p in enumerate(candidates)}
    # One thread: k-means on a few thousand short vectors is quick, and OpenMP threads
    # spinning on a busy machine made it 10-20x slower (measured on the 2-core CI box).
    with threadpool_limits(1):
        vectors = text_vectors(hashed[candidates], seed)
        labels = KMeans(n_clusters=n, n_init=1, random_state=seed).fit_predict(vectors)
    return dict(zip(candidates.tolist(), labels.tolist(), strict=True))


class Taken:
    """The rows picked so far, their clusters and texts: a row is free unless it, its
    cluster (while clusters count) or a text with cosine >= ``NEAR_DUPLICATE`` is taken."""

    def __init__(self, hashed: sparse.csr_matrix, cluster: dict[int, int]) -> None:
        self.hashed, self.cluster = hashed, cluster
        self.rows: list[int] = []
        self.clusters: set[int] = set()

    def free(self, pos: int, strict: bool) -> bool:
        if pos in self.rows or (strict and self.cluster.get(pos) in self.clusters):
            return False
        if not self.rows:
            return True
        return (self.hashed[self.rows] @ self.hashed[pos].T).max() < NEAR_DUPLICATE

    def add(self, pos: int) -> None:
        self.rows.append(pos)
        self.clusters.add(self.cluster.get(pos, -1))


def quota_pick(
    queues: list[Queue], texts: Sequence[str], n: int, seed: int
) -> list[tuple[int, Queue, int]]:
    """(position, queue, cluster) of up to ``n`` rows: queues take turns (``turns``), each
    its nearest row that is free (``Taken``) among its best ``CANDIDATES`` x quota; queues
    that run out leave their turns to the others, then every queue takes any free row."""
    hashed = hashed_words([str(t) for t in texts])
    depth = CANDIDATES * max(1, -(-n // max(len(queues), 1)))
    candidates = np.unique(np.concatenate([q.order[:depth] for q in queues]))
    taken = Taken(hashed, clusters_of(hashed, candidates, min(n, len(candidates)), seed))
    chosen: list[tuple[int, Queue, int]] = []
    for strict in (True, False):
        order = turns(queues)
        while order and len(chosen) < n:
            nxt = []
            for q in order:
                if len(chosen) >= n:
                    break
                rows = q.order[:depth] if strict else q.order
                pos = next((int(p) for p in rows if taken.free(int(p), strict)), None)
                if pos is None:
                    continue
                taken.add(pos)
                chosen.append((pos, q, taken.cluster.get(pos, -1)))
                nxt.append(q)
            order = nxt
    return chosen


def select_for_review(
    scored: pd.DataFrame, texts: Sequence[str], heads: Sequence[str], n: int, seed: int = 13
) -> pd.DataFrame:
    """The ``n`` rows to review in the order they were picked: their position in
    ``scored`` (``position``), ``score`` (1 - the gap to the boundary that picked them) and
    ``reasons``."""
    if n < 1:
        raise ValueError(f"--n must be at least 1, not {n}")
    texts = list(texts)
    rules = rule_disagreement(scored, texts, heads)
    picks = quota_pick(boundary_queues(scored, heads, rules), texts, n, seed)
    return pd.DataFrame(
        {
            "position": np.asarray([p for p, _, _ in picks], dtype=int),
            "score": [round(float(1 - q.gap[p]), 4) for p, q, _ in picks],
            "reasons": [_reasons(p, q, rules, c) for p, q, c in picks],
        }
    )


def _reasons(pos: int, queue: Queue, rules: pd.DataFrame, cluster: int) -> str:
    """Why a row was chosen, e.g. ``near journey_stage=loyalty (gap 0.04); rules say ...``."""
    parts = [f"near {queue.head}={queue.label} (gap {max(queue.gap[pos], 0):.2f})"]
    parts += [f"rules say {h}={rules[h].iat[pos]}" for h in rules.columns if rules[h].iat[pos]]
    parts.append(f"cluster {cluster}" if cluster >= 0 else "cluster none (fill)")
    return "; ".join(parts)


def select_random(n_rows: int, n: int, seed: int) -> np.ndarray:
    """The baseline the strategy is measured against: ``n`` positions at random."""
    return np.random.default_rng(seed).choice(n_rows, size=min(n, n_rows), replace=False)
