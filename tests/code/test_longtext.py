"""One long-message policy for predict, predict_batch, score and the HTTP service, and one
input validator for every entry point."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from interaction_classifier import load_model
from interaction_classifier.batch.run import ScoreOptions, run
from interaction_classifier.serving.http import create_app
from interaction_classifier.serving.settings import ServeSettings
from interaction_classifier.text.longtext import LongTextPolicy
from interaction_classifier.text.validate import (
    EMPTY,
    MAX_TEXT_CHARS,
    MISSING,
    NON_TEXT,
    OK,
    REASONS,
    TOO_LARGE,
    UNDECODABLE,
    text_list,
    text_status,
)

FILLER = ("I bought the premium plan for my family last spring and we have used it on three "
          "devices since then. The set-up was straightforward and the app looks tidy. ")
ASK = "Please refund the add-on urgently. "
BASE = FILLER * (9000 // len(FILLER))
AT_END = BASE + ASK  # the case: the urgent ask after 9,000 characters
IN_MIDDLE = FILLER * 30 + ASK + FILLER * 30  # an urgent ask neither head nor tail holds


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(ServeSettings())) as c:
        yield c


def _four_ways(model, client: TestClient, texts: list[str], tmp_path: Path) -> list[list]:
    """(urgency, priority) per text from predict, predict_batch, score and the service."""
    single = [model.predict(t) for t in texts]
    batch = model.predict_batch(texts)
    source, output = tmp_path / "long.csv", tmp_path / "long.scored.csv"
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    run(ScoreOptions(input=source, output=output, quiet=True))
    scored = pd.read_csv(output)
    served = client.post("/v1/predict/batch", json={"texts": texts}).json()["results"]
    return [[(r["urgency"], r["priority"]) for r in single],
            list(zip(batch["urgency"], batch["priority"], strict=True)),
            list(zip(scored["urgency"], scored["priority"], strict=True)),
            [(r["urgency"], r["priority"]) for r in served]]


def test_an_urgent_ask_anywhere_in_a_long_message_raises_urgency_the_same_way_everywhere(
        model, client: TestClient, tmp_path: Path) -> None:
    assert len(AT_END) > 8000 and len(IN_MIDDLE) > 8000
    ways = _four_ways(model, client, [BASE, AT_END, IN_MIDDLE], tmp_path)
    for way in ways[1:]:
        assert [tier for _, tier in way] == [tier for _, tier in ways[0]]
        assert [u for u, _ in way] == pytest.approx([u for u, _ in ways[0]], abs=1e-6)
    (base, _), (end, end_tier), (middle, middle_tier) = ways[0]
    assert end > base and middle > base
    assert end_tier in ("normal", "high", "critical") and middle_tier in ("high", "critical")
    scored = pd.read_csv(tmp_path / "long.scored.csv")
    assert scored["status"].eq(OK).all()  # no longer flagged too_long


def test_the_reasons_say_the_text_was_shortened_and_what_was_kept(model) -> None:
    reasons = model.predict(IN_MIDDLE)["reasons"]
    assert reasons[0].startswith(f"shortened: {len(IN_MIDDLE):,} characters")
    assert "1 urgency cue(s) found between them" in reasons[0]
    assert "time: urgent / emergency" in reasons
    assert not any(r.startswith("shortened") for r in model.predict(FILLER)["reasons"])


def test_a_lowering_cue_in_the_middle_does_not_raise(model) -> None:
    calm = FILLER * 30 + "This is not urgent, please refund the add-on. " + FILLER * 30
    assert model.predict(calm)["priority"] in ("low", "normal")


def test_policy_keeps_head_and_tail_within_max_chars() -> None:
    policy = LongTextPolicy(max_chars=100, head_share=0.3)
    text = " ".join(f"word{i}" for i in range(100))
    head, middle, tail = policy.split(text)
    assert head + middle + tail == text
    assert len(head) + len(tail) <= 100 and len(head) <= 30
    assert head.endswith(" ") and tail.startswith(" ")  # cut between words
    assert policy.shorten("short", None) == ("short", [], None)
    scored, cues, reason = policy.shorten(text, None)
    assert scored == f"{head}\n\n{tail}" and cues == [] and reason.startswith("shortened")


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_head_share_is_checked(share: float) -> None:
    with pytest.raises(ValueError, match="head_share"):
        LongTextPolicy(max_chars=100, head_share=share)


def test_head_share_is_configurable_per_model(model) -> None:
    tail_only = load_model(head_share=0.0)
    assert tail_only.long_text.head_share == 0.0
    assert tail_only.with_thresholds().long_text.head_share == 0.0
    start_urgent = ASK + BASE
    assert "scored the first 0 and the last 4,999, with 1 urgency cue(s)" in \
        tail_only.predict(start_urgent)["reasons"][0]
    assert "with 0 urgency cue(s)" in model.predict(start_urgent)["reasons"][0]


@pytest.mark.parametrize(("value", "status"), [
    (None, MISSING), (math.nan, MISSING), (pd.NA, MISSING), (123, NON_TEXT),
    (True, NON_TEXT), (["a"], NON_TEXT), ("", EMPTY), (" \n\t", EMPTY),
    (b"\xff\xfe", UNDECODABLE), ("caf\ufffd", UNDECODABLE), ("lone \ud800", UNDECODABLE),
    ("\udfff", UNDECODABLE), ("fine", OK), (b"fine bytes", OK), ("é" * 9000, OK),
    ("a" * MAX_TEXT_CHARS, OK), ("a" * (MAX_TEXT_CHARS + 1), TOO_LARGE)])
def test_one_validator_names_every_kind_of_input(value: object, status: str) -> None:
    assert text_status(value) == status


@pytest.mark.parametrize("value", ["hello", b"hello", 5, None])
def test_a_batch_must_be_a_collection_of_messages(model, value: object) -> None:
    with pytest.raises(TypeError, match="texts must be an iterable of messages"):
        model.predict_batch(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="texts must be an iterable"):
        text_list(value)
    assert text_list(("a", "b")) == ["a", "b"]


def test_undecodable_text_in_predict_is_scored_but_reviewed(model) -> None:
    result = model.predict("where is my order \ud800")
    assert result["needs_review"] is True
    assert result["reasons"][0].startswith("needs review: undecodable")


def test_a_dump_over_the_ceiling_is_flagged_everywhere_and_never_scored(
        model, client: TestClient, tmp_path: Path) -> None:
    dump = ("my card was stolen, block it now " * (MAX_TEXT_CHARS // 30 + 1))
    assert len(dump) > MAX_TEXT_CHARS
    single = model.predict(dump)
    assert single["needs_review"] is True
    assert single["reasons"][0] == f"needs review: {REASONS[TOO_LARGE]}"
    assert model.predict_batch([dump, "thanks"])["needs_review"].tolist() == [True, False]
    source, output = tmp_path / "dump.csv", tmp_path / "dump.scored.csv"
    pd.DataFrame({"text": [dump, "thanks"]}).to_csv(source, index=False)
    run(ScoreOptions(input=source, output=output, quiet=True))
    assert pd.read_csv(output)["status"].tolist() == [TOO_LARGE, OK]
    served = client.post("/v1/predict/batch", json={"texts": [dump]}).json()["results"][0]
    assert served["status"] == TOO_LARGE and served["interaction_type"] is None
