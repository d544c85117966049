"""Heads fitted without some feature blocks, on domain-augmented features, with per-head
weights, and their temperatures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from threadpoolctl import threadpool_limits

from interaction_classifier.training.fit import (
    augment,
    domain_flags,
    fit_head,
    fit_temperature,
    head_columns,
    stacking_proba,
    weighted_log_loss,
)
from interaction_classifier.training.weights import head_weights


def test_head_is_scikit_learns_weighted_balanced_optimum() -> None:
    """The head is LogisticRegression's objective (sample weights, balanced classes,
    unpenalised intercept) at its optimum: a tightly converged independent fit agrees, and
    the head predicts what that estimator predicts."""
    X, y = make_classification(1500, 40, n_informative=12, n_classes=4, random_state=3)
    y = np.array(list("abcd"))[y]
    w = np.random.default_rng(3).uniform(0.1, 3.0, len(y))
    X = sp.csr_matrix(X)
    head = fit_head("h", X, y, 0.5, "balanced", 5000, w)
    ref = LogisticRegression(C=0.5, class_weight="balanced", tol=1e-10,
                             max_iter=5000).fit(X, y, sample_weight=w)
    assert head.classes == list("abcd") and head.coef.shape == (40, 4)
    assert np.abs(head.coef - ref.coef_.T).max() < 2e-3  # default tol 1e-4 stops near it
    assert np.abs(head.proba(X) - ref.predict_proba(X)).max() < 1e-3
    predicted = np.array(head.classes)[head.logits(X).argmax(axis=1)]
    assert (predicted == ref.predict(X)).mean() >= 0.995  # a near-tie may flip
    unweighted = fit_head("h", X, y, 0.5, None, 5000)
    assert np.abs(unweighted.coef - head.coef).max() > 1e-2  # the weights are used


def test_fit_does_not_depend_on_the_callers_blas_threads() -> None:
    """The fit runs on one BLAS thread whatever the caller set, so the same inputs give the
    same bits (OpenBLAS splits long dot products between its threads, changing rounding)."""
    X, y = make_classification(600, 3000, n_informative=30, n_classes=4, random_state=5)
    X = sp.csr_matrix(np.where(np.abs(X) > 1.5, X, 0.0))
    fits = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            fits.append(fit_head("h", X, y, 4.0, "balanced", 100))
    assert fits[0].coef.tobytes() == fits[1].coef.tobytes()
    assert fits[0].intercept.tobytes() == fits[1].intercept.tobytes()


def test_head_columns_drop_named_blocks_only() -> None:
    names = ["w:a", "w:b", "c:ab", "lex:pos", "emb:0", "emb:1"]
    assert head_columns(names, []) is None
    assert list(head_columns(names, ["emb"])) == [0, 1, 2, 3]
    assert list(head_columns(names, ["emb", "lex"])) == [0, 1, 2]
    with pytest.raises(ValueError, match="embedding"):
        head_columns(names, ["embedding"])


def test_excluded_blocks_get_zero_weight_and_the_rest_fits_as_alone() -> None:
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c"], size=300)
    informative = (y[:, None] == np.array(["a", "b", "c"])).astype(float)
    X = sp.csr_matrix(np.hstack([informative + rng.normal(0, 0.5, (300, 3)),
                                 informative * 2.0]))  # the last block would dominate
    columns = np.arange(3)
    head = fit_head("h", X, y, 1.0, None, 500, columns=columns)
    alone = fit_head("h", X[:, columns], y, 1.0, None, 500)
    assert head.coef.shape == (6, 3)
    assert not head.coef[3:].any()
    assert np.allclose(head.coef[:3], alone.coef) and np.allclose(head.intercept, alone.intercept)
    assert np.allclose(head.logits(X), alone.logits(X[:, columns]))


def test_domain_adapted_head_keeps_the_shared_copy_of_an_augmented_fit() -> None:
    rng = np.random.default_rng(1)
    n = 600
    y = rng.choice(["a", "b", "c"], size=n)
    onehot = (y[:, None] == np.array(["a", "b", "c"])).astype(float)
    domain = (np.arange(n) < n // 3).astype(float)
    quirk = onehot[:, :1] * (1.0 - domain)[:, None]  # predicts "a" off the domain only
    X = sp.csr_matrix(np.hstack([onehot + rng.normal(0, 1.0, (n, 3)), quirk]))
    Z = augment(X, domain)
    assert Z.shape == (n, 12)
    assert Z[: n // 3, 8:].nnz == 0 and Z[n // 3:, 4:8].nnz == 0  # each row in one copy
    assert np.allclose(Z[:, :4].toarray(), X.toarray())
    adapted = fit_head("h", X, y, 1.0, None, 500, domain=domain)
    on_augmented = fit_head("h", Z, y, 1.0, None, 500)
    plain = fit_head("h", X, y, 1.0, None, 500)
    assert adapted.coef.shape == plain.coef.shape == (4, 3)
    assert np.allclose(adapted.coef, on_augmented.coef[:4])
    assert np.allclose(adapted.intercept, on_augmented.intercept)
    assert not np.allclose(adapted.coef, plain.coef, atol=1e-2)


def test_domain_flags_split_rows_by_source_prefix() -> None:
    rows = pd.DataFrame({"source": ["twcs", "written:acts", "banking77", "reviews-yelp"]})
    assert domain_flags(rows, []) is None
    assert list(domain_flags(rows, ["twcs", "written"])) == [1.0, 1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="split"):
        domain_flags(rows, ["nosuchsource"])


def test_head_weights_override_origin_weights_per_head_only() -> None:
    rows = pd.DataFrame({"label_origin": ["hand", "mapping", "mapping+rule", "written"],
                         "rule_ids": ["", "", "journey_stage=r1", ""],
                         "source": ["twcs", "banking77", "clinc150", "written:stages"]})
    mcfg = {"origin_weights": {"hand": 3.0, "written": 2.0, "mapping": 1.0, "rule": 0.5},
            "head_origin_weights": {"journey_stage": {"mapping": 0.1, "rule": 0.05}},
            "source_weights": {"journey_stage": {"twcs": 2.0}}}
    assert head_weights(rows, "journey_stage", mcfg).tolist() == [6.0, 0.1, 0.05, 2.0]
    # another head keeps the shared origin weights; mapping+rule is a mapping label for it
    assert head_weights(rows, "sentiment", mcfg).tolist() == [3.0, 1.0, 1.0, 2.0]


def test_temperature_is_fitted_on_the_weighted_rows() -> None:
    rng = np.random.default_rng(2)
    y = rng.choice(["a", "b"], size=400)
    X = sp.csr_matrix((y[:, None] == np.array(["a", "b"])).astype(float)
                      + rng.normal(0, 0.3, (400, 2)))
    head = fit_head("h", X, y, 10.0, None, 500)
    noisy = y.copy()
    noisy[:200] = rng.choice(["a", "b"], size=200)  # the first half's labels are noise
    clean_weights = np.r_[np.zeros(200), np.ones(200)]
    t_all = fit_temperature(head, X, noisy)
    t_clean = fit_temperature(head, X, noisy, clean_weights)
    assert t_clean == pytest.approx(fit_temperature(head, X[200:], noisy[200:]), rel=1e-3)
    assert t_all > 1.5 * t_clean  # noisy labels call for softer probabilities


def test_weighted_log_loss_is_scikit_learns_log_loss() -> None:
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 3, (200, 3))
    index = rng.integers(0, 3, 200)
    w = rng.uniform(0, 2, 200)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert weighted_log_loss(logits, index, w) == pytest.approx(
        log_loss(index, proba, sample_weight=w, labels=[0, 1, 2]), rel=1e-9)


def test_temperature_minimises_the_weighted_log_loss_and_scales_the_proba() -> None:
    rng = np.random.default_rng(6)
    y = rng.choice(["a", "b", "c"], size=300)
    X = sp.csr_matrix((y[:, None] == np.array(["a", "b", "c"])).astype(float)
                      + rng.normal(0, 0.6, (300, 3)))
    head = fit_head("h", X, y, 50.0, None, 500)
    w = rng.uniform(0.5, 2.0, 300)
    head.temperature = fit_temperature(head, X, y, w)
    index = np.array([head.classes.index(v) for v in y])
    logits = head.logits(X)
    best = weighted_log_loss(logits / head.temperature, index, w)
    for t in (0.9, 0.97, 1.03, 1.1):
        assert weighted_log_loss(logits / (head.temperature * t), index, w) > best
    proba = stacking_proba(head, X)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.allclose(np.log(proba[:, 0] / proba[:, 1]),
                       (logits[:, 0] - logits[:, 1]) / head.temperature, atol=1e-5)
