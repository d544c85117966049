"""The corpus build: deterministic bytes, no leakage, gold kept out, provenance recorded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from interaction_classifier.config import HEADS, load_taxonomy
from interaction_classifier.data.corpus import (
    COLUMNS,
    HOW_TO,
    HOW_TO_RULE,
    build_corpus,
    dedup_key,
    how_to_questions,
    load_corpus_config,
    rule_labels,
    write_corpus,
)
from interaction_classifier.data.gold import load_gold
from interaction_classifier.text.cues import Cue


@pytest.fixture(scope="module")
def built(shared_data, tmp_path_factory) -> tuple[pd.DataFrame, Path, Path]:
    cfg = load_corpus_config()
    out = tmp_path_factory.mktemp("corpus")
    first, report = build_corpus(cfg)
    second, _ = build_corpus(cfg)
    a = write_corpus(first, out / "a.parquet")
    b = write_corpus(second, out / "b.parquet")
    assert report.rows_written == len(first)
    return first, a, b


def test_build_is_deterministic(built) -> None:
    _, a, b = built
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def test_schema_and_labels(built) -> None:
    frame, _, _ = built
    assert list(frame.columns) == COLUMNS
    tax = load_taxonomy()
    for head in HEADS:
        assert set(frame[head].dropna()) <= set(tax.labels(head))
        assert frame[head].notna().sum() > 1000
    assert frame[list(HEADS)].notna().any(axis=1).all()
    assert set(frame["label_origin"].dropna()) <= {"mapping", "rule", "mapping+rule", "hand",
                                                     "written"}
    assert set(frame["split"]) == {"train", "valid", "test"}


def test_rule_labels_record_their_pattern(built) -> None:
    frame, _, _ = built
    ruled = frame[frame["label_origin"].str.contains("rule", na=False)]
    assert len(ruled) > 100
    assert ruled["rule_ids"].notna().all()
    assert frame.loc[frame["label_origin"] == "mapping", "rule_ids"].isna().all()


def test_how_to_requests_become_questions(built) -> None:
    frame, _, _ = built
    intents = frame[frame["source"].isin(["banking77", "clinc150"])]
    moved = intents[intents["rule_ids"] == HOW_TO_RULE]
    assert len(moved) > 100
    assert (moved["interaction_type"] == "question").all()
    assert (moved["label_origin"] == "mapping+rule").all()
    still = intents[(intents["interaction_type"] == "request") & intents["text"].str.match(HOW_TO)]
    assert still.empty


def test_how_to_rule_leaves_other_labels_alone() -> None:
    df = pd.DataFrame({
        "text": ["How do I reset my PIN?", "Please reset my PIN", "How do I reset my PIN?",
                 "where can i rent a car"],
        "interaction_type": pd.array(["request", "request", "complaint", pd.NA], dtype="string"),
        "label_origin": pd.array(["mapping"] * 4, dtype="string"),
        "rule_ids": pd.array([pd.NA] * 4, dtype="string"),
    })
    out = how_to_questions(df)
    assert out["interaction_type"].tolist()[:3] == ["question", "request", "complaint"]
    assert out["interaction_type"].isna().tolist() == [False, False, False, True]
    assert out["rule_ids"].notna().tolist() == [True, False, False, False]
    assert df["interaction_type"].iloc[0] == "request"  # the input is not modified


def test_no_text_in_two_splits_and_no_duplicates(built) -> None:
    frame, _, _ = built
    keys = frame["text"].map(dedup_key)
    assert keys.is_unique
    assert keys.groupby(frame["split"]).apply(set).pipe(
        lambda s: not (s["train"] & s["test"]) and not (s["train"] & s["valid"]))


def test_gold_never_in_corpus(built) -> None:
    frame, _, _ = built
    gold = load_gold()
    ids = set(zip(frame["source"], frame["source_id"], strict=True))
    assert not ids & set(zip(gold["dataset"], gold["source_id"], strict=True))
    assert not set(frame["text"].map(dedup_key)) & set(gold["text"].map(dedup_key))


def test_semeval_heldout_never_in_corpus(built) -> None:
    from interaction_classifier.evaluation.metrics import semeval_heldout

    frame, _, _ = built
    held = semeval_heldout()
    sem = frame[frame["source"] == "semeval2017-sentiment"]
    assert not set(sem["source_id"]) & set(held["source_id"])


def test_dedup_key_ignores_case_urls_mentions_punctuation() -> None:
    assert dedup_key("@Brand My ORDER is late!!! https://t.co/x") == dedup_key(
        "my order is late")
    assert dedup_key("order 12 late") != dedup_key("order 13 late")


def _cue(head: str, label: str, lowers: bool = False) -> Cue:
    return Cue(f"{head}.{label}.x", head, label, "r", "t", lowers)


def test_rule_precedence_and_single_stage() -> None:
    tax = load_taxonomy()
    cues = [_cue("interaction_type", "question"), _cue("interaction_type", "complaint"),
            _cue("journey_stage", "experience"), _cue("journey_stage", "loyalty"),
            _cue("urgency", "repetition"), _cue("urgency", "risk")]
    labels = rule_labels(cues, tax)
    assert labels["interaction_type"][0] == "complaint"
    assert "journey_stage" not in labels  # two stages fired: no rule label
    assert labels["urgency"][0] == "critical"
    thanks = rule_labels([_cue("interaction_type", "compliment"),
                          _cue("urgency", "dissatisfaction", lowers=True)], tax)
    assert thanks["urgency"][0] == "low"
