"""The batch featurizer: its word and char_wb counts and TF-IDF rows equal scikit-learn's
analyzers and vectorizers on messages the tests own (the ``messages`` fixture: never dataset
text, so nothing here skips), its lexicon block follows VADER, and loading a model for a
single prediction imports neither scikit-learn nor pandas."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from interaction_classifier.config import PATTERNS_DIR
from interaction_classifier.features import embeddings
from interaction_classifier.features import frozen as vectors
from interaction_classifier.features.blocks import Entries, select_vocabulary, word_ngrams
from interaction_classifier.features.embeddings import EmbeddingError, glove_files, load_glove
from interaction_classifier.features.featurizer import TextFeaturizer
from interaction_classifier.features.frozen import WordVectors
from interaction_classifier.features.terms import analyse, lexicon_scores
from interaction_classifier.text.cues import CueMatcher
from interaction_classifier.text.tokenrules import NEGATION_SUFFIX
from interaction_classifier.text.tokens import encode

EXTRA = ["", "!!!", "😀 👍", "a" * 3000, "a b", "x  \t y\n\nz", "not bad, not bad at all"]


def _sklearn(analyzer: str, ngram_range: tuple[int, int], docs: list[str],
             vocabulary: dict[str, int], idf: np.ndarray | None = None) -> sp.csr_matrix:
    """scikit-learn's counts (or, with ``idf``, sublinear TF-IDF rows) over ``vocabulary``."""
    params = {"analyzer": analyzer, "lowercase": False, "ngram_range": ngram_range,
              "vocabulary": sorted(vocabulary, key=vocabulary.__getitem__)}
    if analyzer == "word":
        params["token_pattern"] = r"\S+"
    if idf is None:
        return CountVectorizer(**params).fit(docs).transform(docs)
    vec = TfidfVectorizer(**params, sublinear_tf=True).fit(docs)
    vec.idf_ = idf
    return vec.transform(docs)


@pytest.mark.parametrize(("mark_negation", "char_surface", "embedding_weight"),
                         [(False, False, 0.0), (True, False, 0.0), (False, True, 0.0),
                          (True, True, 2.0)])
def test_blocks_equal_sklearn_analyzers(messages, monkeypatch, mark_negation: bool,
                                        char_surface: bool, embedding_weight: float) -> None:
    monkeypatch.setattr(vectors, "WORD_CACHE_SIZE", 50)  # the cache starts afresh often
    texts = messages[:1500]
    featurizer = TextFeaturizer(word_min_df=1, char_min_df=1, char_max_features=20000,
                                lexicon_weight=3.0, mark_negation=mark_negation,
                                char_surface=char_surface, embedding_weight=embedding_weight,
                                embedding_top_words=1000)
    featurizer.set_matcher(CueMatcher(PATTERNS_DIR)).fit(texts[:1000])
    frozen = featurizer.freeze()
    texts += EXTRA
    X, cues = frozen.transform_with_cues(texts)
    t = analyse(encode(texts), mark_negation, char_surface)
    normalised = t.doc_strings(t.terms, t.term_names)
    chars = t.doc_strings(t.chars, t.char_words)
    assert any(NEGATION_SUFFIX in d for d in normalised) == mark_negation
    assert (chars != [d.replace(NEGATION_SUFFIX, "") for d in normalised]) == char_surface
    for block, docs in ((frozen.word, normalised), (frozen.char, chars)):
        reference = _sklearn(block.analyzer, block.ngram_range, docs, block.vocabulary)
        assert reference.nnz > 0
        assert abs(block.counts(t).tocsr() - reference).sum() == 0  # exactly the same counts
        rows = _sklearn(block.analyzer, block.ngram_range, docs, block.vocabulary, block.idf)
        assert np.abs((block.transform(t).tocsr() - rows).toarray()).max() < 1e-6
    assert X.shape == (len(texts), len(featurizer.feature_names())) and len(cues) == len(texts)
    names = featurizer.feature_names()
    lex = names.index("lex:pos")
    lexicon = X[:, lex: lex + 4].toarray() / featurizer.lexicon_weight
    assert np.allclose(lexicon, lexicon_scores(t), atol=1e-6)
    emb = [i for i, n in enumerate(names) if n.startswith("emb:")]
    assert len(emb) == (50 if embedding_weight else 0)
    if emb:
        assert emb == list(range(lex + 4, len(names)))
        norms = np.linalg.norm(X[:, emb].toarray(), axis=1)
        assert np.allclose(norms[norms > 0], embedding_weight, atol=1e-3)
        assert (norms > 0).mean() > 0.9
    assert featurizer.transform([]).shape == (0, X.shape[1])


def test_a_batch_and_its_single_texts_get_the_same_rows(messages) -> None:
    texts = messages[:200] + EXTRA
    frozen = TextFeaturizer(word_min_df=1, char_min_df=1, lexicon_weight=3.0,
                            mark_negation=True, char_surface=True, embedding_weight=2.0,
                            embedding_top_words=1000).set_matcher(
        CueMatcher(PATTERNS_DIR)).fit(texts).freeze()
    batch, cues = frozen.transform_with_cues(texts)
    for i, text in enumerate(texts):
        one, one_cues = frozen.transform_with_cues([text])
        row = batch[i]
        assert one.indices.tolist() == row.indices.tolist()  # same order: same float sums
        assert one.data.tolist() == row.data.tolist() and one_cues[0] == cues[i]


