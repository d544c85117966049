"""Shared features: word and character TF-IDF over spaCy-normalised text, cue counts,
lexicon scores and (optionally) mean pretrained word vectors.

One featurizer serves every head so that a message is tokenised and vectorised once. The
lexicon block (VADER's pos/neg/neu/compound, ~15 us a message) carries sentiment knowledge
for words the training data never saw; it raised SemEval-2016 macro recall from 0.630 to
0.656 in the comparison recorded in
docs/experiments/round-01-sentiment-features-and-training-data.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from interaction_classifier.features.embeddings import fit_word_vectors
from interaction_classifier.features.frozen import FrozenFeaturizer, NgramVocabulary
from interaction_classifier.text.cues import Cue, CueMatcher
from interaction_classifier.text.pipeline import char_input, prepare_many


def fit_tfidf(docs: Sequence[str], max_features: int | None, **params: Any) -> TfidfVectorizer:
    """A TF-IDF vectorizer keeping the ``max_features`` most frequent n-grams, ties broken
    alphabetically. scikit-learn's own ``max_features`` ranks with an unstable argsort whose
    tie order depends on the CPU's SIMD sort (numpy 2), so the same corpus gave a different
    vocabulary on another machine (2,588 of 60,000 word n-grams) and a different model."""
    counting = {k: v for k, v in params.items() if k not in ("sublinear_tf", "dtype")}
    counter = CountVectorizer(**counting)
    counts = counter.fit_transform(docs)
    terms = counter.get_feature_names_out()  # alphabetical
    if max_features is not None and len(terms) > max_features:
        totals = np.asarray(counts.sum(axis=0)).ravel()
        keep = np.sort(np.argsort(-totals, kind="stable")[:max_features])
        terms = terms[keep]
    fixed = {k: v for k, v in params.items() if k != "min_df"}
    return TfidfVectorizer(vocabulary=list(terms), **fixed).fit(docs)


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """Word n-gram + char n-gram TF-IDF on normalised text, log-scaled cue counts, VADER
    scores and, with ``embedding_weight``, the mean GloVe vector (``embeddings.py``).

    Fitting uses scikit-learn's vectorizers; transforming (here and at inference) goes
    through the frozen form (``vectors.FrozenFeaturizer``) that the model keeps. Set the
    cue matcher before fitting so that the cue columns are known.
    """

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        word_min_df: int = 2,
        word_max_features: int | None = 60000,
        char_ngram_range: tuple[int, int] = (2, 5),
        char_min_df: int = 3,
        char_max_features: int | None = 80000,
        sublinear_tf: bool = True,
        use_cues: bool = True,
        lexicon_weight: float = 0.0,
        mark_negation: bool = False,
        char_surface: bool = False,
        embedding_weight: float = 0.0,
        embedding_top_words: int = 40000,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.word_min_df = word_min_df
        self.word_max_features = word_max_features
        self.char_ngram_range = char_ngram_range
        self.char_min_df = char_min_df
        self.char_max_features = char_max_features
        self.sublinear_tf = sublinear_tf
        self.use_cues = use_cues
        self.lexicon_weight = lexicon_weight
        self.mark_negation = mark_negation
        self.char_surface = char_surface
        self.embedding_weight = embedding_weight
        self.embedding_top_words = embedding_top_words

    def set_matcher(self, matcher: CueMatcher | None) -> TextFeaturizer:
        """Attach the cue matcher used for the cue features."""
        self.matcher_ = matcher
        if hasattr(self, "frozen_"):
            self.frozen_.set_matcher(matcher)
        return self

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("matcher_", None)  # spaCy objects: rebuilt from the pattern files
        return state

    def fit(self, texts: Sequence[str], y: object = None) -> TextFeaturizer:
        """Learn the vocabularies (and word vectors) and freeze them for inference; one parse
        per text."""
        return self.fit_normalised(*prepare_many(list(texts), self.mark_negation,
                                                 self.needs_surface))

    def fit_normalised(self, normalised: Sequence[str],
                       surface: Sequence[str] | None = None) -> TextFeaturizer:
        """``fit`` on already-normalised text (negation-marked when ``mark_negation``), so a
        search normalises a corpus only once; ``surface`` (``text.surface_doc``) is what the
        char block (with ``char_surface``) and the word vectors read."""
        if self.needs_surface and surface is None:
            raise ValueError("char_surface and embedding_weight need the surface forms")
        self.word_ = fit_tfidf(
            normalised, self.word_max_features, analyzer="word", token_pattern=r"\S+",
            lowercase=False, ngram_range=tuple(self.word_ngram_range),
            min_df=self.word_min_df, sublinear_tf=self.sublinear_tf, dtype=np.float32)
        self.char_ = fit_tfidf(
            [char_input(t, s, self.mark_negation) for t, s in zip(
                normalised, surface if self.char_surface else [None] * len(normalised),
                strict=True)],
            self.char_max_features, analyzer="char_wb", lowercase=False,
            ngram_range=tuple(self.char_ngram_range), min_df=self.char_min_df,
            sublinear_tf=self.sublinear_tf, dtype=np.float32)
        for vec in (self.word_, self.char_):
            vec.stop_words_ = None
        matcher = getattr(self, "matcher_", None)
        cue_names = matcher.feature_names() if self.use_cues else []
        embedding = fit_word_vectors(surface, self.embedding_weight, self.embedding_top_words) \
            if self.embedding_weight else None
        self.frozen_ = FrozenFeaturizer(
            NgramVocabulary.from_vectorizer(self.word_),
            NgramVocabulary.from_vectorizer(self.char_), cue_names,
            float(self.lexicon_weight), bool(self.mark_negation),
            bool(self.char_surface), embedding).set_matcher(matcher)
        return self

    @property
    def needs_surface(self) -> bool:
        """Whether a block reads the surface forms as well as the lemmas."""
        return bool(self.char_surface or self.embedding_weight)

    def freeze(self) -> FrozenFeaturizer:
        """What a model keeps: the fitted vocabularies and idf weights, no scikit-learn."""
        return self.frozen_

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Feature matrix (float32 CSR), one row per text."""
        return self.frozen_.transform(texts)

    def transform_with_cues(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[list[Cue]]]:
        """Features and the fired cues of each text, parsing every text exactly once."""
        return self.frozen_.transform_with_cues(texts)

    def transform_normalised(self, normalised: Sequence[str],
                             surface: Sequence[str] | None = None) -> sp.csr_matrix:
        """The text blocks alone for already-normalised text (and its surface forms)."""
        return self.frozen_.transform_normalised(normalised, surface)

    def feature_names(self) -> list[str]:
        """Names of every column, for inspection and explanations."""
        return self.frozen_.feature_names()
