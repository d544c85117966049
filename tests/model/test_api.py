"""The inline API contract on the committed default model."""

from __future__ import annotations

import json
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from interaction_classifier import load_model, predict, predict_batch
from interaction_classifier.config import load_taxonomy
from interaction_classifier.evaluation.card import render
from interaction_classifier.models.artifact import ArtifactError, verify_artifact
from interaction_classifier.serving.predictor import DEFAULT_MODEL_DIR
from tests.helpers.tamper import flip_byte

KEYS = {"interaction_type", "journey_stage", "sentiment", "sentiment_score", "urgency",
        "priority", "language", "needs_review", "confidence", "probabilities", "reasons",
        "model_version"}
TAX = load_taxonomy()


def test_default_model_verifies_and_is_small() -> None:
    manifest = verify_artifact(DEFAULT_MODEL_DIR)
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file())
    assert size <= 25 * 1024 * 1024
    assert manifest["corpus_fingerprint"] and manifest["libraries"]["scikit-learn"]
    assert (DEFAULT_MODEL_DIR / "MODEL_CARD.md").is_file()


def _reversed_dicts(value: object) -> object:
    if isinstance(value, dict):
        return {k: _reversed_dicts(value[k]) for k in reversed(list(value))}
    return [_reversed_dicts(v) for v in value] if isinstance(value, list) else value


def test_model_card_is_the_rendered_manifest_whatever_the_dict_order() -> None:
    # A card rendered right after training (dicts in insertion order) and one rendered from
    # the stored manifest (keys sorted) must be the same text.
    manifest = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())
    card = (DEFAULT_MODEL_DIR / "MODEL_CARD.md").read_text()
    assert render(manifest) == card
    assert render({**manifest, "metrics": _reversed_dicts(manifest["metrics"])}) == card


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, target)
    return target


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    flip_byte(target / "weights.npz", 100)
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(target)


