"""Properties of predict, predict_batch and score for any input (hypothesis): labels from the
model's own label sets, scores in range, probabilities summing to one, the same answer every
time, and no exception for any string."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interaction_classifier import load_model
from interaction_classifier.batch.chunks import score_chunk
from interaction_classifier.text.validate import OK, REASONS, text_status

SYMBOLS = "$!?.,'\"()-_/@#%&*😀🇫👩\u200d中ا é\n\t\ud800\ufffd"
TEXTS = (st.text(max_size=300)
         | st.text(alphabet=SYMBOLS, max_size=600)
         | st.builds(lambda unit, n: unit * n, st.text(min_size=1, max_size=3),
                     st.integers(0, 2500)))
VALUES = TEXTS | st.none() | st.integers() | st.floats() | st.binary(max_size=40) \
    | st.lists(st.text(max_size=5), max_size=2)
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                          HealthCheck.too_slow])


@pytest.fixture(scope="module")
def model():
    return load_model()


def check_result(model, result: dict) -> None:
    """One ``predict()`` dict is within the model's contract."""
    described = model.describe()
    for head, labels in described["heads"].items():
        probabilities = result["probabilities"][head]
        assert result[head] in labels and set(probabilities) == set(labels)
        assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-5)
        assert all(0.0 <= p <= 1.0 for p in probabilities.values())
        assert result["confidence"][head] == max(probabilities.values())
    assert 0.0 <= result["urgency"] <= 1.0 and -1.0 <= result["sentiment_score"] <= 1.0
    assert result["priority"] in [*described["thresholds"]["priority"], "low"]
    assert isinstance(result["language"], str) and 2 <= len(result["language"]) <= 3
    assert isinstance(result["needs_review"], bool)
    assert all(isinstance(r, str) for r in result["reasons"])


@given(TEXTS)
@SETTINGS
def test_predict_is_in_contract_and_deterministic_for_any_string(model, text: str) -> None:
    result = model.predict(text)
    check_result(model, result)
    assert model.predict(text) == result


@given(st.lists(TEXTS, max_size=8))
@settings(SETTINGS, max_examples=60)
def test_predict_batch_is_predict_row_by_row(model, texts: list[str]) -> None:
    frame = model.predict_batch(texts)
    assert len(frame) == len(texts)
    singles = model.predict_many(texts)
    for i, single in enumerate(singles):
        check_result(model, single)
        for column in model.output_columns:
            if column in ("urgency", "sentiment_score"):
                assert frame[column].iloc[i] == pytest.approx(single[column], abs=1e-9)
            else:
                assert frame[column].iloc[i] == single[column]


@given(st.lists(VALUES, min_size=1, max_size=8))
@settings(SETTINGS, max_examples=60)
def test_score_keeps_every_row_and_flags_exactly_the_bad_ones(model, values: list) -> None:
    frame = pd.DataFrame({"text": pd.Series(values, dtype=object)})
    out = score_chunk(model, frame, "text")
    assert len(out) == len(values)
    statuses = [text_status(v) for v in values]
    assert out["status"].tolist() == statuses
    assert set(statuses) <= {OK, *REASONS}
    for i, status in enumerate(statuses):
        labels = out.iloc[i][model.heads]
        if status == OK:
            assert all(labels[h] in model.describe()["heads"][h] for h in model.heads)
            assert 0.0 <= out["urgency"].iloc[i] <= 1.0
        else:
            assert labels.isna().all()
    assert score_chunk(model, frame, "text").equals(out)
