"""Choosing the scored rows whose corrections teach the model most (docs/learning-loop.md).

The strategy, measured against random choice in ``benchmarks/learning_loop.py``:

1. **Uncertainty per head**: 1 - margin (top minus second calibrated probability) of each
   head, averaged over the heads. A row the model cannot decide between two labels is where
   one correction moves the decision boundary.
2. **Disagreement**: with the cue rules (the labels the hand-written patterns support, the
   same rules the corpus builder uses) and between heads (a compliment the sentiment head
   calls negative, a complaint it calls positive). Each adds ``DISAGREEMENT_BONUS``.
3. **Diversity**: the best ``CANDIDATES`` x n rows by that score are clustered (k-means on
   hashed word uni- and bigrams reduced by truncated SVD) into n clusters and the best row
   of each cluster is taken, so 500 rows are not 500 copies of one complaint; texts equal
   after normalisation are never both taken.

No active-learning library: modAL-python (last release 2023) expects one scikit-learn
estimator with ``predict_proba`` and small-text its own classifier wrappers, while this
model has several calibrated heads in one scored table; the three steps above are a few
lines of numpy and scikit-learn.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

DISAGREEMENT_BONUS = 0.25
CANDIDATES = 3
# interaction_type labels that contradict a sentiment label (between-head disagreement)
CONFLICTS = {("compliment", "negative"), ("complaint", "positive")}
_NON_WORD = re.compile(r"[^0-9a-z]+")


def head_probabilities(scored: pd.DataFrame, head: str) -> np.ndarray:
    """The head's calibrated probabilities from the scored ``p_<head>__<label>`` columns."""
    columns = [c for c in scored.columns if c.startswith(f"p_{head}__")]
    if not columns:
        raise ValueError(f"scored file has no p_{head}__<label> columns: score it with "
                         "`interaction-classifier score` first")
    return scored[columns].apply(pd.to_numeric, errors="coerce").fillna(0.0).to_numpy()


def margin_uncertainty(scored: pd.DataFrame, heads: Sequence[str]) -> pd.DataFrame:
    """Per head, 1 - (top - second probability): 1 is a tie, 0 a certain label."""
    out = {}
    for head in heads:
        p = np.sort(head_probabilities(scored, head), axis=1)
        second = p[:, -2] if p.shape[1] > 1 else np.zeros(len(p))
        out[head] = 1.0 - (p[:, -1] - second)
    return pd.DataFrame(out, index=scored.index)


def rule_disagreement(scored: pd.DataFrame, texts: Sequence[str], heads: Sequence[str]
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


def head_conflict(scored: pd.DataFrame) -> pd.Series:
    """Rows whose interaction type contradicts their sentiment (default taxonomy only)."""
    if not {"interaction_type", "sentiment"} <= set(scored.columns):
        return pd.Series(False, index=scored.index)
    pairs = zip(scored["interaction_type"], scored["sentiment"], strict=True)
    return pd.Series([p in CONFLICTS for p in pairs], index=scored.index)


def text_vectors(texts: Sequence[str], seed: int, dims: int = 64) -> np.ndarray:
    """Hashed word uni- and bigrams, reduced to ``dims`` by truncated SVD, unit length."""
    hashed = HashingVectorizer(n_features=2**16, ngram_range=(1, 2), alternate_sign=False,
                               norm="l2").transform(texts)
    dims = min(dims, hashed.shape[0] - 1, hashed.shape[1] - 1)
    if dims < 2:
        return hashed.toarray()
    return normalize(TruncatedSVD(dims, random_state=seed).fit_transform(hashed))


def diverse_best(score: np.ndarray, texts: Sequence[str], n: int, seed: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Positions of ``n`` rows: the best-scoring row of each of n k-means clusters over the
    best ``CANDIDATES * n`` distinct texts; returns positions and their cluster numbers."""
    keys = pd.Series([_NON_WORD.sub(" ", str(t).lower()).strip() for t in texts])
    order = np.argsort(-score, kind="stable")
    order = order[~keys.iloc[order].duplicated().to_numpy()]
    if len(order) <= n:
        return order, np.arange(len(order))
    pool = order[: CANDIDATES * n]
    # One thread: k-means on a few thousand short vectors is quick, and OpenMP threads
    # spinning on a busy machine made it 10-20x slower (measured on the 2-core CI box).
    with threadpool_limits(1):
        vectors = text_vectors([texts[i] for i in pool], seed)
        clusters = KMeans(n_clusters=n, n_init=1, random_state=seed).fit_predict(vectors)
    best: dict[int, int] = {}
    for pos, cluster in zip(pool, clusters, strict=True):  # pool is best-first
        best.setdefault(int(cluster), int(pos))
    chosen = sorted(best.values(), key=lambda p: -score[p])
    taken = set(chosen)
    chosen += [int(p) for p in pool if int(p) not in taken][: n - len(chosen)]
    cluster_of = dict(zip(pool.tolist(), clusters.tolist(), strict=True))
    return np.asarray(chosen), np.asarray([cluster_of[p] for p in chosen])


def select_for_review(scored: pd.DataFrame, texts: Sequence[str], heads: Sequence[str],
                      n: int, seed: int = 13) -> pd.DataFrame:
    """The ``n`` rows to review, best first: their position in ``scored`` (``position``),
    ``score`` and ``reasons`` (why each was chosen)."""
    if n < 1:
        raise ValueError(f"--n must be at least 1, not {n}")
    uncertainty = margin_uncertainty(scored, heads)
    rules = rule_disagreement(scored, texts, heads)
    conflict = head_conflict(scored)
    score = uncertainty.mean(axis=1).to_numpy() + DISAGREEMENT_BONUS * (
        (rules != "").sum(axis=1).to_numpy() + conflict.to_numpy())
    positions, clusters = diverse_best(score, list(texts), n, seed)
    reasons = [_reasons(p, uncertainty, rules, conflict, c) for p, c in
               zip(positions, clusters, strict=True)]
    return pd.DataFrame({"position": positions, "score": np.round(score[positions], 4),
                         "reasons": reasons})


def _reasons(pos: int, uncertainty: pd.DataFrame, rules: pd.DataFrame, conflict: pd.Series,
             cluster: int) -> str:
    """Why a row was chosen, e.g. ``uncertain journey_stage (margin 0.04); rules say ...``."""
    row = uncertainty.iloc[pos]
    parts = [f"uncertain {h} (margin {1 - row[h]:.2f})" for h in row.sort_values(
        ascending=False).index if row[h] >= 0.5]
    parts += [f"rules say {h}={rules[h].iat[pos]}" for h in rules.columns if rules[h].iat[pos]]
    if conflict.iat[pos]:
        parts.append("interaction_type contradicts sentiment")
    parts.append(f"cluster {cluster}")
    return "; ".join(parts)


def select_random(n_rows: int, n: int, seed: int) -> np.ndarray:
    """The baseline the strategy is measured against: ``n`` positions at random."""
    return np.random.default_rng(seed).choice(n_rows, size=min(n, n_rows), replace=False)
