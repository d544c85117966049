"""The heads' logistic regression: scikit-learn's optimum, reached without BLAS rounding."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from interaction_classifier.training.solver import MultinomialLogisticRegression, lbfgs, vdot


@pytest.fixture(scope="module")
def problem() -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    X, y = make_classification(1500, 40, n_informative=12, n_classes=4, random_state=3)
    weights = np.random.default_rng(3).uniform(0.1, 3.0, len(y))
    return sp.csr_matrix(X.astype(np.float32)), np.array(list("abcd"))[y], weights


def test_reaches_scikit_learns_optimum(problem) -> None:
    """Same objective as LogisticRegression (weights, balanced classes, unpenalised
    intercept): both fitted tightly land on the same weights."""
    X, y, w = problem
    ours = MultinomialLogisticRegression(C=0.5, class_weight="balanced", tol=1e-9,
                                         max_iter=5000).fit(X, y, sample_weight=w)
    ref = LogisticRegression(C=0.5, class_weight="balanced", tol=1e-10,
                             max_iter=5000).fit(X.astype(np.float64), y, sample_weight=w)
    assert list(ours.classes_) == list(ref.classes_)
    assert np.abs(ours.coef_ - ref.coef_).max() < 1e-5
    assert np.abs(ours.intercept_ - ref.intercept_).max() < 1e-5
    assert (ours.predict(X) == ref.predict(X)).all()


def test_weights_do_not_depend_on_blas_rounding() -> None:
    """A BLAS kernel's summation order, so the last bits of a dot product, depends on the
    CPU; here on the thread count, which threadpoolctl can change in-process: OpenBLAS
    splits a long dot product between its threads. The fit must give the same bits with one
    BLAS thread and with two (it does not when its inner products are BLAS's)."""
    X, y = make_classification(600, 6000, n_informative=30, n_classes=4, random_state=5)
    X = sp.csr_matrix(np.where(np.abs(X) > 1.5, X, 0.0))  # sparse, ~13% filled
    n_coef = 4 * (X.shape[1] + 1)
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(2, 20, n_coef))
    with threadpool_limits(1, user_api="blas"):
        one_thread = [float(u @ v) for u, v in zip(a, b, strict=True)]
        single = MultinomialLogisticRegression(C=4.0, max_iter=60).fit(X, y)
    with threadpool_limits(2, user_api="blas"):
        two_threads = [float(u @ v) for u, v in zip(a, b, strict=True)]
        double = MultinomialLogisticRegression(C=4.0, max_iter=60).fit(X, y)
    assert one_thread != two_threads, "BLAS gives the same bits on 1 and 2 threads here"
    assert single.n_iter_ == double.n_iter_ > 20
    assert np.array_equal(single.coef_, double.coef_)
    assert np.array_equal(single.intercept_, double.intercept_)


def test_stops_at_the_gradient_tolerance(problem) -> None:
    """A looser tolerance stops earlier, and a tiny iteration budget is respected."""
    X, y, w = problem
    loose = MultinomialLogisticRegression(C=1.0, tol=1e-2).fit(X, y, w)
    tight = MultinomialLogisticRegression(C=1.0, tol=1e-6).fit(X, y, w)
    assert loose.n_iter_ < tight.n_iter_
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        assert MultinomialLogisticRegression(C=1.0, max_iter=3).fit(X, y, w).n_iter_ == 3


def test_one_class_is_a_clear_error(problem) -> None:
    X, y, _ = problem
    with pytest.raises(ValueError, match="at least two classes"):
        MultinomialLogisticRegression().fit(X, np.full(len(y), "a"))


def test_lbfgs_minimises_a_convex_quadratic() -> None:
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 30))
    H = A @ A.T + np.eye(30)
    b = rng.normal(size=30)
    x, n_iter = lbfgs(lambda x: (0.5 * x @ H @ x - b @ x, H @ x - b), np.zeros(30),
                      max_iter=1000, tol=1e-10)
    assert np.allclose(x, np.linalg.solve(H, b), atol=1e-8)
    assert 0 < n_iter < 1000


def test_vdot_is_the_inner_product() -> None:
    a, b = np.arange(1000.0), np.linspace(-1, 1, 1000)
    assert vdot(a, b) == pytest.approx(float(a @ b), rel=1e-12)