def test_lexicon_block_is_vader_on_plain_lexicon_text() -> None:
    # Texts VADER scores with its lexicon, negation and "!"/"?" rules only (no booster,
    # capitals or "but"): the weighted columns give its scores.
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    texts = ["good", "not good", "bad!!", "the food was good and the staff friendly",
             "terrible service, never again", "is it good??", "ok"]
    scores = lexicon_scores(analyse(encode(texts), True, True))
    for text, row in zip(texts, scores, strict=True):
        expected = vader.polarity_scores(text)
        assert np.allclose(row, [expected[k] for k in ("pos", "neg", "neu", "compound")],
                           atol=2e-3), text


def test_lexicon_scores_of_one_text_equal_its_row_in_a_batch(messages) -> None:
    # one text is scored on Python floats (a single predict()), a batch with numpy
    texts = [*messages[:300], *EXTRA, "good!!!!!!", "is it bad???? or good??", "not great"]
    batch = lexicon_scores(analyse(encode(texts), True, True))
    assert np.abs(batch).sum() > 0
    for i, text in enumerate(texts):
        alone = lexicon_scores(analyse(encode([text]), True, True))
        assert alone.dtype == batch.dtype and alone.tolist() == batch[i: i + 1].tolist(), text


def test_lexicon_block_agrees_with_vader_on_messages(messages) -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    ours = lexicon_scores(analyse(encode(messages), True, True))[:, 3]
    theirs = np.array([vader.polarity_scores(t)["compound"] for t in messages])
    sign = float(np.mean(np.sign(np.round(ours, 2)) == np.sign(np.round(theirs, 2))))
    corr = float(np.corrcoef(ours, theirs)[0, 1])
    print(f"compound sign agreement {sign:.3f}, correlation {corr:.3f}")
    assert sign > 0.85 and corr > 0.85


def test_word_ngrams_stay_inside_a_text() -> None:
    at, grams, strings = word_ngrams(np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1]),
                                     ["a", "b"], 3, (1, 2))
    assert strings == ["a", "b", "a b"]
    counts = Entries.summed(at, grams, (3, len(strings))).tocsr().toarray()
    assert counts.tolist() == [[1, 1, 1], [1, 1, 1], [0, 0, 0]]
    at, grams, strings = word_ngrams(np.array([0, 1]), np.array([0, 1]), ["a", "b"], 2, (2, 2))
    assert strings == [] and len(at) == len(grams) == 0


def test_single_prediction_imports_neither_sklearn_nor_pandas() -> None:
    code = ("import sys; from interaction_classifier import predict; predict('my card is gone');"
            "print(sorted(m for m in ('sklearn', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "[]"


def test_word_vector_rows_are_scaled_means_of_known_words() -> None:
    vectors = WordVectors({"good": 0, "bad": 1, "day": 2},
                          np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float16), weight=2.0)
    t = analyse(encode(["good day unknownword", "nothing known here"]), False, True)
    rows = vectors.mean_vectors(t).tocsr().toarray()
    assert np.allclose(rows[0], 2.0 * np.array([2, 1]) / np.sqrt(5))
    assert not rows[1].any()


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
    t = analyse(encode(texts), False, True)
    for row, surface in zip(emb, t.doc_strings(t.forms, t.form_names), strict=True):
        ids = [lookup[w] for w in surface.split() if w in kept]
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
    t = analyse(encode(texts), False, False)
    rows = char.transform(t).tocsr().toarray()
    monkeypatch.setattr(vectors, "WORD_CACHE_SIZE", 2)
    char.__dict__.pop("_word_columns")
    assert np.array_equal(char.transform(t).tocsr().toarray(), rows)
    assert len(char.__dict__["_word_columns"]) <= 2
    assert "_word_columns" not in char.__getstate__()


def test_vocabulary_limit_breaks_ties_alphabetically(messages) -> None:
    # The same corpus must give the same vocabulary on every CPU: ties at the cut are broken
    # by the term itself (scikit-learn's max_features ranks with an unstable argsort whose
    # tie order follows the CPU's SIMD sort).
    texts = messages[:800]
    counts = CountVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False,
                             ngram_range=(1, 2))
    X = counts.fit_transform(texts).tocsr()
    names = list(counts.get_feature_names_out())
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(len(names))  # the column order must not matter either
    coo = X[:, shuffled].tocoo()
    vocabulary, idf = select_vocabulary(Entries(coo.row, coo.col, coo.data, coo.shape),
                                        [names[j] for j in shuffled], 1, 3000)
    totals = dict(zip(names, np.asarray(X.sum(axis=0)).ravel(), strict=True))
    kept = set(vocabulary)
    cut = min(totals[w] for w in kept)
    assert sum(v == cut for v in totals.values()) > sum(totals[w] == cut for w in kept) > 0
    assert {w for w, v in totals.items() if v > cut} <= kept
    tied = sorted(w for w, v in totals.items() if v == cut)
    assert sorted(w for w in kept if totals[w] == cut) == tied[: len(kept) - sum(
        1 for w in kept if totals[w] > cut)]
    assert list(vocabulary) == sorted(vocabulary)  # columns in alphabetical order
    reference = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False,
                                ngram_range=(1, 2), vocabulary=list(vocabulary)).fit(texts)
    assert np.allclose(idf, reference.idf_)
