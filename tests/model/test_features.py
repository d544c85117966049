"""The frozen featurizer a model keeps equals scikit-learn's vectorizers on real messages,
and loading a model for a single prediction imports neither scikit-learn nor pandas."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from interaction_classifier.config import DATA_DIR
from interaction_classifier.cues import CueMatcher
from interaction_classifier.data import load
from interaction_classifier.features import TextFeaturizer
from interaction_classifier.text import (
    NEGATION_SUFFIX,
    normalise_doc,
    parse_many,
    strip_negation,
)


@pytest.mark.parametrize("mark_negation", [False, True])
def test_frozen_rows_match_sklearn(shared_data, mark_negation: bool) -> None:
    texts = load("twcs")["text"].tolist()[:1500]
    featurizer = TextFeaturizer(word_min_df=1, char_min_df=1, char_max_features=20000,
                                lexicon_weight=3.0, mark_negation=mark_negation)
    featurizer.set_matcher(CueMatcher(DATA_DIR / "patterns")).fit(texts[:1000])
    texts += ["", "!!!", "😀 👍", "a" * 3000, "a b", "x  \t y\n\nz", "not bad, not bad at all"]
    X, cues = featurizer.freeze().transform_with_cues(texts)
    normalised = [normalise_doc(d, mark_negation) for d in parse_many(texts)]
    assert any(NEGATION_SUFFIX in t for t in normalised) == mark_negation
    reference = sp.hstack([featurizer.word_.transform(normalised),
                           featurizer.char_.transform([strip_negation(t) for t in normalised])],
                          format="csr")
    assert X.shape == (len(texts), len(featurizer.feature_names()))
    assert reference.nnz > 0 and len(cues) == len(texts)
    assert np.abs((X[:, : reference.shape[1]] - reference).toarray()).max() < 1e-5
    assert featurizer.feature_names()[: reference.shape[1]] == [
        f"{p}:{t}" for p, vec in (("w", featurizer.word_), ("c", featurizer.char_))
        for t in vec.get_feature_names_out()]
    lexicon = X[:, -4:].toarray() / featurizer.lexicon_weight
    assert np.allclose(lexicon, featurizer.freeze().lexicon_scores(texts), atol=1e-6)
    assert featurizer.transform([]).shape == (0, X.shape[1])


def test_single_prediction_imports_neither_sklearn_nor_pandas() -> None:
    code = ("import sys; from interaction_classifier import predict; predict('my card is gone');"
            "print(sorted(m for m in ('sklearn', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "[]"
