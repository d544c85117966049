"""Sentence embeddings of training texts, kept on disk between runs.

Embedding the corpus takes minutes on a 2-core machine; the heads and fusion weights take
seconds. The cache maps sha1(text) to its embedding, one file per encoder graph (named by
the graph's sha256), so a changed encoder never reuses old rows. It is a local speed-up, not
an input: a run with an empty cache gives the same model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from interaction_classifier.features.encoder import OnnxEncoder
from interaction_classifier.io import write_bytes

CHUNK = 4000  # texts embedded between two saves, so an interrupted run keeps its work


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """sha1 of each text's UTF-8 bytes, as fixed-width bytes."""
    return np.array([hashlib.sha1(t.encode("utf-8")).digest() for t in texts], dtype="S20")


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        return np.zeros(0, dtype="S20"), np.zeros((0, 0), dtype=np.float32)
    with np.load(path, allow_pickle=False) as data:
        return data["keys"], data["vectors"]


def _write(path: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, keys=keys, vectors=vectors)
    write_bytes(path, buffer.getvalue())


def cached_embeddings(
    encoder: OnnxEncoder, texts: Sequence[str], cache_dir: Path | None, graph_sha256: str
) -> np.ndarray:
    """Embeddings of ``texts`` in order, computing only those the cache lacks."""
    if cache_dir is None:
        return encoder.embed(texts)
    path = Path(cache_dir) / f"{graph_sha256[:16]}.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    keys, vectors = _read(path)
    wanted = text_keys(texts)
    missing = np.unique(wanted[~np.isin(wanted, keys)])
    if len(missing):
        first = {k: i for i, k in reversed(list(enumerate(wanted.tolist())))}
        todo = [texts[first[k]] for k in missing.tolist()]
        for start in range(0, len(todo), CHUNK):
            part = encoder.embed(todo[start : start + CHUNK])
            keys = np.concatenate([keys, missing[start : start + CHUNK]])
            vectors = part if not len(vectors) else np.vstack([vectors, part])
            _write(path, keys, vectors)
    index = {k: i for i, k in enumerate(keys.tolist())}
    return vectors[[index[k] for k in wanted.tolist()]]