def test_truncated_model_is_refused(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    data = (target / "weights.npz").read_bytes()
    (target / "weights.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(target)


def test_tampered_pattern_file_and_missing_manifest_are_refused(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    with (target / "patterns" / "urgency.jsonl").open("a") as fh:
        fh.write("\n")
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(target)
    (target / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match=r"no manifest\.json"):
        load_model(target)


def test_unlisted_pickle_is_refused(tmp_path: Path) -> None:
    target = _copy(tmp_path)
    (target / "extra.pkl").write_bytes(b"x")
    with pytest.raises(ArtifactError, match="not in the manifest"):
        load_model(target)


def test_predict_contract() -> None:
    result = predict("My card was stolen yesterday and I see payments I did not make!")
    assert set(result) == KEYS
    json.dumps(result)  # plain Python types only
    for head in ("interaction_type", "journey_stage", "sentiment"):
        assert result[head] in TAX.labels(head)
        probs = result["probabilities"][head]
        assert set(probs) == set(TAX.labels(head))
        assert abs(sum(probs.values()) - 1) < 1e-5
        assert result["confidence"][head] == pytest.approx(max(probs.values()))
        assert result[head] == max(probs, key=probs.get)
    assert -1 <= result["sentiment_score"] <= 1
    assert 0 <= result["urgency"] <= 1
    assert result["priority"] in TAX.labels("urgency")
    assert isinstance(result["needs_review"], bool)
    assert all(isinstance(r, str) for r in result["reasons"])
    assert isinstance(result["model_version"], str) and result["model_version"]


def test_predict_batch_contract_and_order() -> None:
    texts = ["Where is my parcel?", "Thank you so much, great service!",
             "Cancel my subscription now, this is the third time I ask.", "hi"] * 3
    frame = predict_batch(texts)
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(texts)
    assert list(frame.columns[:8]) == ["interaction_type", "journey_stage", "sentiment",
                                       "sentiment_score", "urgency", "priority", "language",
                                       "needs_review"]
    expected = [f"p_{h}__{lab}" for h in ("interaction_type", "journey_stage", "sentiment")
                for lab in TAX.labels(h)]
    assert sorted(frame.columns[8:]) == sorted(expected)
    singles = [predict(t) for t in texts]
    for i, single in enumerate(singles):
        assert frame.loc[i, "interaction_type"] == single["interaction_type"]
        assert frame.loc[i, "urgency"] == pytest.approx(single["urgency"], abs=1e-6)
    assert predict_batch([]).shape[0] == 0


def test_thread_safety_matches_serial() -> None:
    texts = [f"Order {i}: my delivery is late again, please refund me" if i % 2 else
             f"How much is plan {i}?" for i in range(64)]
    serial = [predict(t) for t in texts]
    barrier = threading.Barrier(8)

    def work(i: int) -> dict:
        if i < 8:
            barrier.wait()
        return predict(texts[i])

    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(work, range(len(texts))))
    for a, b in zip(serial, parallel, strict=True):
        assert a["interaction_type"] == b["interaction_type"]
        assert a["urgency"] == pytest.approx(b["urgency"], abs=1e-9)


@pytest.mark.parametrize("value", [None, 42, 3.5, b"bytes", ["list"], {"text": "x"}])
def test_non_string_raises_type_error_naming_type(value: object) -> None:
    with pytest.raises(TypeError, match=type(value).__name__):
        predict(value)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=type(value).__name__):
        predict_batch(["fine", value])  # type: ignore[list-item]


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \r\n"])
def test_empty_text_is_flagged(text: str) -> None:
    result = predict(text)
    assert result["needs_review"] is True
    assert any("empty" in r for r in result["reasons"])
    assert result["interaction_type"] in TAX.labels("interaction_type")


def test_long_text_is_shortened_with_reason() -> None:
    model = load_model()
    result = model.predict("my order is late " * (model.max_chars // 5))
    assert any(r.startswith("shortened: ") for r in result["reasons"])
    short = model.predict("my order is late")
    assert not any(r.startswith("shortened") for r in short["reasons"])


def test_quoted_reply_thread_is_not_scored_and_says_so() -> None:
    model = load_model()
    body = "The replacement arrived broken as well. I want my money back today."
    thread = (f"{body}\n\nOn Mon, 3 Nov 2026 at 10:00, Acme Support <help@acme.example> "
              "wrote:\n> Thank you so much for your lovely message! We are delighted that "
              "you love our products.\n> Have a wonderful day!\n")
    alone, quoted = model.predict(body), model.predict(thread)
    assert quoted["probabilities"] == alone["probabilities"]
    assert any(r.startswith("quoted reply removed") for r in quoted["reasons"])
    assert not any(r.startswith("quoted reply removed") for r in alone["reasons"])
    batch = model.predict_batch([body, thread])
    assert batch.iloc[0].equals(batch.iloc[1])


@pytest.mark.parametrize("text", [
    "Great app 😍🔥👍🏽 but it crashes", "הזמנה שלי לא הגיעה", "مرحبا، أين طلبي؟",
    "bad\x00control\x07chars\x1b[31m", "<b>Refund</b> &amp; <script>alert(1)</script>",
    "\u202eevil bidi\u202c", "\ud800 lone surrogate", "Ω" * 3000,
])
def test_any_unicode_works(text: str) -> None:
    result = predict(text)
    assert result["interaction_type"] in TAX.labels("interaction_type")
    assert 0 <= result["urgency"] <= 1


def test_load_model_returns_same_api(tmp_path: Path) -> None:
    model = load_model(_copy(tmp_path))
    assert model.predict("Where is my order?")["model_version"] == predict("x")["model_version"]
    assert list(model.predict_batch(["a", "b"]).index) == [0, 1]


def test_cli_predict_prints_the_same_result_as_a_table_as_json_and_from_stdin() -> None:
    from typer.testing import CliRunner

    from interaction_classifier.cli.main import app

    runner = CliRunner()
    text = "My card was stolen this morning, block it now!"
    expected = predict(text)
    shown = runner.invoke(app, ["predict", text])
    assert shown.exit_code == 0, shown.output
    for head in ("interaction_type", "journey_stage", "sentiment"):
        assert f"{expected[head]}  ({expected['confidence'][head]:.2f})" in shown.output
    assert f"[{expected['priority']}]" in shown.output
    assert re.search(rf"language\W+{expected['language']}\b", shown.output)
    as_json = runner.invoke(app, ["predict", "--json", text])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output) == json.loads(json.dumps(expected))
    # "-" reads the whole of stdin: a multi-line e-mail pasted or piped in.
    email = "Hello,\nmy card was stolen this morning.\nPlease block it now!\n"
    piped = runner.invoke(app, ["predict", "--json", "-"], input=email)
    assert piped.exit_code == 0, piped.output
    assert json.loads(piped.output) == json.loads(json.dumps(predict(email)))
    assert json.loads(piped.output) != json.loads(json.dumps(predict("-")))
