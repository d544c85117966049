"""Fitting one head: a calibrated multinomial logistic regression on (a block of) the features."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from sklearn._loss.loss import HalfMultinomialLoss

from interaction_classifier.models.model import (
    LinearHead,
)
from interaction_classifier.training.solver import MultinomialLogisticRegression


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
    """Multinomial logistic regression (``solver.py``: the same weights on every CPU),
    reduced to its weights; a head restricted to ``columns`` gets zero weight on every other
    column. With ``domain`` it is fitted on :func:`augment`-ed features and keeps only the
    shared weights, for messages from sources it never saw (chosen by leave-one-source-out,
    docs/model.md)."""
    clf = MultinomialLogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter,
                                        tol=1e-4)
    X_head = X if columns is None else X[:, columns]
    clf.fit(X_head if domain is None else augment(X_head, domain), y,
            sample_weight=sample_weight)
    if domain is not None:
        clf.coef_ = clf.coef_[:, : X_head.shape[1]]  # the shared copy
    head = LinearHead.from_estimator(name, clf)
    if columns is not None:
        coef = np.zeros((X.shape[1], head.coef.shape[1]), dtype=head.coef.dtype)
        coef[columns] = head.coef
        head.coef = coef
    return head


def fit_temperature(head: LinearHead, X: Any, y: np.ndarray,
                    weights: np.ndarray | None = None) -> float:
    """Temperature that minimises validation log-loss (Guo et al. 2017), weighted like the
    head's training rows so that it calibrates against the labels the head was fitted to
    trust (hand labels over mapped ones), not against the split's label mixture. The loss is
    scikit-learn's compiled one (libm), so the search sees, and returns, the same numbers on
    every CPU (numpy's own exp and log differ in the last bit between SIMD kernels)."""
    logits = head.logits(X).astype(np.float64)
    index = np.array([head.classes.index(v) for v in y], dtype=np.float64)
    w = np.ones(len(index)) if weights is None else np.asarray(weights, dtype=np.float64)
    loss = HalfMultinomialLoss(n_classes=len(head.classes))

    def nll(log_t: float) -> float:
        pointwise = loss.loss(index, np.ascontiguousarray(logits / math.exp(log_t)), w)
        return float(np.add.reduce(pointwise) / np.add.reduce(w))

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return math.exp(res.x)


def stacking_proba(head: LinearHead, X: Any) -> np.ndarray:
    """``head.proba`` through scikit-learn's compiled softmax (libm) instead of numpy's exp,
    whose last bit differs between SIMD kernels: the inputs of the urgency model, fitted on
    these probabilities, are then the same on every CPU."""
    logits = np.ascontiguousarray(head.logits(X).astype(np.float64) / head.temperature)
    loss = HalfMultinomialLoss(n_classes=len(head.classes))
    return loss.gradient_proba(np.zeros(len(logits)), logits)[1]
