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
        """Features and the fired cues of each text, parsing every text exactly once."""
        texts = list(texts)
        docs = list(parse_many(texts))
        normalised = [normalise_doc(d) for d in docs]
        cues = [self.matcher_.match(d) for d in docs] if self.use_cues else [[] for _ in docs]
        blocks = [self.word_.transform(normalised), self.char_.transform(normalised)]
        if self.use_cues:
            counts = self.matcher_.count(cues).astype(np.float32)
            counts.data = np.log1p(counts.data)
            blocks.append(counts)
        if self.lexicon_weight:
            blocks.append(sp.csr_matrix(self.lexicon_scores(texts) * self.lexicon_weight))
        return sp.hstack(blocks, format="csr", dtype=np.float32), cues

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
