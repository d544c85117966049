"""The accurate profile's trainer on a small corpus that ships with the repository: seeded and
repeatable, fusion settings in range, and the saved artifact loads to the same predictions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interaction_classifier.config import PROFILES, PROJECT_ROOT, load_taxonomy
from interaction_classifier.data.corpus import load_corpus_config, load_written
from interaction_classifier.models import signing
from interaction_classifier.models.accurate import TEXT_TIERS, AccurateModel, pinned_encoder
from interaction_classifier.models.artifact import save_artifact
from interaction_classifier.serving.predictor import load_model
from interaction_classifier.training.accurate import fit_accurate_model
from interaction_classifier.training.config import TrainingConfig, load_config

TEXTS = ["My card was stolen, please block it now!", "Does it come in blue?", "love it"]


def _written_slice() -> pd.DataFrame:
    """Every fourth written message (all four heads labelled), every fourth of those in
    ``valid``: ~550 rows that need no downloaded data."""
    frame = load_written(load_corpus_config().written, load_taxonomy()).iloc[::4].copy()
    frame["split"] = np.where(np.arange(len(frame)) % 4 == 0, "valid", "train")
    return frame.astype("string")


def _config() -> TrainingConfig:
    """configs/accurate.toml with the shipped encoder (the digests its model.json pins: it is
    the fine-tuned graph, not the config's pretrained export) and no cache."""
    files = pinned_encoder(PROFILES["accurate"])
    return load_config(
        PROJECT_ROOT / "configs" / "accurate.toml",
        {
            "accurate": {
                "encoder_dir": str(files.graph.parent.relative_to(PROJECT_ROOT)),
                "graph_sha256": files.graph_sha256,
                "tokenizer_sha256": files.tokenizer_sha256,
                "cache_dir": "",
            }
        },
    )


@pytest.fixture(scope="module")
def fitted() -> tuple[AccurateModel, AccurateModel]:
    corpus = _written_slice()
    return (fit_accurate_model(corpus, _config(), "a"), fit_accurate_model(corpus, _config(), "b"))


def test_fitting_twice_gives_identical_heads_and_fusion(fitted) -> None:
    first, second = fitted
    assert set(first.fused) == {"interaction_type", "journey_stage", "sentiment", TEXT_TIERS}
    for name, head in first.fused.items():
        other = second.fused[name]
        assert head.head.coef.any() and head.head.coef.shape[0] == 384
        assert np.array_equal(head.head.coef, other.head.coef)
        assert (head.weight, head.temperature) == (other.weight, other.temperature)
        assert 0.0 <= head.weight <= 1.0 and head.temperature > 0


def test_the_fast_model_is_kept_as_it_is(fitted) -> None:
    model, _ = fitted
    fast = load_model("fast").model
    assert model.metadata["base_version"] == fast.version
    for name, head in fast.heads.items():
        assert np.array_equal(model.heads[name].coef, head.coef)


def test_saved_profile_loads_to_the_same_predictions(fitted, tmp_path: Path) -> None:
    model, _ = fitted
    key = signing.load_private_key(signing.default_key_path())  # the test session's, trusted
    save_artifact(model, tmp_path / "accurate", {"profile": "accurate"}, signer=key)
    loaded = load_model(tmp_path / "accurate")
    assert isinstance(loaded.model, AccurateModel) and loaded.version == "a"
    pd.testing.assert_frame_equal(
        loaded.model.predict_frame(TEXTS)[0], model.predict_frame(TEXTS)[0]
    )
