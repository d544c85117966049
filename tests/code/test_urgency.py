"""The ordinal urgency fit: recovers an ordering, respects the act constraint, is calibrated."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from interaction_classifier.models.model import ordinal_proba
from interaction_classifier.training.urgency import fit_ordinal, ordinal_nll


def _data(seed: int = 0, n: int = 3000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    true_w = np.array([2.0, -1.0, 0.0, 0.5, 1.0])
    eta = X @ true_w
    cuts = np.array([-1.5, 0.0, 1.5])
    p = ordinal_proba(eta, cuts)
    y = np.array([rng.choice(4, p=row) for row in p])
    return X, y, true_w


def test_probabilities_are_valid() -> None:
    p = ordinal_proba(np.linspace(-5, 5, 11), np.array([-1.0, 0.0, 2.0]))
    assert np.allclose(p.sum(axis=1), 1.0)
    assert (p >= 0).all()
    assert p[0].argmax() == 0 and p[-1].argmax() == 3


def test_fit_recovers_weights_and_respects_order() -> None:
    X, y, true_w = _data()
    w, cuts = fit_ordinal(X, y, np.ones(len(y)), C=100.0, ordered=(2, 3, 4))
    assert np.all(np.diff(cuts) > 0)
    assert w[2] < w[3] < w[4]
    assert abs(w[0] - true_w[0]) < 0.3 and abs(w[1] - true_w[1]) < 0.3


def test_constraint_binds_when_data_disagree() -> None:
    X, y, _ = _data(seed=1)
    # ask for feature 0 (strongly positive) to rank BELOW feature 1 (negative)
    w, _ = fit_ordinal(X, y, np.ones(len(y)), C=100.0, ordered=(2, 0, 1))
    assert w[2] < w[0] < w[1]


def test_likelihood_and_its_gradient() -> None:
    """The fit's objective is the weighted NLL of ``ordinal_proba`` (the prediction path),
    and its analytic gradient agrees with finite differences in eta and in the cuts."""
    rng = np.random.default_rng(3)
    eta, cuts = rng.normal(0, 2, 40), np.array([-1.0, 0.2, 1.3])
    y, w = rng.integers(0, 4, 40), rng.uniform(0.2, 2.0, 40)
    nll, grad_eta, grad_cuts = ordinal_nll(eta, cuts, y, w)
    p = ordinal_proba(eta, cuts)[np.arange(40), y]
    assert nll == pytest.approx(-np.sum(w * np.log(p)) / w.sum(), rel=1e-12)
    assert np.allclose(grad_eta, approx_fprime(eta, lambda e: ordinal_nll(e, cuts, y, w)[0],
                                               1e-7), atol=1e-6)
    assert np.allclose(grad_cuts, approx_fprime(cuts, lambda c: ordinal_nll(eta, c, y, w)[0],
                                                1e-7), atol=1e-6)


def test_fit_reaches_the_optimum_whatever_the_parametrisation() -> None:
    """Two orderings the data already satisfy reparametrise different weights, yet the
    constraint binds in neither: the fits must land on the same unconstrained optimum."""
    X, y, _ = _data(seed=2)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(y))
    w_a, cuts_a = fit_ordinal(X, y, w, C=10.0, ordered=(2, 3, 4))  # 0 < 0.5 < 1
    w_b, cuts_b = fit_ordinal(X, y, w, C=10.0, ordered=(1, 2, 3))  # -1 < 0 < 0.5
    assert np.abs(w_a - w_b).max() < 1e-4 and np.abs(cuts_a - cuts_b).max() < 1e-4
