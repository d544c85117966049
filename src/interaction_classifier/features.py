"""Shared features: word and character TF-IDF over spaCy-normalised text, cue counts and
lexicon scores.

One featurizer serves every head so that a message is tokenised and vectorised once. The
lexicon block (VADER's pos/neg/neu/compound, ~15 us a message) carries sentiment knowledge
for words the training data never saw; it raised SemEval-2016 macro recall from 0.630 to
0.656 in the comparison recorded in docs/model.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from interaction_classifier.cues import Cue, CueMatcher
from interaction_classifier.text import normalise_doc, normalise_many, parse_many


class TextFeaturizer(TransformerMixin, BaseEstimator):
    """Word n-gram + char n-gram TF-IDF on normalised text, and log-scaled cue counts.

    The cue matcher is not pickled with the featurizer (spaCy objects are rebuilt from the
    pattern files shipped in the model directory); call ``set_matcher`` after loading.
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

    def set_matcher(self, matcher: CueMatcher | None) -> TextFeaturizer:
        """Attach the cue matcher used for the cue features."""
        self.matcher_ = matcher
        return self

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("matcher_", None)
        state.pop("vader_", None)
        state.pop("analyzers_", None)
        return state

    def _vader(self) -> SentimentIntensityAnalyzer:
        if getattr(self, "vader_", None) is None:
            self.vader_ = SentimentIntensityAnalyzer()
        return self.vader_

    def fit(self, texts: Sequence[str], y: object = None) -> TextFeaturizer:
        """Learn both vocabularies; pruned-term lists are dropped to keep the artifact small."""
        return self.fit_normalised(normalise_many(list(texts)))

    def fit_normalised(self, normalised: Sequence[str]) -> TextFeaturizer:
        """``fit`` on already-normalised text, so a search normalises a corpus only once."""
        self.word_ = TfidfVectorizer(
            analyzer="word", token_pattern=r"\S+", lowercase=False,
            ngram_range=tuple(self.word_ngram_range), min_df=self.word_min_df,
            max_features=self.word_max_features, sublinear_tf=self.sublinear_tf,
            dtype=np.float32,
        ).fit(normalised)
        self.char_ = TfidfVectorizer(
            analyzer="char_wb", lowercase=False, ngram_range=tuple(self.char_ngram_range),
            min_df=self.char_min_df, max_features=self.char_max_features,
            sublinear_tf=self.sublinear_tf, dtype=np.float32,
        ).fit(normalised)
        for vec in (self.word_, self.char_):
            vec.stop_words_ = None
        self.cue_names_ = self.matcher_.feature_names() if self.use_cues else []
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Feature matrix (float32 CSR), one row per text."""
        return self.transform_with_cues(texts)[0]

    def transform_normalised(self, normalised: Sequence[str]) -> sp.csr_matrix:
        """The TF-IDF blocks alone for already-normalised text (cue and lexicon blocks need
        the raw text, so a featurizer using them cannot take this shortcut)."""
        if self.use_cues or self.lexicon_weight:
            raise ValueError("transform_normalised needs use_cues=False and lexicon_weight=0")
        return sp.hstack([self.word_.transform(normalised), self.char_.transform(normalised)],
                         format="csr", dtype=np.float32)

    def transform_with_cues(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[list[Cue]]]:
        """Features and the fired cues of each text, parsing every text exactly once.

        The TF-IDF rows are computed here from the fitted vocabularies and idf weights (the
        same arithmetic as scikit-learn's transform, checked by a test) because the
        vectorizers' per-call overhead alone was ~0.6 ms for a single message.
        """
        texts = list(texts)
        docs = list(parse_many(texts))
        normalised = [normalise_doc(d) for d in docs]
        cues = [self.matcher_.match(d) for d in docs] if self.use_cues else [[] for _ in docs]
        if not texts:
            return sp.csr_matrix((0, len(self.feature_names())), dtype=np.float32), cues
        word_size, char_size = len(self.word_.vocabulary_), len(self.char_.vocabulary_)
        cue_start = word_size + char_size
        lex_start = cue_start + len(self.cue_names_)
        counts = self.matcher_.count(cues) if self.use_cues else None
        lexicon = self.lexicon_scores(texts) * self.lexicon_weight if self.lexicon_weight \
            else None
        indptr, indices, data = [0], [], []
        for i, text in enumerate(normalised):
            parts = [self._tfidf_row(self.word_, text, 0),
                     self._tfidf_row(self.char_, text, word_size)]
            if counts is not None:
                row = counts.getrow(i)
                parts.append((row.indices + cue_start, np.log1p(row.data)))
            if lexicon is not None:
                parts.append((np.arange(lex_start, lex_start + 4), lexicon[i]))
            for idx, val in parts:
                indices.append(idx)
                data.append(val)
            indptr.append(indptr[-1] + sum(len(idx) for idx, _ in parts))
        n_features = lex_start + (4 if self.lexicon_weight else 0)
        X = sp.csr_matrix((np.concatenate(data).astype(np.float32),
                           np.concatenate(indices).astype(np.int32),
                           np.asarray(indptr, dtype=np.int32)), shape=(len(texts), n_features))
        return X, cues

    def _tfidf_row(self, vec: TfidfVectorizer, text: str, start: int
                   ) -> tuple[np.ndarray, np.ndarray]:
        """One L2-normalised TF-IDF row: column indices (shifted by ``start``) and values."""
        analyze = self._analyzers().get(id(vec))
        vocab = vec.vocabulary_
        tf: dict[int, int] = {}
        for gram in analyze(text):
            j = vocab.get(gram)
            if j is not None:
                tf[j] = tf.get(j, 0) + 1
        if not tf:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        idx = np.fromiter(tf.keys(), dtype=np.int64, count=len(tf)) + start
        val = np.fromiter(tf.values(), dtype=np.float64, count=len(tf))
        if vec.sublinear_tf:
            val = np.log(val) + 1.0
        val = val * vec.idf_[idx - start]
        return idx, val / np.sqrt(val @ val)

    def _analyzers(self) -> dict[int, object]:
        if getattr(self, "analyzers_", None) is None:
            self.analyzers_ = {id(v): v.build_analyzer() for v in (self.word_, self.char_)}
        return self.analyzers_

    def lexicon_scores(self, texts: Sequence[str]) -> np.ndarray:
        """VADER pos, neg, neu and compound per text."""
        vader = self._vader()
        scores = (vader.polarity_scores(t) for t in texts)
        return np.array([[s["pos"], s["neg"], s["neu"], s["compound"]] for s in scores],
                        dtype=np.float32).reshape(len(texts), 4)

    def feature_names(self) -> list[str]:
        """Names of every column, for inspection and explanations."""
        return ([f"w:{t}" for t in self.word_.get_feature_names_out()]
                + [f"c:{t}" for t in self.char_.get_feature_names_out()]
                + list(self.cue_names_)
                + (["lex:pos", "lex:neg", "lex:neu", "lex:compound"] if self.lexicon_weight
                   else []))
