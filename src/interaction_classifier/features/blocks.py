"""The TF-IDF blocks on integer ids: word n-grams, char_wb n-grams, document frequencies.

One implementation for fitting and inference. Word n-grams are built from the term ids of
a batch (an n-gram is the pair of an (n-1)-gram id and a term id, made unique with numpy),
so a string is made and looked up once per *distinct* n-gram of the batch. ``char_wb``
n-grams never cross a word boundary, so a text's counts are (texts x words counts) @
(words x n-gram counts), with each distinct word's n-grams computed once: the same counts
scikit-learn's ``char_wb`` analyzer gives (``tests/model/test_features.py`` checks both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp

Counts = sp.csr_matrix  # (texts, distinct n-grams), float64


def count_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int],
                 weights: np.ndarray | None = None) -> Counts:
    """Occurrence counts (or summed ``weights``) as CSR, duplicates summed, indices sorted."""
    data = np.ones(len(rows)) if weights is None else weights
    m = sp.csr_matrix((data, (rows, cols)), shape=shape)
    m.sum_duplicates()
    return m


def word_ngrams(terms: np.ndarray, docs: np.ndarray, names: Sequence[str], n_docs: int,
                ngram_range: tuple[int, int]) -> tuple[Counts, list[str]]:
    """Counts of every word n-gram (``ngram_range``) of each text, and the distinct n-grams'
    strings (terms joined by a space, as scikit-learn's word analyzer joins them).

    ``terms`` are term ids (indices into ``names``) of the kept tokens in text order, and
    ``docs`` their text index."""
    lo, hi = ngram_range
    rows, cols, strings = [], [], []
    key, key_names = terms.astype(np.int64), list(names)
    for n in range(1, hi + 1):
        if n > 1:
            starts = max(len(docs) - n + 1, 0)  # positions an n-gram can start at
            valid = docs[n - 1:] == docs[:starts]
            pairs = key[:starts][valid] * len(names) + terms[n - 1:][valid]
            distinct, inverse = np.unique(pairs, return_inverse=True)
            key_names = [f"{key_names[p]} {names[t]}" for p, t in
                         zip((distinct // len(names)).tolist(), (distinct % len(names)).tolist(),
                             strict=True)]
            key = np.zeros(starts, dtype=np.int64)
            key[valid] = inverse
            at = docs[:starts][valid]
            gram = inverse
        else:
            at, gram = docs, key
        if n >= lo:
            rows.append(at)
            cols.append(gram + len(strings))
            strings.extend(key_names)
    if not rows:
        return count_matrix(np.zeros(0, np.int64), np.zeros(0, np.int64), (n_docs, 0)), []
    return count_matrix(np.concatenate(rows), np.concatenate(cols),
                        (n_docs, len(strings))), strings


def char_wb_grams(word: str, ngram_range: tuple[int, int]) -> list[str]:
    """The ``char_wb`` n-grams of one whitespace-free word, as scikit-learn yields them."""
    lo, hi = ngram_range
    w, grams = f" {word} ", []
    for n in range(lo, hi + 1):
        grams += [w[i: i + n] for i in range(max(len(w) - n, 0) + 1)]
        if len(w) <= n:  # a short word is counted once, as scikit-learn does
            break
    return grams


def words_by_columns(words: Sequence[str], columns_of: Callable[[str], np.ndarray],
                     n_columns: int) -> Counts:
    """(words x columns) counts from each word's column list (one entry per occurrence)."""
    parts = [columns_of(w) for w in words]
    indptr = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
    indices = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    m = sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(words), n_columns))
    m.sum_duplicates()
    return m


def fit_char_ngrams(words: Sequence[str], ngram_range: tuple[int, int]
                    ) -> tuple[Counts, list[str]]:
    """(words x distinct char n-grams) counts over every n-gram of ``words``, and the
    n-grams: what fitting a char block selects its vocabulary from."""
    index: dict[str, int] = {}
    setdefault = index.setdefault

    def columns_of(word: str) -> np.ndarray:
        return np.array([setdefault(g, len(index)) for g in char_wb_grams(word, ngram_range)],
                        dtype=np.int64)

    parts = [columns_of(w) for w in words]
    m = words_by_columns(words, dict(zip(words, parts, strict=True)).__getitem__, len(index))
    return m, list(index)


def select_vocabulary(counts: Counts, names: Sequence[str], min_df: int,
                      max_features: int | None) -> tuple[dict[str, int], np.ndarray]:
    """The n-grams in at least ``min_df`` texts, the ``max_features`` most frequent of them
    (ties broken alphabetically: a stable sort, the same vocabulary on every CPU), columns in
    alphabetical order as scikit-learn orders them; and their smoothed idf
    (``ln((1 + n) / (1 + df)) + 1``, scikit-learn's default)."""
    df = np.bincount(counts.indices, minlength=len(names))
    totals = np.bincount(counts.indices, weights=counts.data, minlength=len(names))
    kept = np.flatnonzero(df >= min_df)
    order = sorted(kept.tolist(), key=names.__getitem__)
    if max_features is not None and len(order) > max_features:
        ranked = np.argsort(-totals[order], kind="stable")[:max_features]
        order = [order[i] for i in np.sort(ranked)]
    n = counts.shape[0]
    idf = np.log((1.0 + n) / (1.0 + df[order])) + 1.0
    return {names[j]: c for c, j in enumerate(order)}, idf.astype(np.float64)


def tfidf(counts: Counts, idf: np.ndarray, sublinear_tf: bool) -> sp.csr_matrix:
    """Sublinear tf (``1 + ln tf``), times idf, each row scaled to unit length."""
    out = counts.astype(np.float64, copy=True)
    if sublinear_tf:
        np.log(out.data, out=out.data)
        out.data += 1.0
    out.data *= idf[out.indices]
    norms = np.sqrt(np.asarray(out.multiply(out).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    out.data /= np.repeat(norms, np.diff(out.indptr))
    return out
