"""The ordinal urgency fit: recovers an ordering, respects the act constraint, is calibrated."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn.metrics import f1_score

from interaction_classifier.models.model import ordinal_proba
from interaction_classifier.training.urgency import fit_cutoffs, fit_ordinal, ordinal_nll, tier_f1

TIERS = ["low", "normal", "high", "critical"]
MIDPOINTS = {"critical": 0.83, "high": 0.5, "normal": 0.17}


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


def test_tier_f1_is_weighted_macro_f1() -> None:
    """The cut-off search's fast macro-F1 is scikit-learn's, a never-predicted tier at 0."""
    rng = np.random.default_rng(4)
    y, tier, w = rng.integers(0, 4, 300), rng.integers(0, 3, 300), rng.uniform(0.5, 3.0, 300)
    assert tier_f1(y, tier, w, 4) == pytest.approx(
        f1_score(y, tier, average="macro", labels=range(4), sample_weight=w, zero_division=0))


def _compressed_scores(seed: int = 5, n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Expected-tier scores as an ordinal model gives them: a rare top tier (5%) whose
    scores sit below the 0.83 midpoint, so fixed midpoints never predict it."""
    rng = np.random.default_rng(seed)
    y = rng.choice(4, size=n, p=[0.2, 0.5, 0.25, 0.05])
    centre = np.array([0.08, 0.35, 0.58, 0.70])[y]
    return np.clip(centre + rng.normal(0, 0.04, n), 0, 1), y


def test_fitted_cutoffs_bring_back_a_compressed_top_tier() -> None:
    score, y = _compressed_scores()
    w = np.ones(len(y))
    fitted = fit_cutoffs(score, y, w, TIERS, MIDPOINTS)
    assert list(fitted) == ["critical", "high", "normal"]
    assert fitted["critical"] > fitted["high"] > fitted["normal"]

    def f1(cutoffs: dict[str, float]) -> float:
        cuts = np.array([cutoffs[t] for t in TIERS[1:]])
        return tier_f1(y, np.searchsorted(cuts, score, side="right"), w, 4)

    assert (score >= 0.83).sum() == 0 and (score >= fitted["critical"]).sum() > 0
    assert f1(fitted) > f1(MIDPOINTS) + 0.15
    # on a second sample from the same distribution the gain holds (not fitted to noise)
    score2, y2 = _compressed_scores(seed=6)
    cuts = {k: np.array([d[t] for t in TIERS[1:]]) for k, d in (("fit", fitted),
                                                                  ("mid", MIDPOINTS))}
    assert (tier_f1(y2, np.searchsorted(cuts["fit"], score2, side="right"), w, 4)
            > tier_f1(y2, np.searchsorted(cuts["mid"], score2, side="right"), w, 4) + 0.15)


def test_fitted_cutoffs_keep_cutoffs_that_are_already_best() -> None:
    """Scores that the midpoints already split perfectly: the search never does worse than
    its start, and the weights count (a tier that weighs nothing does not move the cuts)."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 4, 400)
    score = np.array([0.05, 0.33, 0.67, 0.95])[y] + rng.uniform(-0.1, 0.1, 400)
    fitted = fit_cutoffs(score, y, np.ones(400), TIERS, MIDPOINTS)
    cuts = np.array([fitted[t] for t in TIERS[1:]])
    assert tier_f1(y, np.searchsorted(cuts, score, side="right"), np.ones(400), 4) == 1.0
