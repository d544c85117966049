"""The fitted featurizer frozen for inference: vocabularies, idf weights and n-gram rules.

``features.TextFeaturizer`` fits with scikit-learn; what a prediction needs from it is only
the vocabulary and idf of each TF-IDF block. Keeping those in plain arrays means loading the
model imports neither scikit-learn nor scipy.stats (about 0.5 s of cold start and ~40 MB of
memory), and one message is vectorised without the vectorizers' per-call overhead
(~0.6 ms). A test checks the rows equal scikit-learn's ``transform``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from interaction_classifier.text.cues import Cue, CueMatcher
from interaction_classifier.text.pipeline import char_input, doc_forms, parse_many

_TOKEN = re.compile(r"\S+")
# Words whose char n-gram columns a vocabulary keeps before it starts afresh; longer words
# (URLs, pasted junk) are not kept, so the cache stays under ~25 MB.
WORD_CACHE_SIZE = 50_000
CACHED_WORD_CHARS = 40
_TERM_SEP = "\x00"  # never in a term: text.clean maps control characters to spaces
MAX_VADER_EMOJI = 100


def windowed_vader() -> object:
    """VADER with its two neighbour checks given only the words around the current one, and
    at most :data:`MAX_VADER_EMOJI` emoji per text.

    VADER 3.3.2 lower-cases the whole word list again for every sentiment word it checks,
    quadratic in the text (5,000 characters of emoji: 9 s). The checks read at most three
    words before and two after, so a window gives exactly the same scores. Each emoji
    becomes a description of two to five words, so emoji beyond the cap (which no real
    message reaches, and which would not move the saturated scores) are left out.
    """
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer as Vader

    class WindowedVader(Vader):
        @staticmethod
        def _negation_check(valence, words_and_emoticons, start_i, i):
            lo = max(0, i - 3)
            return Vader._negation_check(valence, words_and_emoticons[lo: i + 3], start_i,
                                         i - lo)

        @staticmethod
        def _special_idioms_check(valence, words_and_emoticons, i):
            lo = max(0, i - 3)
            return Vader._special_idioms_check(valence, words_and_emoticons[lo: i + 3],
                                               i - lo)

        def polarity_scores(self, text):
            return super().polarity_scores(_capped_emoji(text, self.emojis))

    return WindowedVader()


def _capped_emoji(text: str, emojis: dict, limit: int | None = None) -> str:
    """``text`` without the emoji after the first ``limit`` (VADER's emoji table)."""
    limit = MAX_VADER_EMOJI if limit is None else limit
    if text.isascii():
        return text
    positions = [i for i, ch in enumerate(text) if ch in emojis]
    if len(positions) <= limit:
        return text
    dropped = set(positions[limit:])
    return "".join(ch for i, ch in enumerate(text) if i not in dropped)


def pack_terms(index: dict[str, int]) -> str:
    """A ``term -> column`` map as one string of its terms in column order.

    Loading ~190k separate term strings cost ~0.75 s of cold start (the pure-Python
    unpickler of the old format); one string loads at once, and ``models.codec`` stores
    vocabularies this way as UTF-8 bytes.
    """
    terms = sorted(index, key=index.__getitem__)
    if any(index[t] != j for j, t in enumerate(terms)):
        raise ValueError("columns must be exactly 0..n-1 to be packed")
    if any(_TERM_SEP in t for t in terms):
        raise ValueError("a term contains the NUL separator")
    return _TERM_SEP.join(terms)


def unpack_terms(packed: str) -> dict[str, int]:
    """Inverse of :func:`pack_terms`."""
    terms = packed.split(_TERM_SEP) if packed else []
    return {t: j for j, t in enumerate(terms)}


def packed_state(state: dict, field: str, drop: tuple[str, ...] = ()) -> dict:
    """A pickling state with its ``field`` map packed (:func:`pack_terms`), ``drop`` left out."""
    kept = {k: v for k, v in state.items() if k != field and k not in drop}
    return {**kept, "terms": pack_terms(state[field])}


def unpacked_state(state: dict, field: str) -> dict:
    """Inverse of :func:`packed_state`; a state pickled before packing passes unchanged."""
    state = dict(state)
    if "terms" in state:
        state[field] = unpack_terms(state.pop("terms"))
    return state


@dataclass
class NgramVocabulary:
    """One TF-IDF block: ``word`` n-grams of whitespace tokens or ``char_wb`` n-grams."""

    analyzer: str
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear_tf: bool = True

    @classmethod
    def from_vectorizer(cls, vec: object) -> NgramVocabulary:
        """Take what inference needs from a fitted ``TfidfVectorizer``."""
        return cls(vec.analyzer, tuple(vec.ngram_range), dict(vec.vocabulary_),
                   np.asarray(vec.idf_, dtype=np.float64), bool(vec.sublinear_tf))

    def __len__(self) -> int:
        return len(self.vocabulary)

    def __getstate__(self) -> dict:
        return packed_state(self.__dict__, "vocabulary", drop=("_word_columns",))

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(unpacked_state(state, "vocabulary"))

    def word_grams(self, text: str) -> list[str]:
        """The word n-grams scikit-learn's analyzer yields for ``text`` (same order, count)."""
        lo, hi = self.ngram_range
        tokens = _TOKEN.findall(text)
        grams = list(tokens) if lo == 1 else []
        for n in range(max(lo, 2), min(hi, len(tokens)) + 1):
            grams += [" ".join(tokens[i: i + n]) for i in range(len(tokens) - n + 1)]
        return grams

    def word_char_grams(self, word: str) -> list[str]:
        """The ``char_wb`` n-grams of one whitespace-free word, as scikit-learn yields them."""
        lo, hi = self.ngram_range
        w, grams = f" {word} ", []
        for n in range(lo, hi + 1):
            grams += [w[i: i + n] for i in range(max(len(w) - n, 0) + 1)]
            if len(w) <= n:  # a short word is counted once, as scikit-learn does
                break
        return grams

    def char_columns(self, text: str) -> np.ndarray:
        """Columns of the known ``char_wb`` n-grams of ``text``, once per occurrence.

        ``char_wb`` n-grams never cross a word boundary, so a text's grams are its words'
        grams (scikit-learn splits on the same whitespace as ``str.split``); words repeat
        across messages, so each word's columns are computed once and kept (up to
        :data:`WORD_CACHE_SIZE` words of at most :data:`CACHED_WORD_CHARS` characters)."""
        cache = self.__dict__.setdefault("_word_columns", {})
        get = self.vocabulary.get
        parts = []
        for word in text.split():
            columns = cache.get(word)
            if columns is None:
                columns = np.array(
                    [j for g in self.word_char_grams(word) if (j := get(g)) is not None],
                    dtype=np.int64)
                if len(word) <= CACHED_WORD_CHARS:
                    if len(cache) >= WORD_CACHE_SIZE:
                        cache.clear()
                    cache[word] = columns
            parts.append(columns)
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def row(self, text: str, start: int) -> tuple[np.ndarray, np.ndarray]:
        """One L2-normalised TF-IDF row: column indices (shifted by ``start``) and values."""
        if self.analyzer == "char_wb":
            idx, counts = np.unique(self.char_columns(text), return_counts=True)
            val = counts.astype(np.float64)
        else:
            get = self.vocabulary.get
            tf = {j: n for g, n in Counter(self.word_grams(text)).items()
                  if (j := get(g)) is not None}
            idx = np.fromiter(tf.keys(), dtype=np.int64, count=len(tf))
            val = np.fromiter(tf.values(), dtype=np.float64, count=len(tf))
        if not len(idx):
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        if self.sublinear_tf:
            val = np.log(val) + 1.0
        val = val * self.idf[idx]
        return idx + start, val / np.sqrt(val @ val)

    def feature_names(self) -> list[str]:
        names = [""] * len(self.vocabulary)
        for gram, j in self.vocabulary.items():
            names[j] = gram
        return names


@dataclass
class WordVectors:
    """Pretrained vectors of the words a model can meet (``embeddings.fit_word_vectors``).

    A message's row is the mean vector of its known lower-case words, scaled to length
    ``weight``: dense and short, it lets a linear head score words the labelled data never
    showed by their neighbours in the pretrained space.
    """

    index: dict[str, int]
    vectors: np.ndarray  # (n_words, dim), float16
    weight: float

    def __len__(self) -> int:
        return int(self.vectors.shape[1])

    def __getstate__(self) -> dict:
        return packed_state(self.__dict__, "index")

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(unpacked_state(state, "index"))

    def row(self, surface: str, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Column indices (from ``start``) and values of one text's mean vector."""
        get = self.index.get
        ids = [j for t in surface.split() if (j := get(t)) is not None]
        if ids:
            mean = self.vectors[ids].mean(axis=0, dtype=np.float64)
            norm = float(np.sqrt(mean @ mean))
            if norm > 0.0:
                return np.arange(start, start + len(mean)), mean * (self.weight / norm)
        return np.zeros(0, np.int64), np.zeros(0, np.float64)


@dataclass(frozen=True)
class FeatureRows:
    """Feature rows as CSR arrays, before any scipy matrix is built.

    Building a ``scipy.sparse.csr_matrix`` validates its arrays: ~50 us for one message in
    a service, more than the heads' arithmetic. :meth:`dot` multiplies one row by a weight
    matrix with numpy alone and leaves batches to scipy, which is faster there.
    """

    data: np.ndarray  # float32
    indices: np.ndarray  # int32
    indptr: np.ndarray  # int32, n_rows + 1
    n_features: int

    def tocsr(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.data, self.indices, self.indptr),
                             shape=(len(self.indptr) - 1, self.n_features))

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """Dense ``rows @ weights`` for an (n_features, k) matrix.

        One row is summed term by term in float32, in the order scipy's CSR product sums a
        row of a batch, so a message gets the same scores alone (``predict``) as in a batch
        (``predict_batch``, ``score``, the HTTP batch endpoint); a BLAS dot product sums in
        another order and differs in the last float32 bits (~1e-7), for ~10 us less.
        """
        if len(self.indptr) == 2:
            return (self.data[:, None] * weights[self.indices]).sum(axis=0)[None, :]
        return np.asarray(self.tocsr() @ weights)


@dataclass
class FrozenFeaturizer:
    """Word and char TF-IDF on normalised text, log-scaled cue counts, lexicon scores.

    With ``mark_negation`` the word block sees negation-marked text and the char block the
    same text unmarked; with ``char_surface`` the char block sees the lower-case word forms
    instead of the lemmas. ``embedding`` adds the mean pretrained word vector of those forms.

    The cue matcher and the VADER analyzer are not pickled (they are rebuilt from the
    pattern files shipped with the model and from the installed lexicon); call
    ``set_matcher`` after loading.
    """

    word: NgramVocabulary
    char: NgramVocabulary
    cue_names: list[str]
    lexicon_weight: float = 0.0
    mark_negation: bool = False
    char_surface: bool = False
    embedding: WordVectors | None = None
    _runtime: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def use_cues(self) -> bool:
        return bool(self.cue_names)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_runtime"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._runtime = {}

    def set_matcher(self, matcher: CueMatcher | None) -> FrozenFeaturizer:
        """Attach the cue matcher used for the cue features."""
        self._runtime["matcher"] = matcher
        return self

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Feature matrix (float32 CSR), one row per text."""
        return self.transform_with_cues(texts)[0]

    def transform_with_cues(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[list[Cue]]]:
        """Features and the fired cues of each text, parsing every text exactly once."""
        rows, cues = self.rows_with_cues(texts)
        return rows.tocsr(), cues

    def rows_with_cues(self, texts: Sequence[str]) -> tuple[FeatureRows, list[list[Cue]]]:
        """:meth:`transform_with_cues` before the scipy matrix: the inference path."""
        texts = list(texts)
        docs = list(parse_many(texts))
        matcher = self._runtime.get("matcher")
        cues = [matcher.match(d) for d in docs] if self.use_cues else [[] for _ in docs]
        counts = [matcher.group_counts(c) for c in cues] if self.use_cues else None
        lexicon = self.lexicon_scores(texts) * self.lexicon_weight if self.lexicon_weight \
            else None
        forms = [doc_forms(d, self.mark_negation) for d in docs]
        normalised = [f[0] for f in forms]
        surface = [f[1] for f in forms] if self.needs_surface else None
        return self._rows(normalised, counts, lexicon, surface), cues

    @property
    def needs_surface(self) -> bool:
        """Whether a block reads the surface forms (``text.surface_doc``)."""
        return self.char_surface or self.embedding is not None

    def transform_normalised(self, normalised: Sequence[str],
                             surface: Sequence[str] | None = None) -> sp.csr_matrix:
        """The text blocks alone for already-normalised text, plus its surface forms when a
        block reads them (``needs_surface``). Cue and lexicon blocks need the raw text, so a
        featurizer using them cannot take this shortcut."""
        if self.use_cues or self.lexicon_weight:
            raise ValueError("transform_normalised needs use_cues=False and lexicon_weight=0")
        if self.needs_surface and surface is None:
            raise ValueError("char_surface and the word vectors need the surface forms")
        return self._rows(list(normalised), None, None,
                          None if surface is None else list(surface)).tocsr()

    def _rows(self, normalised: list[str],
              counts: list[tuple[np.ndarray, np.ndarray]] | None,
              lexicon: np.ndarray | None, surface: list[str] | None = None) -> FeatureRows:
        cue_start = len(self.word) + len(self.char)
        lex_start = cue_start + len(self.cue_names)
        emb_start = lex_start + (4 if self.lexicon_weight else 0)
        indptr, indices, data = [0], [np.zeros(0, np.int64)], [np.zeros(0, np.float64)]
        for i, text in enumerate(normalised):
            chars = char_input(text, surface[i] if self.char_surface else None,
                               self.mark_negation)
            parts = [self.word.row(text, 0), self.char.row(chars, len(self.word))]
            if counts is not None:
                cols, n = counts[i]
                parts.append((cols + cue_start, np.log1p(n)))
            if lexicon is not None:
                parts.append((np.arange(lex_start, lex_start + 4), lexicon[i]))
            if self.embedding is not None:
                parts.append(self.embedding.row(surface[i], emb_start))
            for idx, val in parts:
                indices.append(idx)
                data.append(val)
            indptr.append(indptr[-1] + sum(len(idx) for idx, _ in parts))
        return FeatureRows(np.concatenate(data).astype(np.float32),
                           np.concatenate(indices).astype(np.int32),
                           np.asarray(indptr, dtype=np.int32), self.n_features)

    @property
    def n_features(self) -> int:
        return (len(self.word) + len(self.char) + len(self.cue_names)
                + (4 if self.lexicon_weight else 0)
                + (len(self.embedding) if self.embedding is not None else 0))

    def lexicon_scores(self, texts: Sequence[str]) -> np.ndarray:
        """VADER pos, neg, neu and compound per text."""
        vader = self._runtime.get("vader")
        if vader is None:
            vader = self._runtime["vader"] = windowed_vader()
        scores = (vader.polarity_scores(t) for t in texts)
        return np.array([[s["pos"], s["neg"], s["neu"], s["compound"]] for s in scores],
                        dtype=np.float32).reshape(len(texts), 4)

    def feature_names(self) -> list[str]:
        """Names of every column, for inspection and explanations."""
        return ([f"w:{t}" for t in self.word.feature_names()]
                + [f"c:{t}" for t in self.char.feature_names()]
                + list(self.cue_names)
                + (["lex:pos", "lex:neg", "lex:neu", "lex:compound"] if self.lexicon_weight
                   else [])
                + ([f"emb:{j}" for j in range(len(self.embedding))] if self.embedding is not None
                   else []))
