"""Fitting one head: a calibrated multinomial logistic regression on (a block of) the features."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from interaction_classifier.models.model import LinearHead


def head_columns(feature_names: list[str], excluded: list[str]) -> np.ndarray | None:
    """The columns a head may use: all but the blocks (feature-name prefixes such as
    ``emb``) it excludes; None when it uses every column."""
    if not excluded:
        return None
    blocks = [n.split(":", 1)[0] for n in feature_names]
    unknown = sorted(set(excluded) - set(blocks))
    if unknown:
        raise ValueError(f"exclude_blocks names blocks the features do not have: {unknown}; "
                         f"they have {sorted(set(blocks))}")
    return np.array([i for i, b in enumerate(blocks) if b not in excluded], dtype=np.int64)


def domain_flags(rows: pd.DataFrame, sources: list[str]) -> np.ndarray | None:
    """1.0 for rows whose source starts with one of ``sources`` (one domain), 0.0 for the
    others; None when the head is not domain-adapted."""
    if not sources:
        return None
    flags = rows["source"].str.startswith(tuple(sources)).to_numpy(dtype=np.float64)
    if flags.all() or not flags.any():
        raise ValueError(f"domain_adaptation {sources} must split the rows in two; it matches "
                         f"{int(flags.sum())} of {len(flags)}")
    return flags


def augment(X: Any, domain: np.ndarray) -> sp.csr_matrix:
    """Feature augmentation (Daume 2007): every column three times, shared, on the rows of
    the domain only, and on the other rows only."""
    return sp.hstack([X, sp.diags(domain) @ X, sp.diags(1.0 - domain) @ X], format="csr")


def fit_head(name: str, X: Any, y: np.ndarray, C: float, class_weight: str | None,
             max_iter: int, sample_weight: np.ndarray | None = None,
             columns: np.ndarray | None = None, domain: np.ndarray | None = None
             ) -> LinearHead:
    """scikit-learn's multinomial ``LogisticRegression`` (lbfgs), reduced to its weights; a
    head restricted to ``columns`` gets zero weight on every other column. With ``domain``
    it is fitted on :func:`augment`-ed features and keeps only the shared weights, for
    messages from sources it never saw (chosen by leave-one-source-out,
    docs/experiments/round-05-domain-augmentation.md).

    One BLAS/OpenMP thread during the fit: a multi-threaded BLAS splits its inner products
    by thread count, so their rounding, and the weights, would follow the machine's load
    settings; single-threaded, the same inputs give the same bits on the same machine (not
    across CPUs: see tests/model/test_reproducible.py for what is promised)."""
    X_head = X if columns is None else X[:, columns]
    X_fit = sp.csr_matrix(X_head if domain is None else augment(X_head, domain),
                          dtype=np.float64)
    clf = LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter,
                             solver="lbfgs")
    with threadpool_limits(1):
        clf.fit(X_fit, y, sample_weight=sample_weight)
    if domain is not None:
        clf.coef_ = clf.coef_[:, : X_head.shape[1]]  # the shared copy
    head = LinearHead.from_estimator(name, clf)
    if columns is not None:
        coef = np.zeros((X.shape[1], head.coef.shape[1]), dtype=head.coef.dtype)
        coef[columns] = head.coef
        head.coef = coef
    return head


def weighted_log_loss(logits: np.ndarray, index: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean of -log softmax(logits)[row, index[row]] (numpy sums, not a BLAS dot
    product, whose rounding follows the thread count)."""
    log_p = logits[np.arange(len(index)), index] - logsumexp(logits, axis=1)
    return float(-np.sum(weights * log_p) / np.sum(weights))


def fit_temperature(head: LinearHead, X: Any, y: np.ndarray,
                    weights: np.ndarray | None = None) -> float:
    """Temperature that minimises validation log-loss (Guo et al. 2017), weighted like the
    head's training rows so that it calibrates against the labels the head was fitted to
    trust (hand labels over mapped ones), not against the split's label mixture."""
    logits = head.logits(X).astype(np.float64)
    index = np.array([head.classes.index(v) for v in y])
    w = np.ones(len(index)) if weights is None else np.asarray(weights, dtype=np.float64)
    res = minimize_scalar(lambda log_t: weighted_log_loss(logits / math.exp(log_t), index, w),
                          bounds=(-3.0, 3.0), method="bounded")
    return math.exp(res.x)


def stacking_proba(head: LinearHead, X: Any) -> np.ndarray:
    """The calibrated probabilities the urgency model is fitted on, as prediction makes them."""
    return head.proba(X)
