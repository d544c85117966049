"""A head fitted without some feature blocks: zero weight there, same fit elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from interaction_classifier.train import fit_head, head_columns


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
    head = fit_head("h", X, y, 1.0, None, 500, 0, columns=columns)
    alone = fit_head("h", X[:, columns], y, 1.0, None, 500, 0)
    assert head.coef.shape == (6, 3)
    assert not head.coef[3:].any()
    assert np.allclose(head.coef[:3], alone.coef) and np.allclose(head.intercept, alone.intercept)
    assert np.allclose(head.logits(X), alone.logits(X[:, columns]))
