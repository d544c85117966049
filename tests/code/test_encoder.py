"""The accurate profile's sentence encoder on ONNX Runtime: shapes, unit length, one text
scored alone or in a batch alike, and refusal of a tampered encoder file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from interaction_classifier import load_model
from interaction_classifier.config import PROFILES
from interaction_classifier.features.encoder import EncoderError, EncoderFiles, OnnxEncoder
from interaction_classifier.models.accurate import pinned_encoder
from interaction_classifier.models.artifact import ArtifactError

ARTIFACT = PROFILES["accurate"]
TEXTS = [
    "My card was stolen, please block it now!",
    "thanks, great service",
    "Does this lens fit a Canon 80D?",
    "",
    "where is my refund " * 60,
]


@pytest.fixture(scope="module")
def encoder() -> OnnxEncoder:
    return OnnxEncoder(pinned_encoder(ARTIFACT), threads=2)


def test_embeddings_are_unit_rows_of_the_encoder_width(encoder: OnnxEncoder) -> None:
    vectors = encoder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.embed([]).shape == (0, 384)


def test_a_text_alone_or_in_a_batch_gets_the_same_embedding(encoder: OnnxEncoder) -> None:
    batch = encoder.embed(TEXTS)
    alone = np.vstack([encoder.embed([t]) for t in TEXTS])
    np.testing.assert_array_equal(batch, alone)
    np.testing.assert_array_equal(encoder.embed(TEXTS[::-1])[::-1], batch)


def test_similar_messages_are_closer_than_unrelated_ones(encoder: OnnxEncoder) -> None:
    a, b, c = encoder.embed(
        ["my card was stolen", "someone stole my credit card", "what a lovely sunny day"]
    )
    assert a @ b > a @ c + 0.2


def test_long_texts_are_truncated_to_max_length(encoder: OnnxEncoder) -> None:
    long = "where is my refund " * 60
    assert encoder.token_lengths([long])[0] > encoder.max_length
    cut = " ".join(long.split()[: encoder.max_length - 2])  # [CLS] and [SEP]
    np.testing.assert_allclose(encoder.embed([long]), encoder.embed([cut]), atol=1e-6)


def test_a_tampered_encoder_file_is_refused(tmp_path: Path) -> None:
    files = pinned_encoder(ARTIFACT)
    graph = tmp_path / "encoder.onnx"
    data = bytearray(files.graph.read_bytes())
    data[len(data) // 2] ^= 0x01
    graph.write_bytes(bytes(data))
    with pytest.raises(EncoderError, match="checksum mismatch"):
        OnnxEncoder(
            EncoderFiles(graph, files.graph_sha256, files.tokenizer, files.tokenizer_sha256)
        )


def test_load_model_refuses_an_accurate_artifact_with_a_changed_encoder(tmp_path: Path) -> None:
    copy = tmp_path / "accurate"
    shutil.copytree(ARTIFACT, copy)
    tokenizer = copy / "encoder" / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text().replace("[UNK]", "[UNX]", 1))
    with pytest.raises(ArtifactError, match="checksum mismatch"):  # signed or not
        load_model(copy, trust_unsigned=True)
