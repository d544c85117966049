"""Sentence embeddings of a frozen encoder (all-MiniLM-L6-v2) on ONNX Runtime.

The accurate profile reads a message twice: with the fast model's sparse features and with
this encoder, whose pretraining knows words and phrasings the labelled data never shows.
Inference needs only ``onnxruntime`` and ``tokenizers`` (the ``accurate`` extra): the graph
is exported once from the pinned weights by ``training.encoder_export`` (the ``train``
extra, with torch). Embeddings are made as sentence-transformers makes them for this model:
WordPiece tokens, the last hidden layer, mean over the real (unpadded) tokens, L2-normalised.
Both files are checked against the sha256 the artifact pins before they are parsed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_LENGTH = 128  # tokens; 95.8% of corpus texts fit (docs/experiments/round-12-...)


class EncoderError(RuntimeError):
    """An encoder file is missing or does not match its pinned sha256, or the extra is absent."""


@dataclass(frozen=True)
class EncoderFiles:
    """The two files an encoder is built from and the sha256 each must have."""

    graph: Path
    graph_sha256: str
    tokenizer: Path
    tokenizer_sha256: str


def verified_bytes(path: Path, sha256: str) -> bytes:
    """The file's bytes, refused unless they hash to ``sha256``: the bytes parsed are the
    bytes checked."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EncoderError(f"{path}: cannot read the encoder file: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise EncoderError(
            f"{path}: checksum mismatch (pinned {sha256[:12]}..., file "
            f"{actual[:12]}...); refusing to load the encoder"
        )
    return data


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors over the attention mask, then L2-normalised (what
    sentence-transformers' Pooling + Normalize modules do for this model)."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.maximum(weights.sum(axis=1), 1e-9)
    return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


class OnnxEncoder:
    """A frozen sentence encoder: ``embed(texts)`` -> (n, dim) float32, unit rows.

    Each text is its own ONNX Runtime call. Dynamic int8 quantisation scales a layer's
    activations by the whole input tensor, so in a padded batch a text's embedding depends
    on its batch-mates (cosine down to 0.965 against the same text alone); one text per call
    makes a message's labels independent of what it is scored with. Throughput comes from
    ``threads`` concurrent calls of one intra-op thread each (0: one per core).
    """

    def __init__(self, files: EncoderFiles, max_length: int = MAX_LENGTH, threads: int = 0) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EncoderError(
                "the accurate profile needs onnxruntime and tokenizers: "
                "pip install 'interaction-classifier[accurate]'"
            ) from exc
        graph = verified_bytes(files.graph, files.graph_sha256)
        tokenizer = verified_bytes(files.tokenizer, files.tokenizer_sha256)
        self.tokenizer = Tokenizer.from_str(tokenizer.decode("utf-8"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.max_length = max_length
        self.workers = threads or os.cpu_count() or 1
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def _run(self, ids: list[int]) -> np.ndarray:
        """The embedding of one text's token ids, shape (1, dim)."""
        input_ids = np.asarray([ids], dtype=np.int64)
        mask = np.ones_like(input_ids)
        feeds = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        hidden = self.session.run(None, {k: v for k, v in feeds.items() if k in self.inputs})[0]
        return mean_pool(hidden, mask)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text, in input order."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = self._ids(texts)
        if self.workers == 1 or len(ids) == 1:
            return np.vstack([self._run(i) for i in ids])
        with ThreadPoolExecutor(self.workers) as pool:  # ONNX Runtime releases the GIL
            return np.vstack(list(pool.map(self._run, ids)))

    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens per text before truncation (to choose ``max_length``)."""
        self.tokenizer.no_truncation()
        try:
            return np.array([len(i) for i in self._ids(texts)])
        finally:
            self.tokenizer.enable_truncation(self.max_length)
