"""Retraining with the default config reproduces the committed default model."""

from __future__ import annotations

import json

import pytest

from interaction_classifier.config import DEFAULT_CONFIG
from interaction_classifier.data.corpus import (
    build_corpus,
    fingerprint,
    load_corpus_config,
    write_corpus,
)
from interaction_classifier.serving.predictor import DEFAULT_MODEL_DIR
from interaction_classifier.training.train import run_training

TOLERANCE = 0.005


def _flat(metrics: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(_flat(value, name))
        elif isinstance(value, float):
            out[name] = value
    return out


@pytest.mark.slow
def test_default_config_reproduces_committed_metrics(shared_data, tmp_path) -> None:
    committed = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    frame, _ = build_corpus(load_corpus_config())
    assert fingerprint(frame) == committed["corpus_fingerprint"]
    corpus = write_corpus(frame, tmp_path / "corpus.parquet")
    report = run_training(DEFAULT_CONFIG, tmp_path / "model", track=False,
                          version=committed["version"], corpus_path=corpus)
    old = _flat({k: v for k, v in committed["metrics"].items() if k != "test_per_source"})
    new = _flat({k: v for k, v in report.items() if k != "test_per_source"})
    assert old.keys() == new.keys()
    drift = {k: (old[k], new[k]) for k in old if abs(old[k] - new[k]) > TOLERANCE}
    assert not drift, drift
