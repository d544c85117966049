"""Fitting the ordinal urgency model on validation rows, complaint > question > compliment."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from interaction_classifier.models.model import (
    URGENCY_DRIVERS,
    LinearHead,
    UrgencyModel,
    urgency_inputs,
)
from interaction_classifier.training.fit import stacking_proba


def _softplus(x: np.ndarray) -> np.ndarray:
    return -log_expit(-x)


def ordinal_nll(eta: np.ndarray, cuts: np.ndarray, y: np.ndarray, weights: np.ndarray
                ) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted mean negative log-likelihood of a cumulative-logit model, P(y >= k) =
    sigmoid(eta - cuts[k-1]), and its gradient in ``eta`` and in ``cuts``."""
    n, n_cuts = len(y), len(cuts)
    cumulative = np.zeros((n, n_cuts + 2))  # P(y >= k): 1, P(y > 0), ..., 0
    cumulative[:, 0] = 1.0
    cumulative[:, 1:-1] = expit(eta[:, None] - cuts[None, :])
    slope = cumulative * (1.0 - cumulative)  # dP(y >= k)/d eta; 0 at both ends
    rows = np.arange(n)
    p = cumulative[rows, y] - cumulative[rows, y + 1]
    share = weights / np.sum(weights)
    kept = p > 1e-12  # a clipped probability has no gradient
    nll = -float(np.sum(share * np.log(np.where(kept, p, 1e-12))))
    r = np.where(kept, share / np.where(kept, p, 1.0), 0.0)
    lower, upper = slope[rows, y], slope[rows, y + 1]
    grad_eta = -r * (lower - upper)
    # P(y = k) rises with cuts[k] (through P(y >= k+1)) and falls with cuts[k-1].
    grad_cuts = (np.bincount(y[y >= 1] - 1, (r * lower)[y >= 1], minlength=n_cuts)
                 - np.bincount(y[y < n_cuts], (r * upper)[y < n_cuts], minlength=n_cuts))
    return nll, grad_eta, grad_cuts


class _OrdinalParams:
    """The unconstrained parameters of the ordinal fit and their map to (weights, cuts):
    free weights; base, gap1, gap2 for the ``ordered`` weights (w_low = base, each next one
    a softplus gap higher); the first cut, then softplus gaps between cuts."""

    def __init__(self, n_features: int, n_cuts: int, ordered: tuple[int, int, int]) -> None:
        self.n_features, self.n_cuts, self.ordered = n_features, n_cuts, list(ordered)
        self.free = [j for j in range(n_features) if j not in ordered]

    def start(self) -> np.ndarray:
        theta = np.zeros(len(self.free) + 3 + self.n_cuts)
        theta[len(self.free) + 3:] = [-1.0] + [0.5] * (self.n_cuts - 1)
        return theta

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = len(self.free)
        w = np.zeros(self.n_features)
        w[self.free] = theta[:k]
        base, gap1, gap2 = theta[k: k + 3]
        w[self.ordered] = base + np.cumsum([0.0, _softplus(gap1), _softplus(gap2)])
        c = theta[k + 3:]
        return w, c[0] + np.concatenate([[0.0], np.cumsum(_softplus(c[1:]))])

    def pull_back(self, theta: np.ndarray, grad_w: np.ndarray, grad_cuts: np.ndarray
                  ) -> np.ndarray:
        """The gradient in ``theta`` from the gradients in the weights and the cuts."""
        k = len(self.free)
        g_low, g_mid, g_high = grad_w[self.ordered]
        gap1, gap2 = theta[k + 1: k + 3]
        c = theta[k + 3:]
        # cuts[j] = c0 + sum_{m <= j} softplus(c[m]): c[m] moves every cut from m on.
        tail = np.cumsum(grad_cuts[::-1])[::-1]
        return np.concatenate([grad_w[self.free],
                               [g_low + g_mid + g_high, expit(gap1) * (g_mid + g_high),
                                expit(gap2) * g_high],
                               [tail[0]], expit(c[1:]) * tail[1:]])


