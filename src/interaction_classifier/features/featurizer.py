"""Shared features: word and character TF-IDF over the batch tokenizer's terms, cue counts,
lexicon scores and (optionally) mean pretrained word vectors.

One featurizer serves every head so that a message is tokenised and vectorised once, and
one implementation serves fitting and inference: ``fit`` counts n-grams with the same batch
code (``features.blocks``) that ``transform`` uses, then keeps the vocabulary and idf in
the frozen form. The lexicon block (VADER's lexicon as weighted columns,
``features.terms``) carries sentiment knowledge for words the training data never saw.
"""

from __future__ import annotations

from collections.abc import Sequence

import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from interaction_classifier.features.blocks import (
    Entries,
    char_columns,
    select_vocabulary,
    word_ngrams,
    word_product,
)
from interaction_classifier.features.embeddings import fit_word_vectors
from interaction_classifier.features.frozen import FrozenFeaturizer, NgramVocabulary
from interaction_classifier.features.terms import Terms, analyse
from interaction_classifier.text.cues import Cue, CueMatcher
from interaction_classifier.text.tokens import TokenBatch, encode


def fit_word_block(t: Terms, ngram_range: tuple[int, int], min_df: int,
                   max_features: int | None, sublinear_tf: bool) -> NgramVocabulary:
    """The word n-gram vocabulary and idf of a batch."""
    at, grams, strings = word_ngrams(t.terms, t.docs, t.term_names, t.n_docs, ngram_range)
    counts = Entries.summed(at, grams, (t.n_docs, len(strings)))
    vocabulary, idf = select_vocabulary(counts, strings, min_df, max_features)
    return NgramVocabulary("word", ngram_range, vocabulary, idf, sublinear_tf)


def fit_char_block(t: Terms, ngram_range: tuple[int, int], min_df: int,
                   max_features: int | None, sublinear_tf: bool) -> NgramVocabulary:
    """The ``char_wb`` n-gram vocabulary and idf of a batch: (texts x words) @ (words x
    n-grams) counts, each distinct word's n-grams made once."""
    index: dict[str, int] = {}
    columns = char_columns(t.char_words, ngram_range, lambda g: index.setdefault(g, len(index)))
    counts = word_product(t.docs, t.chars, t.n_docs, columns, len(index))
    vocabulary, idf = select_vocabulary(counts, list(index), min_df, max_features)
    return NgramVocabulary("char_wb", ngram_range, vocabulary, idf, sublinear_tf)


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """Word n-gram + char n-gram TF-IDF on the batch tokenizer's terms, log-scaled cue
    counts, lexicon scores and, with ``embedding_weight``, the mean GloVe vector
    (``embeddings.py``).

    Fitting counts with the batch code of ``features.blocks``; transforming (here and at
    inference) goes through the frozen form (``frozen.FrozenFeaturizer``) that the model
    keeps. Set the cue matcher before fitting so that the cue columns are known.
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
        state.pop("matcher_", None)  # rebuilt from the pattern files
        return state

    def fit(self, texts: Sequence[str], y: object = None) -> TextFeaturizer:
        """Learn the vocabularies (and word vectors) and freeze them for inference."""
        return self.fit_batch(encode(list(texts)))

    def fit_batch(self, batch: TokenBatch) -> TextFeaturizer:
        """``fit`` on an already tokenised batch (a search tokenises its rows once)."""
        t = analyse(batch, self.mark_negation, self.char_surface)
        word = fit_word_block(t, tuple(self.word_ngram_range), self.word_min_df,
                              self.word_max_features, self.sublinear_tf)
        char = fit_char_block(t, tuple(self.char_ngram_range), self.char_min_df,
                              self.char_max_features, self.sublinear_tf)
        matcher = getattr(self, "matcher_", None)
        cue_names = matcher.feature_names() if self.use_cues else []
        embedding = fit_word_vectors(t.doc_strings(t.forms, t.form_names),
                                     self.embedding_weight, self.embedding_top_words) \
            if self.embedding_weight else None
        self.frozen_ = FrozenFeaturizer(
            word, char, cue_names, float(self.lexicon_weight), bool(self.mark_negation),
            bool(self.char_surface), embedding).set_matcher(matcher)
        return self

    def freeze(self) -> FrozenFeaturizer:
        """What a model keeps: the fitted vocabularies and idf weights, no scikit-learn."""
        return self.frozen_

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Feature matrix (float32 CSR), one row per text."""
        return self.frozen_.transform(texts)

    def transform_with_cues(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[list[Cue]]]:
        """Features and the fired cues of each text, tokenising every text exactly once."""
        return self.frozen_.transform_with_cues(texts)

    def transform_batch(self, batch: TokenBatch) -> sp.csr_matrix:
        """Features of an already tokenised batch."""
        return self.frozen_.batch_rows(batch)[0].tocsr()

    def feature_names(self) -> list[str]:
        """Names of every column, for inspection and explanations."""
        return self.frozen_.feature_names()
