"""Configuration is validated on load with clear errors: the taxonomy, and the training
configs against their schema."""

from __future__ import annotations

import re

import pytest

from interaction_classifier.config import (
    HEADS,
    PROJECT_ROOT,
    ConfigError,
    load_taxonomy,
    parse_taxonomy,
    read_toml,
)
from interaction_classifier.training.config import load_config, parse_config


def test_default_taxonomy_matches_shared_definition() -> None:
    tax = load_taxonomy()
    assert tuple(tax.heads) == HEADS
    assert tax.labels("interaction_type") == (
        "question",
        "request",
        "complaint",
        "compliment",
        "feedback",
    )
    assert tax.labels("journey_stage") == (
        "awareness",
        "consideration",
        "acquisition",
        "experience",
        "loyalty",
    )
    assert tax.labels("sentiment") == ("negative", "neutral", "positive")
    assert tax.labels("urgency") == ("critical", "high", "normal", "low")
    assert all(tax.heads["interaction_type"].definitions.values())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"heads": {"x": {"labels": ["a", "a", "b"]}}}, "duplicate labels"),
        ({"heads": {"x": {"labels": ["a"]}}}, "at least two labels"),
        ({"heads": {"x": {"labels": ["a", " "]}}}, "empty label"),
        ({"heads": {"x": {"labels": ["a", "b"], "precedence": ["c"]}}}, "unknown labels"),
        ({"heads": {}}, "needs a"),
        ({"heads": {"x": {}}}, "labels table or list"),
    ],
)
def test_invalid_taxonomies_are_clear_errors(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_taxonomy(raw)


def test_unknown_label_and_head_are_errors() -> None:
    tax = load_taxonomy()
    with pytest.raises(ConfigError, match="not in head"):
        tax.check_label("sentiment", "furious")
    with pytest.raises(ConfigError, match="unknown head"):
        tax.labels("mood")


def test_custom_taxonomy_file(tmp_path) -> None:
    path = tmp_path / "tax.toml"
    path.write_text('[heads.topic]\nlabels = { billing = "money", tech = "it broke" }\n')
    assert load_taxonomy(path).labels("topic") == ("billing", "tech")
    path.write_text("[heads.topic\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_taxonomy(path)


# --------------------------------------------------------------------------- training config

TRAINING_CONFIGS = sorted(
    p
    for p in (PROJECT_ROOT / "configs").glob("*.toml")
    if p.name not in ("taxonomy.toml", "corpus.toml")
)


def test_the_configs_folder_holds_the_default_and_retraining_configs() -> None:
    assert {p.name for p in TRAINING_CONFIGS} >= {"default.toml", "retrain.toml", "banking77.toml"}


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda p: p.name)
def test_every_training_config_validates_against_the_schema(path) -> None:
    # As spaCy does for its shipped configs: a stale or misspelt key fails here, not in a
    # user's run. (corpus.toml is the corpus builder's and loads with its own loader.)
    cfg = load_config(path)
    kinds = {
        "default.toml": "default",
        "accurate.toml": "accurate",
        "accurate-finetuned.toml": "accurate",
        "accurate-finetuned-full.toml": "accurate",
    }
    assert cfg.kind == kinds.get(path.name, "retrained")
    assert (cfg.finetune is not None) == path.name.startswith("accurate-finetuned")


def test_finetune_needs_the_accurate_profile() -> None:
    raw = read_toml(PROJECT_ROOT / "configs" / "accurate-finetuned.toml")
    del raw["accurate"]
    with pytest.raises(ConfigError, match=r"\[finetune\].*needs \[accurate\]"):
        parse_config(raw)


def test_corpus_config_loads() -> None:
    from interaction_classifier.data.corpus import load_corpus_config

    assert load_corpus_config(PROJECT_ROOT / "configs" / "corpus.toml").sources


def test_a_typo_is_an_error_naming_the_key_and_the_file(tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        (PROJECT_ROOT / "configs" / "retrain.toml")
        .read_text()
        .replace("[features]", "[features]\nword_ngram_rnage = [1, 2]")
    )
    with pytest.raises(ConfigError, match=r"mine\.toml: features\.word_ngram_rnage: unknown key"):
        load_config(path)
    path.write_text('seed = 1\n[corpus]\npath = "c.parquet"\n[data]\npath = "x.csv"\n')
    with pytest.raises(ConfigError, match=r"exactly one of \[corpus\].*or \[data\]"):
        load_config(path)


def test_resolved_config_round_trips_through_toml(tmp_path) -> None:
    from interaction_classifier.training.config import write_config

    cfg = load_config(PROJECT_ROOT / "configs" / "default.toml")
    write_config(cfg, tmp_path / "config.toml", "# header\n")
    again = load_config(tmp_path / "config.toml")
    assert again == cfg and again.digest() == cfg.digest()
    assert again.model.c_for("sentiment") == 0.25
    assert again.thresholds.priority["critical"] == 0.83


def test_versions_differ_by_config_data_and_time() -> None:
    import datetime as dt

    from interaction_classifier.training.run import make_version

    cfg = load_config(PROJECT_ROOT / "configs" / "retrain.toml")
    edited = cfg.model_copy(update={"seed": 14})
    now = dt.datetime(2026, 12, 5, 14, 30, tzinfo=dt.UTC)
    version = make_version(cfg, "abc", now)
    assert re.fullmatch(r"20261205-143000-[0-9a-f]{8}", version)
    assert make_version(cfg, "abc", now) == version
    assert make_version(edited, "abc", now) != version
    assert make_version(cfg, "abd", now) != version
    assert make_version(cfg, "abc", now + dt.timedelta(seconds=1)) != version


def test_review_threshold_flags_the_least_confident_share() -> None:
    import numpy as np

    from interaction_classifier.training.config import ThresholdsConfig
    from interaction_classifier.training.thresholds import review_thresholds

    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], size=1000)
    cfg = ThresholdsConfig(review_rate=0.2, review={"fixed": 0.6})
    out = review_thresholds({"fitted": proba, "fixed": proba}, cfg)
    assert out["fixed"] == 0.6
    assert 0.19 <= (proba.max(axis=1) < out["fitted"]).mean() <= 0.2
    assert review_thresholds({"h": proba}, ThresholdsConfig(review_rate=0.0)) == {"h": 0.0}
    certain = np.tile([1.0, 0.0, 0.0], (100, 1))  # saturated: 1.0 would flag everything
    assert review_thresholds({"h": certain}, cfg.model_copy(update={"review": {}})) == {"h": 0.99}
    with pytest.raises(ValueError, match=r"unknown heads \['nope'\]"):
        review_thresholds({"h": proba}, ThresholdsConfig(review={"nope": 0.5}))


def test_set_overrides_are_typed_nested_fragments() -> None:
    from interaction_classifier.cli.train import set_overrides

    assert set_overrides(["urgency.fit_cutoffs=true", "model.C=0.5", "model.classifier=svm",
                          "features.word_ngram_range=[1, 2]", 'mlflow.experiment="a b"']) == {
        "urgency": {"fit_cutoffs": True},
        "model": {"C": 0.5, "classifier": "svm"},
        "features": {"word_ngram_range": [1, 2]},
        "mlflow": {"experiment": "a b"},
    }
    for bad in ("fit_cutoffs", "urgency..C=1", "=1", "model.C=1,model.C.x=2"):
        pairs = bad.split(",")
        with pytest.raises(ConfigError, match=re.escape(repr(pairs[-1]))):
            set_overrides(pairs)


def test_train_refuses_an_unknown_set_key_before_training() -> None:
    from typer.testing import CliRunner

    from interaction_classifier.cli.main import app

    result = CliRunner().invoke(app, ["train", "--set", "urgency.fit_cutof=true", "--no-track"])
    assert result.exit_code == 2
    assert "fit_cutof" in result.output
