"""The fast TF-IDF rows equal scikit-learn's transform on real messages."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from interaction_classifier import load_model
from interaction_classifier.data import load
from interaction_classifier.text import normalise_doc, parse_many


def test_fast_rows_match_sklearn(shared_data) -> None:
    featurizer = load_model().model.featurizer
    texts = [*load("twcs")["text"].tolist()[:1500], "", "!!!", "😀 👍", "a" * 3000]
    X, cues = featurizer.transform_with_cues(texts)
    normalised = [normalise_doc(d) for d in parse_many(texts)]
    reference = sp.hstack([featurizer.word_.transform(normalised),
                           featurizer.char_.transform(normalised)], format="csr")
    assert X.shape == (len(texts), len(featurizer.feature_names()))
    assert len(cues) == len(texts)
    assert np.abs((X[:, : reference.shape[1]] - reference).toarray()).max() < 1e-5
    lexicon = X[:, -4:].toarray() / featurizer.lexicon_weight
    assert np.allclose(lexicon, featurizer.lexicon_scores(texts), atol=1e-6)
    assert featurizer.transform([]).shape == (0, X.shape[1])
