"""Fitting the ordinal urgency model on validation rows, complaint > question > compliment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, log_expit, xlogy

from interaction_classifier.models.model import (
    URGENCY_DRIVERS,
    LinearHead,
    UrgencyModel,
    ordinal_proba,
    urgency_inputs,
)
from interaction_classifier.training.fit import stacking_proba
from interaction_classifier.training.solver import lbfgs, vdot


def _softplus(x: np.ndarray) -> np.ndarray:
    return -log_expit(-x)


def _ordinal_nll(eta: np.ndarray, cuts: np.ndarray, y: np.ndarray,
                 weights: np.ndarray) -> float:
    """Weighted mean negative log-likelihood of a cumulative-logit model, in scipy's
    compiled sigmoid and log (libm) so that it is the same to the last bit on every CPU."""
    p = np.clip(ordinal_proba(eta, cuts, expit)[np.arange(len(y)), y], 1e-12, None)
    return float(-np.add.reduce(weights * xlogy(1.0, p)) / np.add.reduce(weights))


def fit_ordinal(X: np.ndarray, y: np.ndarray, weights: np.ndarray, C: float,
                ordered: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative-logit fit with L2 penalty 1/(2C); weights of ``ordered`` (low, mid, high
    feature index) are reparametrised so that w_low < w_mid < w_high always holds.

    Fitted with the heads' :func:`solver.lbfgs` on central-difference gradients and without
    BLAS (``vdot``, row sums by numpy's pairwise sum): scipy's L-BFGS-B with its default
    finite differences stopped 1e-4 apart on two CPU kernels; this gives the same bits."""
    n_features, n_cuts = X.shape[1], int(y.max())
    free = [j for j in range(n_features) if j not in ordered]
    X = np.ascontiguousarray(X, dtype=np.float64)

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.zeros(n_features)
        w[free] = theta[: len(free)]
        base, gap1, gap2 = theta[len(free): len(free) + 3]
        w[ordered[0]] = base
        w[ordered[1]] = base + _softplus(gap1)
        w[ordered[2]] = w[ordered[1]] + _softplus(gap2)
        c = theta[len(free) + 3:]
        cuts = c[0] + np.concatenate([[0.0], np.cumsum(_softplus(c[1:]))])
        return w, cuts

    def loss(theta: np.ndarray) -> float:
        w, cuts = unpack(theta)
        nll = _ordinal_nll(np.add.reduce(X * w, axis=1), cuts, y, weights)
        return nll + vdot(w, w) / (2 * C * len(y))

    def loss_gradient(theta: np.ndarray, h: float = 1e-6) -> tuple[float, np.ndarray]:
        grad = np.empty_like(theta)
        for j in range(len(theta)):
            step = np.zeros_like(theta)
            step[j] = h
            grad[j] = (loss(theta + step) - loss(theta - step)) / (2 * h)
        return loss(theta), grad

    theta0 = np.zeros(len(free) + 3 + n_cuts)
    theta0[len(free) + 3:] = [-1.0] + [0.5] * (n_cuts - 1)
    theta, _ = lbfgs(loss_gradient, theta0, max_iter=2000, tol=1e-7)
    return unpack(theta)


def fit_urgency(text_head: LinearHead, X: Any, probas: dict[str, np.ndarray],
                flags: np.ndarray, rows: pd.DataFrame, feature_names: list[str],
                cfg: dict[str, Any], weights: np.ndarray) -> UrgencyModel:
    """Ordinal urgency model on validation rows (``weights``: one per row),
    complaint > question > compliment enforced."""
    values = {k: float(v) for k, v in cfg["values"].items()}
    classes = sorted(values, key=values.get)
    inputs = urgency_inputs(stacking_proba(text_head, X), probas, flags)
    y = rows["urgency"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    order = tuple(feature_names.index(f"p_interaction_type__{k}")
                  for k in ("compliment", "question", "complaint"))
    coef, cuts = fit_ordinal(inputs, y, weights, float(cfg.get("C", 1.0)), order)
    return UrgencyModel(feature_names=feature_names, classes=classes, coef=coef, cuts=cuts,
                        values=values, tiers={k: float(v) for k, v in cfg["tiers"].items()},
                        text_head=text_head)


def urgency_feature_names(text_head: LinearHead, heads: dict[str, LinearHead]) -> list[str]:
    return ([f"p_text__{c}" for c in text_head.classes]
            + [f"p_interaction_type__{c}" for c in heads["interaction_type"].classes]
            + [f"p_sentiment__{c}" for c in heads["sentiment"].classes]
            + [f"cue:{d}" for d in URGENCY_DRIVERS] + ["cue:lowers"])
