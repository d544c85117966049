"""The ordinal urgency fit: recovers an ordering, respects the act constraint, is calibrated."""

from __future__ import annotations

import numpy as np

from interaction_classifier.models.model import ordinal_proba
from interaction_classifier.training.urgency import fit_ordinal


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