def fit_ordinal(X: np.ndarray, y: np.ndarray, weights: np.ndarray, C: float,
                ordered: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative-logit fit with L2 penalty ||w||^2 / (2 C n); weights of ``ordered`` (low,
    mid, high feature index) are reparametrised so that w_low < w_mid < w_high always holds.
    scipy's L-BFGS-B on the analytic gradient, one BLAS thread (same bits on one machine)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64)
    params = _OrdinalParams(X.shape[1], int(y.max()), ordered)
    scale = C * len(y)

    def loss_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, cuts = params.unpack(theta)
        nll, grad_eta, grad_cuts = ordinal_nll(X @ w, cuts, y, weights)
        return (nll + float(np.sum(w * w)) / (2 * scale),
                params.pull_back(theta, X.T @ grad_eta + w / scale, grad_cuts))

    with threadpool_limits(1):
        res = minimize(loss_gradient, params.start(), jac=True, method="L-BFGS-B",
                       options={"maxiter": 2000, "gtol": 1e-7, "ftol": 1e-12})
    if not res.success:
        warnings.warn(f"ordinal urgency fit did not converge: {res.message}",
                      ConvergenceWarning, stacklevel=2)
    return params.unpack(res.x)


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
    model = UrgencyModel(feature_names=feature_names, classes=classes, coef=coef, cuts=cuts,
                         values=values, tiers={k: float(v) for k, v in cfg["tiers"].items()},
                         text_head=text_head)
    if cfg.get("fit_cutoffs"):
        model.tiers = fit_cutoffs(model.score(inputs), y, weights, classes, model.tiers)
    return model


def tier_f1(y: np.ndarray, tier: np.ndarray, weights: np.ndarray, n_tiers: int) -> float:
    """Weighted macro-F1 over all ``n_tiers`` tiers (a tier never predicted scores 0)."""
    confusion = np.bincount(y * n_tiers + tier, weights, minlength=n_tiers**2)
    confusion = confusion.reshape(n_tiers, n_tiers)
    tp = np.diag(confusion)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    return float(np.mean(np.divide(2 * tp, denominator, out=np.zeros(n_tiers),
                                   where=denominator > 0)))


def fit_cutoffs(score: np.ndarray, y: np.ndarray, weights: np.ndarray, classes: list[str],
                start: dict[str, float], grid: int = 200, sweeps: int = 10) -> dict[str, float]:
    """Priority cut-offs (a tier's minimum score) that maximise the tiers' weighted macro-F1
    on validation rows: coordinate ascent from ``start`` over the scores' quantiles, the
    cut-offs kept increasing. Why: the score is an expected tier value, so a rare top tier's
    midpoint cut-off is reached only by rows the model is nearly sure of and the tier is
    almost never predicted (docs/learning-loop.md, section 6)."""
    upper, y = classes[1:], np.asarray(y, dtype=np.int64)  # the lowest tier has no cut-off
    cuts = np.array([start[t] for t in upper], dtype=float)
    candidates = np.unique(np.quantile(score, np.linspace(0.0, 1.0, grid + 1)))

    def f1(c: np.ndarray) -> float:
        return tier_f1(y, np.searchsorted(c, score, side="right"), weights, len(classes))

    best = f1(cuts)
    for _ in range(sweeps):
        moved = False
        for j in range(len(cuts)):
            low = cuts[j - 1] if j > 0 else -np.inf
            high = cuts[j + 1] if j + 1 < len(cuts) else np.inf
            for c in candidates[(candidates > low) & (candidates < high)]:
                trial = cuts.copy()
                trial[j] = c
                value = f1(trial)
                if value > best + 1e-12:
                    best, cuts, moved = value, trial, True
        if not moved:
            break
    return {t: float(c) for t, c in reversed(list(zip(upper, cuts, strict=True)))}


def urgency_feature_names(text_head: LinearHead, heads: dict[str, LinearHead]) -> list[str]:
    return ([f"p_text__{c}" for c in text_head.classes]
            + [f"p_interaction_type__{c}" for c in heads["interaction_type"].classes]
            + [f"p_sentiment__{c}" for c in heads["sentiment"].classes]
            + [f"cue:{d}" for d in URGENCY_DRIVERS] + ["cue:lowers"])
