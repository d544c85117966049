"""Soft-label rows for distillation (training.distill) and their training weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interaction_classifier.training.distill import exclude, teacher_rows
from interaction_classifier.training.weights import head_rows, head_weights

HEADS = ["interaction_type", "sentiment", "urgency"]
TEXTS = pd.DataFrame({"text": ["where is my parcel", "Great service!"],
                      "source": ["twcs", "twcs"], "source_id": ["1", "2"]})
PROBA = pd.DataFrame({"p_interaction_type__complaint": [0.30, 0.01],
                      "p_interaction_type__question": [0.66, 0.02],
                      "p_interaction_type__compliment": [0.04, 0.97],
                      "p_sentiment__negative": [0.5, 0.0],
                      "p_sentiment__positive": [0.5, 1.0]})


def rows() -> pd.DataFrame:
    return teacher_rows(TEXTS, PROBA, ["interaction_type", "sentiment"], HEADS)


def test_weights_sum_to_one_per_text_and_head() -> None:
    got = rows()
    for head in ("interaction_type", "sentiment"):
        part = got[got[head].notna()]
        sums = part.groupby("source_id")["row_weight"].sum()
        assert np.allclose(sums, 1.0) and list(sums.index) == ["1", "2"]
    assert got["urgency"].isna().all() and (got["label_origin"] == "teacher").all()
    assert (got["split"] == "train").all()


def test_small_classes_dropped_and_renormalised() -> None:
    got = rows()
    first = got[(got["source_id"] == "1") & got["interaction_type"].notna()]
    assert sorted(first["interaction_type"]) == ["complaint", "question"]
    assert first["row_weight"].to_numpy() == pytest.approx([0.30 / 0.96, 0.66 / 0.96])
    second = got[(got["source_id"] == "2") & got["interaction_type"].notna()]
    assert list(second["interaction_type"]) == ["compliment"]


def test_excluded_text_never_enters() -> None:
    held = pd.DataFrame({"text": ["  GREAT service! "], "source": ["gold"], "source_id": ["x"]})
    held_id = pd.DataFrame({"text": ["other"], "source": ["twcs"], "source_id": ["1"]})
    assert list(exclude(TEXTS, held)["source_id"]) == ["1"]
    assert list(exclude(TEXTS, held_id)["source_id"]) == ["2"]


def test_row_weight_scales_head_weights_and_rows_are_not_capped() -> None:
    got = rows()
    mcfg = {"origin_weights": {"teacher": 0.5}}
    part = got[got["sentiment"].notna()]
    assert head_weights(part, "sentiment", mcfg) == pytest.approx(0.5 * part["row_weight"])
    assert head_weights(part.drop(columns="row_weight"), "sentiment", mcfg) \
        == pytest.approx([0.5] * len(part))
    assert len(head_rows(got, "sentiment", cap=1, seed=0)) == len(part)
