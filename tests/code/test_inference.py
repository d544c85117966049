"""The inference shortcuts equal the plain computations they replace: feature rows without a
scipy matrix, all heads in one product, one pass for lemmas and surface forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from interaction_classifier.features.frozen import FeatureRows
from interaction_classifier.models.model import LinearHead, StackedHeads, softmax
from interaction_classifier.text.pipeline import doc_forms, parse


def _rows(dense: np.ndarray) -> FeatureRows:
    X = sp.csr_matrix(dense.astype(np.float32))
    return FeatureRows(X.data, X.indices, X.indptr, X.shape[1])


def _heads(rng: np.random.Generator, n_features: int) -> dict[str, LinearHead]:
    return {name: LinearHead(name, [f"{name}{j}" for j in range(k)],
                             rng.normal(size=(n_features, k)).astype(np.float32),
                             rng.normal(size=k).astype(np.float32), temperature=t)
            for name, k, t in (("a", 3, 1.0), ("b", 5, 1.7), ("c", 2, 0.6))}


@pytest.mark.parametrize("n_rows", [1, 7])
def test_feature_rows_dot_equals_the_dense_product(n_rows: int) -> None:
    rng = np.random.default_rng(n_rows)
    dense = rng.normal(size=(n_rows, 40)) * (rng.random((n_rows, 40)) < 0.2)
    dense[-1] = 0.0  # an empty row (no known feature) must give zeros, not its neighbour's
    weights = rng.normal(size=(40, 6)).astype(np.float32)
    rows = _rows(dense)
    assert np.allclose(rows.dot(weights), dense.astype(np.float32) @ weights, atol=1e-5)
    assert np.allclose(rows.tocsr().toarray(), dense.astype(np.float32))


@pytest.mark.parametrize("n_rows", [0, 1, 9])
def test_stacked_heads_equal_each_head_alone(n_rows: int) -> None:
    rng = np.random.default_rng(3)
    heads = _heads(rng, 30)
    dense = rng.normal(size=(n_rows, 30)) * (rng.random((n_rows, 30)) < 0.3)
    rows = _rows(dense)
    stacked = StackedHeads(heads).proba(rows)
    assert list(stacked) == list(heads)
    for name, head in heads.items():
        alone = head.proba(rows.tocsr())
        assert stacked[name].shape == (n_rows, len(head.classes))
        assert np.allclose(stacked[name], alone, atol=1e-6)
        if n_rows:
            assert np.allclose(stacked[name].sum(axis=1), 1.0, atol=1e-6)


def test_stacked_softmax_is_stable_for_large_logits() -> None:
    head = LinearHead("a", ["x", "y"], np.array([[1000.0, -1000.0]], dtype=np.float32),
                      np.zeros(2, dtype=np.float32))
    p = StackedHeads({"a": head}).proba(_rows(np.array([[1.0]])))["a"]
    assert np.isfinite(p).all() and np.allclose(p, softmax(np.array([[1000.0, -1000.0]])))


def test_doc_forms_marks_negation_in_the_lemmas_only_and_keeps_tokens_aligned() -> None:
    lemmas, forms = doc_forms(parse("I don't like it!! :( never again, but the staff were nice"),
                              mark_negation=True)
    assert lemmas == "i do not like_NEG it_NEG ! ! :( never again_NEG but the staff be nice"
    assert forms == "i do n't like it ! ! :( never again but the staff were nice"
    assert doc_forms(parse("Not. Good. At all"), True) == ("not good at all",) * 2
    assert doc_forms(parse(""), True) == ("", "")
