"""The fitted featurizer frozen for inference: vocabularies, idf weights and n-gram rules.

What a prediction needs from ``features.TextFeaturizer`` is only the vocabulary and idf of
each TF-IDF block, the word vectors and the cue names, kept in plain arrays (no
scikit-learn: ~0.5 s of cold start). Fitting and inference share the batch code of
``features.blocks`` and ``features.terms`` over ``text.tokens``: a batch is tokenised once,
and every block is a sparse product over its distinct tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from interaction_classifier.features.blocks import (
    Entries,
    char_wb_grams,
    stack,
    tfidf,
    word_ngrams,
    word_product,
)
from interaction_classifier.features.terms import Terms, analyse, lexicon_scores
from interaction_classifier.text.cues import Cue, CueMatcher
from interaction_classifier.text.tokens import TokenBatch, encode

# Words whose char n-gram columns a vocabulary keeps before it starts afresh; longer words
# (URLs, pasted junk) are not kept, so the cache stays under ~25 MB.
WORD_CACHE_SIZE = 50_000
CACHED_WORD_CHARS = 40
_TERM_SEP = "\x00"  # never in a term: text.clean maps control characters to spaces
# Which tokenizer made a model's features. Models of format 1 were featurized by the spaCy
# pipeline (text.pipeline); their n-grams differ slightly, so they are refused, not
# scored differently (models.codec names the fix: retrain).
TOKENIZER = "batch-1"
SPACY_TOKENIZER = "spacy"


class FeaturizerVersionError(ValueError):
    """A model whose features were made by another tokenizer than this package's."""


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
    """One TF-IDF block: ``word`` n-grams of the terms or ``char_wb`` n-grams."""

    analyzer: str
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear_tf: bool = True

    def __len__(self) -> int:
        return len(self.vocabulary)

    def __getstate__(self) -> dict:
        return packed_state(self.__dict__, "vocabulary", drop=("_word_columns",))

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(unpacked_state(state, "vocabulary"))

    def word_columns(self, word: str) -> np.ndarray:
        """Columns of the known ``char_wb`` n-grams of one word, once per occurrence; kept
        for up to :data:`WORD_CACHE_SIZE` words of at most :data:`CACHED_WORD_CHARS`
        characters."""
        cache = self.__dict__.setdefault("_word_columns", {})
        columns = cache.get(word)
        if columns is None:
            get = self.vocabulary.get
            columns = np.array([j for g in char_wb_grams(word, self.ngram_range)
                                if (j := get(g)) is not None], dtype=np.int64)
            if len(word) <= CACHED_WORD_CHARS:
                if len(cache) >= WORD_CACHE_SIZE:
                    cache.clear()
                cache[word] = columns
        return columns

    def counts(self, t: Terms) -> Entries:
        """(texts x vocabulary) n-gram counts of a batch."""
        shape = (t.n_docs, len(self.vocabulary))
        if t.n_docs == 1:
            return self._text_counts(t, shape)
        if self.analyzer == "char_wb":
            return word_product(t.docs, t.chars, t.n_docs,
                                [self.word_columns(w) for w in t.char_words], shape[1])
        at, grams, strings = word_ngrams(t.terms, t.docs, t.term_names, t.n_docs,
                                         self.ngram_range)
        get = self.vocabulary.get
        column = np.array([get(g, -1) for g in strings], dtype=np.int64)[grams]
        keep = column >= 0
        return Entries.summed(at[keep], column[keep], shape)

    def _text_counts(self, t: Terms, shape: tuple[int, int]) -> Entries:
        """:meth:`counts` of one text: its n-gram columns gathered with lists and counted by
        one ``Entries.summed``, without the batch path's ~10 numpy calls (the same counts,
        which are whole numbers, so the same bits)."""
        if self.analyzer == "char_wb":
            cache = self.__dict__.get("_word_columns", {})
            per_word = [c if (c := cache.get(w)) is not None else self.word_columns(w)
                        for w in t.char_words]
            columns = [per_word[w] for w in t.chars.tolist()]
            cols = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
        else:
            words, get = [t.term_names[i] for i in t.terms.tolist()], self.vocabulary.get
            lo, hi = self.ngram_range
            cols = np.array([j for n in range(lo, hi + 1) for i in range(len(words) - n + 1)
                             if (j := get(" ".join(words[i:i + n]))) is not None],
                            dtype=np.int64)
        return Entries.summed(np.zeros(len(cols), dtype=np.int64), cols, shape)

    def transform(self, t: Terms) -> Entries:
        """L2-normalised TF-IDF rows of a batch."""
        return tfidf(self.counts(t), self.idf, self.sublinear_tf)

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

    def mean_vectors(self, t: Terms) -> Entries:
        """(texts x dim) mean vectors by one product, (texts x known forms counts) @ their
        vectors, each distinct form's vector read once; only texts with a known word get a
        row (the scaling to ``weight`` makes sum and mean the same)."""
        if t.n_docs == 1:
            return self._text_mean(t)
        get = self.index.get
        row_of = np.array([get(f, -1) for f in t.form_names], dtype=np.int64)
        known = row_of[t.forms] >= 0
        counts = Entries.summed(t.docs[known], t.forms[known], (t.n_docs, len(t.form_names)))
        vectors = self.vectors[np.maximum(row_of, 0)].astype(np.float64)
        return self._scaled(np.asarray(counts.tocsr() @ vectors) if len(counts.rows)
                            else np.zeros((t.n_docs, len(self))))

    def _text_mean(self, t: Terms) -> Entries:
        """:meth:`mean_vectors` of one text: each known form's count times its vector,
        summed row by row in form order as scipy's product sums a batch row (the same bits),
        without building a scipy matrix (~0.2 ms)."""
        counts = Counter(t.forms.tolist())
        rows = [(f, n, r) for f, n in sorted(counts.items())
                if (r := self.index.get(t.form_names[f])) is not None]
        if not rows:
            return self._scaled(np.zeros((1, len(self))))
        weights = np.array([n for _, n, _ in rows], dtype=np.float64)
        vectors = self.vectors[[r for _, _, r in rows]].astype(np.float64)
        return self._scaled((weights[:, None] * vectors).sum(axis=0)[None, :])

    def _scaled(self, sums: np.ndarray) -> Entries:
        """The (texts x dim) sums scaled to length ``weight``; all-zero rows left out."""
        n_docs, dim = sums.shape
        norms = np.sqrt((sums * sums).sum(axis=1))
        rows = np.flatnonzero(norms > 0.0)
        return Entries(np.repeat(rows, dim), np.tile(np.arange(dim), len(rows)),
                       (sums[rows] * (self.weight / norms[rows])[:, None]).ravel(),
                       (n_docs, dim))


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
    """Word and char TF-IDF, log-scaled cue counts, lexicon scores, mean word vectors.

    With ``mark_negation`` the word block sees negation-marked terms and the char block the
    same terms unmarked; with ``char_surface`` the char block sees the lower-case word forms
    instead of the lemmas. ``embedding`` adds the mean pretrained word vector of those forms.
    The cue matcher is not stored (it is rebuilt from the pattern files shipped with the
    model); call ``set_matcher`` after loading.
    """

    word: NgramVocabulary
    char: NgramVocabulary
    cue_names: list[str]
    lexicon_weight: float = 0.0
    mark_negation: bool = False
    char_surface: bool = False
    embedding: WordVectors | None = None
    tokenizer: str = TOKENIZER
    _runtime: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def use_cues(self) -> bool:
        return bool(self.cue_names)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_runtime"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"tokenizer": SPACY_TOKENIZER, **state})
        self._runtime = {}

    def set_matcher(self, matcher: CueMatcher | None) -> FrozenFeaturizer:
        """Attach the cue matcher used for the cue features."""
        self._runtime["matcher"] = matcher
        return self

    def check_tokenizer(self) -> None:
        """Refuse features a model was not fitted on (:data:`TOKENIZER`)."""
        if self.tokenizer != TOKENIZER:
            raise FeaturizerVersionError(
                f"this model's features were made by the {self.tokenizer!r} tokenizer; this "
                f"version featurizes with {TOKENIZER!r} (issue #20) and would score it "
                "differently. Retrain it: interaction-classifier train --config "
                "<model dir>/config.toml --output DIR (docs/retraining.md)")

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Feature matrix (float32 CSR), one row per text."""
        return self.transform_with_cues(texts)[0]

    def transform_with_cues(self, texts: Sequence[str]) -> tuple[sp.csr_matrix, list[list[Cue]]]:
        """Features and the fired cues of each text, tokenising every text exactly once."""
        rows, cues = self.rows_with_cues(texts)
        return rows.tocsr(), cues

    def rows_with_cues(self, texts: Sequence[str]) -> tuple[FeatureRows, list[list[Cue]]]:
        """:meth:`transform_with_cues` before the scipy matrix: the inference path."""
        return self.batch_rows(encode(list(texts)))

    def batch_rows(self, batch: TokenBatch) -> tuple[FeatureRows, list[list[Cue]]]:
        """Features and cues of an already tokenised batch."""
        self.check_tokenizer()
        matcher = self._runtime.get("matcher")
        cues = matcher.match_batch(batch) if self.use_cues else [[] for _ in range(len(batch))]
        blocks = self.text_blocks(analyse(batch, self.mark_negation, self.char_surface))
        if self.use_cues:
            blocks.insert(2, self._cue_block(matcher, cues))
        data, indices, indptr, n = stack(blocks)
        return FeatureRows(data.astype(np.float32), indices.astype(np.int32),
                           indptr.astype(np.int32), n), cues

    def text_blocks(self, t: Terms) -> list[Entries]:
        """Every block but the cues, in column order."""
        blocks = [self.word.transform(t), self.char.transform(t)]
        if self.lexicon_weight:
            scores = lexicon_scores(t) * np.float32(self.lexicon_weight)
            blocks.append(Entries(np.repeat(np.arange(t.n_docs), 4),
                                  np.tile(np.arange(4), t.n_docs),
                                  scores.astype(np.float64).ravel(), (t.n_docs, 4)))
        if self.embedding is not None:
            blocks.append(self.embedding.mean_vectors(t))
        return blocks

    def _cue_block(self, matcher: CueMatcher, cues: list[list[Cue]]) -> Entries:
        """log(1 + distinct fired patterns) per cue group."""
        rows, cols = matcher.group_entries(cues)
        counts = Entries.summed(rows, cols, (len(cues), len(self.cue_names)))
        return Entries(counts.rows, counts.cols, np.log1p(counts.vals), counts.shape)

    @property
    def needs_surface(self) -> bool:
        """Whether a block reads the surface forms."""
        return self.char_surface or self.embedding is not None

    @property
    def n_features(self) -> int:
        return (len(self.word) + len(self.char) + len(self.cue_names)
                + (4 if self.lexicon_weight else 0)
                + (len(self.embedding) if self.embedding is not None else 0))

    def feature_names(self) -> list[str]:
        """Names of every column, for inspection and explanations."""
        return ([f"w:{t}" for t in self.word.feature_names()]
                + [f"c:{t}" for t in self.char.feature_names()]
                + list(self.cue_names)
                + (["lex:pos", "lex:neg", "lex:neu", "lex:compound"] if self.lexicon_weight
                   else [])
                + ([f"emb:{j}" for j in range(len(self.embedding))] if self.embedding is not None
                   else []))
