"""Mapping tables: complete on the real data, valid against the taxonomy, a few semantics.

The tests on real corpora use ``shared_data``: missing data skips locally and fails under CI.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from interaction_classifier.config import HEADS, load_taxonomy
from interaction_classifier.data import mappings
from interaction_classifier.data.loaders import load
from interaction_classifier.data.mappings import COLUMNS, apply_mapping, load_mapping

# Mapped dataset -> the loader column that holds its source label.
SOURCES = {
    "banking77": "category",
    "clinc150": "intent",
    "ijcnlp2017-feedback": "labels",
    "reviews-amazon-alexa": "rating",
    "reviews-yelp": "stars",
    "womens-clothing-reviews": "rating",
    "semeval2019-suggestions": "label",
    "semeval2017-sentiment": "label",
    "bueck-tickets-synthetic": "priority",
}


@cache
def _data(source: str) -> pd.DataFrame:
    return load(source)


def _row(source: str, label: str) -> pd.Series:
    df = load_mapping(source)
    return df.set_index("source_label").loc[label]


@pytest.mark.parametrize("source", SOURCES)
def test_every_source_label_in_data_is_mapped(shared_data: None, source: str) -> None:
    present = set(_data(source)[SOURCES[source]].astype(str))
    assert present, f"{source}: no labels loaded"
    missing = sorted(present - set(load_mapping(source)["source_label"]))
    assert not missing, f"{source}: source labels without a mapping row: {missing}"


@pytest.mark.parametrize("source", SOURCES)
def test_apply_mapping_on_real_data(shared_data: None, source: str) -> None:
    out = apply_mapping(_data(source), source, SOURCES[source])
    assert len(out) == len(_data(source))
    for col in (*HEADS, "label_origin"):
        assert out[col].dtype == "string", col
    filled = out[list(HEADS)].notna().any(axis=1)
    assert (out["label_origin"].notna() == filled).all()
    assert set(out["label_origin"].dropna()) <= {"mapping"}
    assert filled.any(), f"{source}: mapping fills nothing"


@pytest.mark.parametrize("source", SOURCES)
def test_labels_known_and_rationales_present(source: str) -> None:
    taxonomy = load_taxonomy()
    df = load_mapping(source)
    assert tuple(df.columns) == COLUMNS
    for head in HEADS:
        assert set(df[head].dropna()) <= set(taxonomy.labels(head)), head
    assert df["rationale"].notna().all()
    assert (df["rationale"].str.strip().str.len() > 10).all()
    assert not df["source_label"].duplicated().any()


def test_row_counts() -> None:
    assert len(load_mapping("banking77")) == 77
    assert len(load_mapping("clinc150")) == 151
    for source in ("reviews-amazon-alexa", "reviews-yelp", "womens-clothing-reviews"):
        assert sorted(load_mapping(source)["source_label"]) == ["1", "2", "3", "4", "5"]


def test_excluded_clinc_rows_are_empty_and_say_why() -> None:
    df = load_mapping("clinc150")
    empty = df[df[list(HEADS)].isna().all(axis=1)]
    assert "oos" in set(empty["source_label"])
    assert empty["rationale"].str.contains("excluded").all()
    assert df["rationale"].str.match(r"^\[\w+\] ").all()
    for label in ("tell_joke", "recipe", "pto_request", "change_volume", "timer", "gas"):
        assert label in set(empty["source_label"]), label


def test_semantic_spot_checks() -> None:
    assert _row("banking77", "lost_or_stolen_card")["urgency"] in {"critical", "high"}
    assert _row("banking77", "compromised_card")["urgency"] == "critical"
    assert _row("banking77", "card_payment_not_recognised")["sentiment"] == "negative"
    assert _row("banking77", "transaction_charged_twice")["interaction_type"] == "complaint"
    assert _row("banking77", "request_refund")["interaction_type"] == "request"
    assert _row("banking77", "age_limit")["journey_stage"] == "consideration"
    assert _row("banking77", "activate_my_card")["journey_stage"] == "acquisition"
    assert _row("banking77", "exchange_rate")["urgency"] == "normal"
    assert _row("clinc150", "report_fraud")["urgency"] == "critical"
    assert _row("clinc150", "thank_you")["interaction_type"] == "compliment"
    assert _row("clinc150", "balance")["interaction_type"] == "question"
    for source in ("reviews-amazon-alexa", "reviews-yelp", "womens-clothing-reviews"):
        assert _row(source, "1")["sentiment"] == "negative"
        assert _row(source, "5")["sentiment"] == "positive"
        assert _row(source, "5")["interaction_type"] == "compliment"
    assert _row("semeval2019-suggestions", "1")["interaction_type"] == "feedback"
    assert _row("semeval2019-suggestions", "0")[list(HEADS)].isna().all()
    assert _row("ijcnlp2017-feedback", "comment,complaint")["interaction_type"] == "complaint"
    assert _row("ijcnlp2017-feedback", "meaningless")[list(HEADS)].isna().all()
    sentiment_only = load_mapping("semeval2017-sentiment")
    assert sentiment_only[["interaction_type", "journey_stage", "urgency"]].isna().all().all()
    assert set(sentiment_only["sentiment"]) == {"negative", "neutral", "positive"}


def test_unmapped_value_raises() -> None:
    df = pd.DataFrame({"text": ["a", "b"], "category": ["card_arrival", "not_an_intent"]})
    with pytest.raises(ValueError, match="not_an_intent"):
        apply_mapping(df, "banking77", "category")


def test_ints_compare_as_strings() -> None:
    df = pd.DataFrame({"text": ["x", "y"], "rating": [1, 5]})
    out = apply_mapping(df, "reviews-yelp", "rating")
    assert out["sentiment"].tolist() == ["negative", "positive"]
    assert out["label_origin"].tolist() == ["mapping", "mapping"]


def test_row_without_any_head_has_no_origin() -> None:
    df = pd.DataFrame({"text": ["x"], "intent": ["oos"]})
    out = apply_mapping(df, "clinc150", "intent")
    assert out[[*HEADS, "label_origin"]].isna().all().all()


def _write(dirpath: Path, rows: list[str]) -> None:
    (dirpath / "toy.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(rows) + "\n")


def test_bogus_label_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, ["toy,a,question,experience,,normal,fine", "toy,b,praise,,,,bogus type"])
    monkeypatch.setattr(mappings, "MAPPINGS_DIR", tmp_path)
    with pytest.raises(ValueError, match="praise"):
        load_mapping("toy")


@pytest.mark.parametrize(
    "rows",
    [
        ["toy,a,question,,,,"],  # empty rationale
        ["toy,a,question,,,,one", "toy,a,request,,,,two"],  # duplicate source label
    ],
)
def test_invalid_tables_raise(rows: list[str], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, rows)
    monkeypatch.setattr(mappings, "MAPPINGS_DIR", tmp_path)
    with pytest.raises(ValueError):
        load_mapping("toy")


def test_wrong_columns_raise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "toy.csv").write_text("source,source_label,type\ntoy,a,question\n")
    monkeypatch.setattr(mappings, "MAPPINGS_DIR", tmp_path)
    with pytest.raises(ValueError, match="columns"):
        load_mapping("toy")
