"""The model contract on both kinds of model: the shipped four-head default model and a small
model retrained on other labels without urgency (``tests.helpers.tiny_model``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from interaction_classifier import load_model, predict, predict_batch
from interaction_classifier.cli.main import app
from interaction_classifier.serving.predictor import Predictor, default_model
from tests.helpers.tiny_model import REVIEW, VOCABULARY, build_tiny_model

TEXTS = ["My card was stolen yesterday, block it now!", "Where is my parcel?",
         "my invoice was reversed this morning", "the courier came today", "hello"]
DEFAULT_COLUMNS = ["interaction_type", "journey_stage", "sentiment", "sentiment_score",
                   "urgency", "priority", "language", "needs_review"]
URGENCY_KEYS = {"urgency", "priority", "sentiment_score"}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path) -> Predictor:
    return load_model(tiny_dir)


@pytest.fixture(params=["default", "tiny"])
def model(request: pytest.FixtureRequest) -> Predictor:
    return default_model() if request.param == "default" else request.getfixturevalue("tiny")


def test_describe_declares_heads_labels_thresholds_and_capabilities(tiny: Predictor) -> None:
    described = default_model().describe()
    assert list(described["heads"]) == ["interaction_type", "journey_stage", "sentiment"]
    assert described["capabilities"] == {"urgency": True, "sentiment_score": True}
    assert described["thresholds"]["review"] == {
        "interaction_type": 0.45, "journey_stage": 0.45, "sentiment": 0.5}
    assert described["thresholds"]["priority"] == {"critical": 0.83, "high": 0.5, "normal": 0.17}
    small = tiny.describe()
    assert small == {
        "version": "tiny-test",
        "heads": {h: sorted(labels) for h, labels in VOCABULARY.items()},
        "capabilities": {"urgency": False, "sentiment_score": False},
        "thresholds": {"review": REVIEW, "priority": {}},
    }
    json.dumps(small)


def test_output_columns_are_what_predict_and_predict_batch_give(model: Predictor) -> None:
    heads = model.describe()["heads"]
    expected = DEFAULT_COLUMNS if model.model.has_urgency else [*heads, "language",
                                                                 "needs_review"]
    assert model.output_columns == expected
    frame = model.predict_batch(TEXTS)
    n = len(expected)
    assert list(frame.columns[:n]) == expected
    assert list(frame.columns[n:]) == [f"p_{h}__{label}" for h, labels in heads.items()
                                       for label in labels]
    result = model.predict(TEXTS[0])
    assert list(result)[:n] == expected
    assert set(result) - set(expected) == {"probabilities", "confidence", "reasons",
                                           "model_version"}
    for i, text in enumerate(TEXTS):
        single = model.predict(text)
        for column in heads:
            assert frame.loc[i, column] == single[column]
            assert single[column] in heads[column]
            assert single[column] == max(single["probabilities"][column],
                                         key=single["probabilities"][column].get)


def test_a_model_without_urgency_has_no_urgency_keys_or_columns(tiny: Predictor) -> None:
    result = tiny.predict("my bill bounced back")
    assert not URGENCY_KEYS & set(result)
    assert result["topic"] == "Billing & Payments"
    assert result["intent"] == "reverted_card_payment?"
    frame = tiny.predict_batch(["my bill bounced back", ""])
    assert not URGENCY_KEYS & set(frame.columns)
    assert not [c for c in frame.columns if c.startswith("p_urgency")]
    assert frame["needs_review"].tolist() == [False, True]  # empty text is always flagged



def test_a_sentiment_head_without_urgency_gives_no_sentiment_score(tiny: Predictor) -> None:
    from dataclasses import replace

    intent = tiny.model.heads["intent"]
    head = replace(intent, name="sentiment", classes=["negative", "positive"])
    model = replace(tiny.model, heads={"sentiment": head}, abstain={})
    assert model.describe()["capabilities"] == {"urgency": False, "sentiment_score": False}
    assert model.describe()["thresholds"]["review"] == {"sentiment": 0.0}
    out, _, _ = model.predict_arrays(["my bill bounced back"])
    assert list(out) == model.output_columns == ["sentiment", "language", "needs_review"]

def test_review_threshold_one_flags_every_row_and_zero_none(model: Predictor) -> None:
    heads = model.heads
    everything = model.predict_batch(TEXTS, review=dict.fromkeys(heads, 1.0))
    assert everything["needs_review"].all()
    nothing = model.predict_batch(TEXTS, review=dict.fromkeys(heads, 0.0))
    assert not nothing["needs_review"].any()
    one = model.predict(TEXTS[1], review={heads[-1]: 1.0})
    assert one["needs_review"] is True
    assert any(r.startswith(f"needs review: low confidence in {heads[-1]}")
               for r in one["reasons"])
    assert model.describe()["thresholds"]["review"] == model.model.review_thresholds()


def test_a_partial_review_override_keeps_the_other_defaults(tiny: Predictor) -> None:
    probs = tiny.predict_batch(TEXTS)
    top = {h: probs[[c for c in probs if c.startswith(f"p_{h}__")]].max(axis=1)
           for h in tiny.heads}
    got = tiny.predict_batch(TEXTS, review={"topic": 0.99})["needs_review"]
    expected = (top["topic"] < 0.99) | (top["intent"] < REVIEW["intent"])
    assert got.tolist() == expected.tolist()


def test_priority_cutoffs_change_the_tier() -> None:
    model = default_model()
    tiers = list(model.describe()["thresholds"]["priority"])
    top = model.predict_batch(TEXTS, priority=dict.fromkeys(tiers, 0.0))
    assert (top["priority"] == "critical").all()
    bottom = model.predict_batch(TEXTS, priority=dict.fromkeys(tiers, 1.0))
    assert (bottom["priority"] == "low").all()
    default = model.predict_batch(TEXTS)
    assert default["urgency"].tolist() == top["urgency"].tolist()
    cut = {"critical": 0.99, "high": 0.99, "normal": 0.0}
    for score, tier in zip(default["urgency"], model.predict_batch(TEXTS, priority=cut)
                           ["priority"], strict=True):
        assert tier == ("critical" if score >= 0.99 else "normal")
    assert predict(TEXTS[0], priority=dict.fromkeys(tiers, 0.0))["priority"] == "critical"
    assert (predict_batch(TEXTS[:2], priority=dict.fromkeys(tiers, 1.0))["priority"]
            == "low").all()


def test_default_tiers_are_the_first_threshold_reached_in_descending_order() -> None:
    urgency = default_model().model.urgency
    scores = pd.Series([0.0, 0.169, 0.17, 0.49, 0.5, 0.83, 0.99]).to_numpy()
    assert urgency.tiers_of(scores, urgency.cutoffs()).tolist() == [
        "low", "low", "normal", "normal", "high", "critical", "critical"]


@pytest.mark.parametrize("review, priority, message", [
    ({"nope": 0.5}, None, r"unknown head 'nope'; known: "),
    ({"__first__": 1.5}, None, r"must be a number in \[0, 1\], not 1.5"),
    ({"__first__": -0.1}, None, r"not -0.1"),
    ({"__first__": math.nan}, None, r"not nan"),
    ({"__first__": "0.5"}, None, r"not '0.5'"),
    ({"__first__": True}, None, r"not True"),
    (None, {"urgent": 0.5}, r"unknown priority tier 'urgent'; known: "),
])
def test_invalid_overrides_raise_naming_what_is_known(model: Predictor, review: dict | None,
                                                      priority: dict | None,
                                                      message: str) -> None:
    if review and "__first__" in review:
        review = {model.heads[0]: review["__first__"]}
    with pytest.raises(ValueError, match=message) as info:
        model.predict("hello", review=review, priority=priority)
    if "known" in message:
        known = model.heads if review else list(model.describe()["thresholds"]["priority"])
        assert all(repr(k) in str(info.value) for k in known) if known else \
            "no urgency" in str(info.value)
    with pytest.raises(ValueError, match=message):
        model.predict_batch(["hello"], review=review, priority=priority)
    with pytest.raises(ValueError, match=message):
        model.with_thresholds(review, priority)


def test_priority_on_a_model_without_urgency_is_refused(tiny: Predictor) -> None:
    with pytest.raises(ValueError, match=r"known: none \(this model has no urgency\)"):
        tiny.predict("hello", priority={"high": 0.5})


def test_with_thresholds_changes_a_copy_only(tiny: Predictor) -> None:
    strict = tiny.with_thresholds(review={"intent": 1.0})
    assert strict.describe()["thresholds"]["review"] == {**REVIEW, "intent": 1.0}
    assert tiny.describe()["thresholds"]["review"] == REVIEW
    assert strict.predict_batch(TEXTS)["needs_review"].all()
    assert not strict.predict_batch(TEXTS, review={"intent": 0.0, "topic": 0.0})[
        "needs_review"].any()
    assert tiny.predict_batch(TEXTS)["needs_review"].tolist() != [True] * len(TEXTS)


def test_overrides_do_not_leak_into_later_calls(model: Predictor) -> None:
    before = model.predict_batch(TEXTS)
    model.predict_batch(TEXTS, review=dict.fromkeys(model.heads, 1.0))
    pd.testing.assert_frame_equal(model.predict_batch(TEXTS), before)


def _invoke(*args: str) -> object:
    return CliRunner().invoke(app, ["predict", *args])


def test_cli_table_and_json_for_a_model_without_urgency(tiny_dir: Path, tiny: Predictor) -> None:
    text = "my invoice was reversed this morning"
    expected = tiny.predict(text)
    shown = _invoke(text, "--model", str(tiny_dir))
    assert shown.exit_code == 0, shown.output
    for head in VOCABULARY:
        assert f"{expected[head]}  ({expected['confidence'][head]:.2f})" in shown.output
    assert "urgency" not in shown.output and "sentiment_score" not in shown.output
    assert "tiny-test" in shown.output
    as_json = _invoke(text, "--model", str(tiny_dir), "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == json.loads(json.dumps(expected))


def test_cli_overrides(tiny_dir: Path) -> None:
    text = "my invoice was reversed this morning"
    strict = _invoke(text, "--model", str(tiny_dir), "--json", "--review-threshold",
                     "topic=1", "--review-threshold", "intent=1.0")
    assert strict.exit_code == 0, strict.output
    result = json.loads(strict.output)
    assert result["needs_review"] is True
    assert sum(r.startswith("needs review: low confidence") for r in result["reasons"]) == 2
    default = _invoke("Hi, where is my parcel? It is late.", "--json", "--priority-cutoff",
                      "critical=0", "--priority-cutoff", "high=0", "--priority-cutoff",
                      "normal=0")
    assert default.exit_code == 0, default.output
    assert json.loads(default.output)["priority"] == "critical"


@pytest.mark.parametrize("option, message", [
    (["--review-threshold", "topic=abc"], "expected NAME=NUMBER"),
    (["--review-threshold", "topic"], "expected NAME=NUMBER"),
    (["--review-threshold", "=0.5"], "expected NAME=NUMBER"),
    (["--review-threshold", "topic=2"], "must be a number in [0, 1]"),
    (["--review-threshold", "sentiment=0.5"], "unknown head 'sentiment'; known: 'topic'"),
    (["--priority-cutoff", "high=0.5"], "no urgency"),
])
def test_cli_bad_override_is_a_one_line_error_with_exit_code_2(
        tiny_dir: Path, option: list[str], message: str) -> None:
    result = _invoke("hello", "--model", str(tiny_dir), *option)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]


BAD_ROWS = [None, math.nan, 123, "", "   ", b"\xff\xfe", ["a list"]]
BAD_STATUS = ["missing_text", "missing_text", "non_text", "empty_text", "empty_text",
              "undecodable", "non_text"]


def _pyfunc(directory: Path) -> object:
    from mlflow.pyfunc import PythonModelContext

    from interaction_classifier.serving.pyfunc import InteractionClassifierPyfunc

    wrapped = InteractionClassifierPyfunc()
    wrapped.load_context(PythonModelContext({"model_dir": str(directory)}, None))
    return wrapped


@pytest.mark.parametrize("kind", ["default", "tiny"])
def test_pyfunc_flags_bad_rows_instead_of_scoring_them(kind: str,
                                                       request: pytest.FixtureRequest) -> None:
    from interaction_classifier.config import DEFAULT_MODEL_DIR

    directory = DEFAULT_MODEL_DIR if kind == "default" else request.getfixturevalue("tiny_dir")
    wrapped = _pyfunc(directory)
    predictor = wrapped.model
    good = "my invoice was reversed this morning"
    frame = pd.DataFrame({"text": [good, *BAD_ROWS, good]}, index=[7] * (len(BAD_ROWS) + 2))
    out = wrapped.predict(None, frame)
    assert len(out) == len(frame)
    columns = predictor.output_columns
    assert list(out.columns[:len(columns)]) == columns
    assert list(out.columns[-2:]) == ["status", "model_version"]
    assert out["status"].tolist() == ["ok", *BAD_STATUS, "ok"]
    assert out["needs_review"].dtype == bool
    assert out["needs_review"].iloc[1:-1].all()
    assert out.iloc[1:-1][predictor.heads].isna().all().all()
    expected = predictor.predict_batch([good])
    for head in predictor.heads:
        assert out[head].iloc[0] == out[head].iloc[-1] == expected[head].iloc[0]
    # the strings "None", "nan", "123" would have been scored: they are not
    assert not out.iloc[1:-1][[c for c in out if c.startswith("p_")]].notna().any().any()


def test_pyfunc_params_override_thresholds_and_are_checked(tiny_dir: Path) -> None:
    from interaction_classifier.serving.pyfunc import signature_params

    wrapped = _pyfunc(tiny_dir)
    texts = pd.DataFrame({"text": TEXTS})
    assert signature_params(wrapped.model) == {f"review.{h}": v for h, v in REVIEW.items()}
    strict = wrapped.predict(None, texts, params={"review.topic": 1.0})
    assert strict["needs_review"].all()
    lenient = wrapped.predict(None, texts, params={"review.topic": 0.0, "review.intent": 0.0})
    assert not lenient["needs_review"].any()
    for params, message in [({"review.nope": 0.5}, "unknown head 'nope'"),
                            ({"topic": 0.5}, "unknown param 'topic'"),
                            ({"priority.high": 0.5}, "no urgency"),
                            ({"review.topic": 3}, r"in \[0, 1\]")]:
        with pytest.raises(ValueError, match=message):
            wrapped.predict(None, texts, params=params)
    with pytest.raises(ValueError, match="needs a 'text' column"):
        wrapped.predict(None, pd.DataFrame({"message": ["hello"]}))
    assert wrapped.predict(None, ["hello", None])["status"].tolist() == ["ok", "missing_text"]


def test_pyfunc_saved_and_loaded_through_mlflow(tiny_dir: Path, tmp_path: Path) -> None:
    import mlflow.pyfunc

    from interaction_classifier.serving.pyfunc import save_pyfunc

    save_pyfunc(tiny_dir, tmp_path / "pyfunc")
    served = mlflow.pyfunc.load_model(str(tmp_path / "pyfunc"))
    out = served.predict(pd.DataFrame({"text": ["my bill bounced back", None]}),
                         params={"review.intent": 1.0})
    assert out["status"].tolist() == ["ok", "missing_text"]
    assert out["topic"].iloc[0] == "Billing & Payments"
    assert out["needs_review"].tolist() == [True, True]
    assert not URGENCY_KEYS & set(out.columns)
