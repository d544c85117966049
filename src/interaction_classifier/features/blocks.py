"""The TF-IDF blocks on integer ids: word n-grams, char_wb n-grams, document frequencies.

One implementation for fitting and inference. Word n-grams are built from the term ids of
a batch (an n-gram is the pair of an (n-1)-gram id and a term id, made unique with numpy),
so a string is made and looked up once per *distinct* n-gram of the batch. ``char_wb``
n-grams never cross a word boundary, so a text's counts are the product (texts x words
counts) @ (words x n-gram counts), each distinct word's n-grams computed once: the same
counts scikit-learn's ``char_wb`` analyzer gives (``tests/model/test_features.py`` checks
both). Sparse data stays in numpy arrays (:class:`Entries`): building a scipy matrix costs
~30 us of validation, ~30 of them were most of a single ``predict()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

_EMPTY = np.zeros(0, dtype=np.int64)
# Above this many (word, column) entries a char block is multiplied by scipy (no sort).
SCIPY_PRODUCT_ENTRIES = 5_000
# Up to this many columns one text's entries are summed by a dense bincount (the cue and
# word-vector counts of a ``predict()``), not by sorting.
DENSE_COLUMNS = 1_000


@dataclass(frozen=True)
class Entries:
    """A sparse (texts x columns) matrix as summed entries sorted by text, then column."""

    rows: np.ndarray  # int64
    cols: np.ndarray  # int64
    vals: np.ndarray  # float64
    shape: tuple[int, int]

    @classmethod
    def summed(cls, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int],
               vals: np.ndarray | None = None) -> Entries:
        """Entries with duplicate (row, column) pairs summed (``vals`` default 1 each)."""
        vals = np.ones(len(rows)) if vals is None else np.asarray(vals, dtype=np.float64)
        if not len(rows):
            return cls(_EMPTY, _EMPTY, np.zeros(0), shape)
        if shape[0] == 1 and shape[1] <= DENSE_COLUMNS:  # one text, few columns: no sort
            sums = np.bincount(cols, weights=vals, minlength=shape[1])
            at = np.flatnonzero(np.bincount(cols, minlength=shape[1]))
            return cls(np.zeros(len(at), dtype=np.int64), at, sums[at], shape)
        key, inverse = _unique_inverse(rows * shape[1] + cols)
        return cls(key // shape[1], key % shape[1], np.bincount(inverse, weights=vals), shape)

    def tocsr(self) -> sp.csr_matrix:
        """The scipy matrix (tests and fitting)."""
        return sp.csr_matrix((self.vals, (self.rows, self.cols)), shape=self.shape)


def _unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` without its argument handling, which is
    most of its cost on the few dozen keys of one message (called ~9 times a ``predict()``)."""
    order = keys.argsort(kind="stable")
    ordered = keys[order]
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    inverse = np.empty(len(ordered), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


def word_ngrams(terms: np.ndarray, docs: np.ndarray, names: Sequence[str], n_docs: int,
                ngram_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every word n-gram (``ngram_range``) occurrence as (text, distinct n-gram id), and the
    distinct n-grams' strings (terms joined by a space, as scikit-learn's word analyzer
    joins them). ``terms`` are term ids (indices into ``names``) of the kept tokens in text
    order, ``docs`` their text index."""
    lo, hi = ngram_range
    rows, cols, strings = [_EMPTY], [_EMPTY], []
    key, key_names = terms.astype(np.int64), list(names)
    for n in range(1, hi + 1):
        if n > 1:
            starts = max(len(docs) - n + 1, 0)  # positions an n-gram can start at
            valid = docs[n - 1:] == docs[:starts]
            pairs = key[:starts][valid] * len(names) + terms[n - 1:][valid]
            distinct, inverse = _unique_inverse(pairs)
            key_names = [f"{key_names[p]} {names[t]}" for p, t in
                         zip((distinct // len(names)).tolist(), (distinct % len(names)).tolist(),
                             strict=True)]
            key = np.zeros(starts, dtype=np.int64)
            key[valid] = inverse
            at, gram = docs[:starts][valid], inverse
        else:
            at, gram = docs, key
        if n >= lo:
            rows.append(at)
            cols.append(gram + len(strings))
            strings.extend(key_names)
    return np.concatenate(rows), np.concatenate(cols), strings


def char_wb_grams(word: str, ngram_range: tuple[int, int]) -> list[str]:
    """The ``char_wb`` n-grams of one whitespace-free word, as scikit-learn yields them."""
    lo, hi = ngram_range
    w, grams = f" {word} ", []
    for n in range(lo, hi + 1):
        grams += [w[i: i + n] for i in range(max(len(w) - n, 0) + 1)]
        if len(w) <= n:  # a short word is counted once, as scikit-learn does
            break
    return grams


def word_product(docs: np.ndarray, words: np.ndarray, n_docs: int,
                 columns: list[np.ndarray], n_columns: int) -> Entries:
    """(texts x words counts) @ (words x columns counts). A small product (one message) is
    gathered with numpy, each (text, word) pair's column list weighted by its count; a
    large one is scipy's sparse product, which needs no sort."""
    pairs = Entries.summed(docs, words, (n_docs, len(columns)))
    lengths = np.array([len(c) for c in columns], dtype=np.int64)
    flat = np.concatenate(columns) if columns else _EMPTY
    if len(flat) > SCIPY_PRODUCT_ENTRIES:
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        per_word = sp.csr_matrix((np.ones(len(flat)), flat, indptr),
                                 shape=(len(columns), n_columns))
        product = (pairs.tocsr() @ per_word).tocsr()
        product.sort_indices()  # columns in order, as the gathered path gives them
        return Entries(np.repeat(np.arange(n_docs), np.diff(product.indptr)),
                       product.indices.astype(np.int64), product.data, (n_docs, n_columns))
    starts = np.cumsum(lengths) - lengths
    per_pair = lengths[pairs.cols]
    offsets = np.arange(per_pair.sum()) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
    cols = flat[np.repeat(starts[pairs.cols], per_pair) + offsets]
    return Entries.summed(np.repeat(pairs.rows, per_pair), cols, (n_docs, n_columns),
                          np.repeat(pairs.vals, per_pair))


def char_columns(words: Sequence[str], ngram_range: tuple[int, int],
                 column_of: Callable[[str], int | None]) -> list[np.ndarray]:
    """Each word's ``char_wb`` n-gram columns (``column_of`` None: not a column)."""
    return [np.array([j for g in char_wb_grams(w, ngram_range) if (j := column_of(g)) is not None],
                     dtype=np.int64) for w in words]


def select_vocabulary(counts: Entries, names: Sequence[str], min_df: int,
                      max_features: int | None) -> tuple[dict[str, int], np.ndarray]:
    """The n-grams in at least ``min_df`` texts, the ``max_features`` most frequent of them
    (ties broken alphabetically: a stable sort, the same vocabulary on every CPU), columns in
    alphabetical order as scikit-learn orders them; and their smoothed idf
    (``ln((1 + n) / (1 + df)) + 1``, scikit-learn's default)."""
    df = np.bincount(counts.cols, minlength=len(names))
    totals = np.bincount(counts.cols, weights=counts.vals, minlength=len(names))
    kept = np.flatnonzero(df >= max(min_df, 1))
    order = sorted(kept.tolist(), key=names.__getitem__)
    if max_features is not None and len(order) > max_features:
        ranked = np.argsort(-totals[order], kind="stable")[:max_features]
        order = [order[i] for i in np.sort(ranked)]
    n = counts.shape[0]
    idf = np.log((1.0 + n) / (1.0 + df[order])) + 1.0
    return {names[j]: c for c, j in enumerate(order)}, idf.astype(np.float64)


def tfidf(counts: Entries, idf: np.ndarray, sublinear_tf: bool) -> Entries:
    """Sublinear tf (``1 + ln tf``), times idf, each row scaled to unit length."""
    vals = np.log(counts.vals) + 1.0 if sublinear_tf else counts.vals.copy()
    vals *= idf[counts.cols]
    norms = np.sqrt(np.bincount(counts.rows, weights=vals * vals, minlength=counts.shape[0]))
    if len(vals):
        vals /= norms[counts.rows]
    return Entries(counts.rows, counts.cols, vals, counts.shape)


def stack(blocks: list[Entries]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Blocks side by side as CSR arrays (data, indices, indptr) and the column count. Each
    block's entries are sorted by row, so each is a CSR matrix as it stands (its indptr
    from a row count) and scipy's compiled ``hstack`` interleaves them: ~2x faster than
    placing every entry with numpy gathers (docs/benchmarks.md)."""
    n_rows = blocks[0].shape[0]
    if n_rows == 1:  # one message: its blocks' entries one after the other
        offsets = np.cumsum([0] + [b.shape[1] for b in blocks])
        data = np.concatenate([b.vals for b in blocks])
        return (data, np.concatenate([b.cols + o for b, o in zip(blocks, offsets, strict=False)]),
                np.array([0, len(data)], dtype=np.int64), int(offsets[-1]))
    matrices = []
    for block in blocks:
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(block.rows, minlength=n_rows), out=indptr[1:])
        matrices.append(sp.csr_matrix((block.vals, block.cols, indptr), shape=block.shape))
    out = sp.hstack(matrices, format="csr")
    return out.data, out.indices, out.indptr, out.shape[1]
