"""The frozen featurizer a model keeps equals scikit-learn's vectorizers on messages the tests
own (the ``messages`` fixture: never dataset text, so nothing here skips), and loading a model
for a single prediction imports neither scikit-learn nor pandas."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from interaction_classifier.config import PATTERNS_DIR
from interaction_classifier.features import embeddings
from interaction_classifier.features import frozen as vectors
from interaction_classifier.features.embeddings import EmbeddingError, glove_files, load_glove
from interaction_classifier.features.featurizer import TextFeaturizer
from interaction_classifier.features.frozen import WordVectors
from interaction_classifier.text.cues import CueMatcher
from interaction_classifier.text.pipeline import (
    NEGATION_SUFFIX,
    normalise_doc,
    parse_many,
    strip_negation,
    surface_doc,
)


@pytest.mark.parametrize(("mark_negation", "char_surface", "embedding_weight"),
                         [(False, False, 0.0), (True, False, 0.0), (False, True, 0.0),
                          (True, True, 2.0)])
def test_frozen_rows_match_sklearn(messages, monkeypatch, mark_negation: bool,
                                   char_surface: bool, embedding_weight: float) -> None:
    monkeypatch.setattr(vectors, "WORD_CACHE_SIZE", 50)  # the cache starts afresh often
    texts = messages[:1500]
    featurizer = TextFeaturizer(word_min_df=1, char_min_df=1, char_max_features=20000,
                                lexicon_weight=3.0, mark_negation=mark_negation,
                                char_surface=char_surface, embedding_weight=embedding_weight,
                                embedding_top_words=1000)
    featurizer.set_matcher(CueMatcher(PATTERNS_DIR)).fit(texts[:1000])
    texts += ["", "!!!", "😀 👍", "a" * 3000, "a b", "x  \t y\n\nz", "not bad, not bad at all"]
    X, cues = featurizer.freeze().transform_with_cues(texts)
    docs = list(parse_many(texts))
    normalised = [normalise_doc(d, mark_negation) for d in docs]
    assert any(NEGATION_SUFFIX in t for t in normalised) == mark_negation
    chars = [surface_doc(d) if char_surface else strip_negation(t)
             for d, t in zip(docs, normalised, strict=True)]
    assert (chars != [strip_negation(t) for t in normalised]) == char_surface
    reference = sp.hstack([featurizer.word_.transform(normalised),
                           featurizer.char_.transform(chars)], format="csr")
    assert X.shape == (len(texts), len(featurizer.feature_names()))
    assert reference.nnz > 0 and len(cues) == len(texts)
    assert np.abs((X[:, : reference.shape[1]] - reference).toarray()).max() < 1e-5
    assert featurizer.feature_names()[: reference.shape[1]] == [
        f"{p}:{t}" for p, vec in (("w", featurizer.word_), ("c", featurizer.char_))
        for t in vec.get_feature_names_out()]
    names = featurizer.feature_names()
    lex = names.index("lex:pos")
    lexicon = X[:, lex: lex + 4].toarray() / featurizer.lexicon_weight
    assert np.allclose(lexicon, featurizer.freeze().lexicon_scores(texts), atol=1e-6)
    emb = [i for i, n in enumerate(names) if n.startswith("emb:")]
    assert len(emb) == (50 if embedding_weight else 0)
    if emb:
        assert emb == list(range(lex + 4, len(names)))
        norms = np.linalg.norm(X[:, emb].toarray(), axis=1)
        assert np.allclose(norms[norms > 0], embedding_weight, atol=1e-3)
        assert (norms > 0).mean() > 0.9
    assert featurizer.transform([]).shape == (0, X.shape[1])


def test_single_prediction_imports_neither_sklearn_nor_pandas() -> None:
    code = ("import sys; from interaction_classifier import predict; predict('my card is gone');"
            "print(sorted(m for m in ('sklearn', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "[]"


def test_word_vector_rows_are_scaled_means_of_known_words() -> None:
    vectors = WordVectors({"good": 0, "bad": 1, "day": 2},
                          np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float16), weight=2.0)
    idx, val = vectors.row("good day unknownword", start=10)
    assert list(idx) == [10, 11]
    assert np.allclose(val, 2.0 * np.array([2, 1]) / np.sqrt(5))
    assert np.isclose(np.linalg.norm(val), 2.0)
    assert len(vectors.row("nothing known here", 0)[0]) == 0


def test_vocabularies_pickle_as_one_string_and_old_pickles_still_load() -> None:
    texts = ["my order never came", "order came late, never again", "good day"]
    frozen = TextFeaturizer(word_min_df=1, char_min_df=1, use_cues=False, char_surface=True,
                            embedding_weight=2.0, embedding_top_words=10).fit(texts).freeze()
    again = pickle.loads(pickle.dumps(frozen))
    for block in ("word", "char"):
        state = getattr(frozen, block).__getstate__()
        assert isinstance(state["terms"], str) and "vocabulary" not in state
        assert getattr(again, block).vocabulary == getattr(frozen, block).vocabulary
    assert again.embedding.index == frozen.embedding.index
    assert np.array_equal(again.transform(texts).toarray(), frozen.transform(texts).toarray())
    old = vectors.NgramVocabulary.__new__(vectors.NgramVocabulary)
    old.__setstate__({**frozen.word.__dict__})  # the layout pickled before packing
    assert old.vocabulary == frozen.word.vocabulary
    with pytest.raises(ValueError, match="exactly"):
        vectors.pack_terms({"a": 0, "b": 2})


def test_glove_block_matches_the_pinned_vectors(messages) -> None:
    texts = messages[:300]
    featurizer = TextFeaturizer(word_min_df=1, char_min_df=1, char_max_features=5000,
                                use_cues=False, char_surface=True, embedding_weight=2.0,
                                embedding_top_words=1000).fit(texts[:200])
    frozen = featurizer.freeze()
    words, matrix = load_glove()
    kept = frozen.embedding.index
    assert set(words[:1000]) <= kept.keys() and len(kept) < len(words)
    lookup = {w: i for i, w in enumerate(words)}
    X = frozen.transform(texts)
    emb = X[:, -matrix.shape[1]:].toarray()
    for row, doc in zip(emb, parse_many(texts), strict=True):
        ids = [lookup[t] for t in surface_doc(doc).split() if t in kept]
        if not ids:
            assert not row.any()
            continue
        mean = matrix[ids].mean(axis=0)
        assert np.allclose(row, 2.0 * mean / np.linalg.norm(mean), atol=2e-3)
    assert featurizer.feature_names()[-1] == f"emb:{matrix.shape[1] - 1}"


def test_glove_files_are_refused_when_their_digest_differs(monkeypatch) -> None:
    assert set(glove_files()) == {"vectors", "words"}
    name, digest = embeddings.FILES["words"]
    monkeypatch.setitem(embeddings.FILES, "words", (name, "0" * len(digest)))
    with pytest.raises(EmbeddingError, match="sha256"):
        glove_files()


def test_char_rows_do_not_depend_on_the_word_cache(monkeypatch) -> None:
    texts = ["my order never came", "order came late, never again", "the order is late"] * 3
    featurizer = TextFeaturizer(word_min_df=1, char_min_df=1, use_cues=False).fit(texts)
    char = featurizer.freeze().char
    rows = [char.row(t, 0) for t in texts]
    monkeypatch.setattr(vectors, "WORD_CACHE_SIZE", 2)
    char.__dict__.pop("_word_columns")
    for text, (idx, val) in zip(texts, rows, strict=True):
        again = char.row(text, 0)
        assert np.array_equal(again[0], idx) and np.allclose(again[1], val)
        assert len(char.__dict__["_word_columns"]) <= 2
    assert "_word_columns" not in char.__getstate__()


def test_vocabulary_limit_breaks_ties_alphabetically(messages) -> None:
    # The same corpus must give the same vocabulary on every CPU: scikit-learn's
    # max_features ranks with an unstable argsort whose tie order follows the CPU's SIMD
    # sort, so ties at the cut are broken here by the term itself.
    from sklearn.feature_extraction.text import TfidfVectorizer

    from interaction_classifier.features import featurizer as features

    texts = messages[:800]
    params = {"analyzer": "word", "ngram_range": (1, 2), "min_df": 1, "sublinear_tf": True,
              "dtype": np.float32}
    first = features.fit_tfidf(texts, 3000, **params)
    counts = TfidfVectorizer(**{**params, "sublinear_tf": False, "use_idf": False,
                                "norm": None}).fit(texts)  # raw counts, as ranked
    totals = dict(zip(counts.get_feature_names_out(),
                      np.asarray(counts.transform(texts).sum(axis=0)).ravel(), strict=True))
    kept = set(first.vocabulary_)
    cut = min(totals[t] for t in kept)
    assert sum(v == cut for v in totals.values()) > sum(totals[t] == cut for t in kept) > 0
    # Every term above the cut is in; at the cut, the alphabetically first ones.
    assert {t for t, v in totals.items() if v > cut} <= kept
    tied = sorted(t for t, v in totals.items() if v == cut)
    assert sorted(t for t in kept if totals[t] == cut) == tied[: len(kept) - sum(
        1 for t in kept if totals[t] > cut)]
    # Document order does not matter either (the counts, not the order they came in, decide).
    again = features.fit_tfidf(texts[::-1], 3000, **params)
    assert again.vocabulary_ == first.vocabulary_
    assert np.allclose(again.idf_, first.idf_)
