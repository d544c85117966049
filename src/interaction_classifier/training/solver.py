"""Multinomial logistic regression with a CPU-independent L-BFGS fit.

scikit-learn's ``lbfgs`` solver runs scipy's L-BFGS-B, whose inner products (and
scikit-learn's L2 penalty) come from BLAS, and a BLAS kernel's summation order, so its
rounding, depends on the CPU. The heads stop at a loose gradient tolerance, far from the
optimum along the weakly penalised rare n-grams, so those last-bit differences grew into
weights 1-2% apart and changed gold predictions: the same corpus and config gave another
model on another machine (docs/model.md). Here every reduction is numpy's pairwise sum,
every update an elementwise numpy operation, and the loss and gradient are scikit-learn's
compiled ones (libm exp and log, scipy's sparse products: X is made CSR), so the same inputs
give the same weights bit for bit whatever BLAS kernel or thread count the machine has, as
long as libm picks the same exp (glibc chooses by CPU feature, e.g. FMA or not).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn._loss.loss import HalfMultinomialLoss
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model._linear_loss import LinearModelLoss
from sklearn.utils.class_weight import compute_class_weight


def vdot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product by numpy's pairwise sum: the same result on every CPU (``np.dot`` is
    BLAS, whose summation order follows the CPU's kernel)."""
    return float(np.add.reduce(a * b))


def lbfgs(fun: Any, x0: np.ndarray, max_iter: int, tol: float, memory: int = 10,
          armijo: float = 1e-4) -> tuple[np.ndarray, int]:
    """Minimise ``fun(x) -> (value, gradient)`` by L-BFGS (two-loop recursion) with a
    backtracking Armijo line search; stops when the largest gradient entry is at most
    ``tol`` (scikit-learn's criterion), when the objective stops falling (scipy's relative
    ``ftol`` of 64 eps), or after ``max_iter`` iterations, with a ``ConvergenceWarning``
    then or when the line search fails. The objective must be convex: a pair with no
    positive curvature is skipped, never used."""
    x = x0.astype(np.float64, copy=True)
    f, g = fun(x)
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []
    for it in range(1, max_iter + 1):
        if np.max(np.abs(g)) <= tol:
            return x, it - 1
        d = _direction(g, pairs)
        slope = vdot(g, d)
        if slope >= 0:  # not a descent direction (rounding): restart from the gradient
            pairs.clear()
            d, slope = -g, -vdot(g, g)
        step = 1.0 if pairs else min(1.0, 1.0 / np.sqrt(-slope))
        for _ in range(60):
            x_new = x + step * d
            f_new, g_new = fun(x_new)
            if f_new <= f + armijo * step * slope:
                break
            step *= 0.5
        else:
            warnings.warn(f"L-BFGS line search failed after {it} iterations (largest "
                          f"gradient entry {np.max(np.abs(g)):.2e}, tol {tol:g})",
                          ConvergenceWarning, stacklevel=2)
            return x, it
        s, y = x_new - x, g_new - g
        curvature = vdot(s, y)
        if curvature > 1e-12 * vdot(y, y):
            pairs.append((s, y, 1.0 / curvature))
            del pairs[:-memory]
        x, g, f_old, f = x_new, g_new, f, f_new
        if f_old - f <= 64 * np.finfo(float).eps * max(abs(f_old), abs(f), 1.0):
            return x, it
    warnings.warn(f"L-BFGS stopped at max_iter={max_iter} (largest gradient entry "
                  f"{np.max(np.abs(g)):.2e}, tol {tol:g})", ConvergenceWarning, stacklevel=2)
    return x, max_iter


def _direction(g: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray, float]]
               ) -> np.ndarray:
    """The L-BFGS search direction -H g from the stored (s, y, 1/s'y) pairs."""
    q = g.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        a = rho * vdot(s, q)
        q -= a * y
        alphas.append(a)
    if pairs:
        s, y, rho = pairs[-1]
        q *= 1.0 / (rho * vdot(y, y))
    for (s, y, rho), a in zip(pairs, reversed(alphas), strict=True):
        q += (a - rho * vdot(y, q)) * s
    return -q


class MultinomialLogisticRegression(ClassifierMixin, BaseEstimator):
    """L2-penalised multinomial logistic regression, scikit-learn's objective (mean
    weighted log-loss + ||W||^2 / (2 C sum(weights)), intercept not penalised), fitted with
    :func:`lbfgs`. With ``class_weight="balanced"`` rows are reweighted as scikit-learn's
    ``LogisticRegression`` does. Two classes get the symmetric two-class softmax, not
    scikit-learn's binomial form: the same model as that with C doubled. Deterministic:
    there is nothing random in the fit."""

    def __init__(self, C: float = 1.0, class_weight: str | None = None, max_iter: int = 2000,
                 tol: float = 1e-4, memory: int = 10) -> None:
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.tol = tol
        self.memory = memory

    def fit(self, X: Any, y: Any, sample_weight: np.ndarray | None = None
            ) -> MultinomialLogisticRegression:
        self.classes_, target = np.unique(np.asarray(y), return_inverse=True)
        n_classes, n_features = len(self.classes_), X.shape[1]
        if n_classes < 2:
            raise ValueError(f"need at least two classes to fit, got {list(self.classes_)}")
        weights = (np.ones(X.shape[0]) if sample_weight is None
                   else np.asarray(sample_weight, dtype=np.float64).copy())
        if self.class_weight is not None:
            weights *= compute_class_weight(self.class_weight, classes=self.classes_,
                                            y=np.asarray(y), sample_weight=weights)[target]
        loss = LinearModelLoss(HalfMultinomialLoss(n_classes=n_classes), fit_intercept=True)
        # CSR: scipy's own product loops (a dense X would go through BLAS); float64: the
        # compiled loss wants one dtype for all its inputs.
        X = sp.csr_matrix(X, dtype=np.float64)
        target = target.astype(np.float64)
        l2 = 1.0 / (self.C * float(np.add.reduce(weights)))
        penalised = np.ones((n_classes, n_features + 1), dtype=bool, order="F")
        penalised[:, -1] = False
        penalised = penalised.ravel(order="F")

        def objective(coef: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = loss.loss_gradient(coef, X, target, weights, l2_reg_strength=0.0)
            w = coef[penalised]
            grad[penalised] += l2 * w
            return value + 0.5 * l2 * vdot(w, w), grad

        coef, self.n_iter_ = lbfgs(objective, np.zeros(n_classes * (n_features + 1)),
                                   self.max_iter, self.tol, self.memory)
        coef = coef.reshape((n_classes, n_features + 1), order="F")
        self.coef_, self.intercept_ = coef[:, :-1].copy(), coef[:, -1].copy()
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]
