"""The evaluation report and its measures, for any model; MLflow-safe metric names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from interaction_classifier.evaluation.metrics import (
    macro_f1_interval,
    paired_accuracy_difference,
    paired_macro_f1_difference,
    per_source,
)


def test_per_source_reports_accuracy_beside_macro_f1() -> None:
    # One source labelled all `feedback`, one wrong prediction in 40: macro-F1 averages
    # over the wrongly predicted label too, accuracy shows how rare the error is.
    truth = ["feedback"] * 40 + ["question", "request"] * 15
    frame = pd.DataFrame({"source": ["suggestions"] * 40 + ["tickets"] * 30,
                          "interaction_type": truth, "sentiment": [None] * 70})
    pred = pd.DataFrame({"interaction_type": ["question", *truth[1:]],
                         "sentiment": ["neutral"] * 70})
    table = per_source(frame, pred, ["interaction_type", "sentiment"]).set_index("source")
    assert table.loc["suggestions", "interaction_type acc"] == pytest.approx(39 / 40)
    assert table.loc["suggestions", "interaction_type F1"] == pytest.approx((2 * 39 / 79) / 2)
    assert table.loc["tickets", "interaction_type acc"] == 1.0
    assert table.loc["tickets", "n"] == 30
    # A head with fewer than 20 labels for a source is left out, not scored on nothing.
    assert "sentiment F1" not in table.columns


def _noisy_labels(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = ["a", "b", "c", "d"]
    truth = rng.choice(labels, n, p=[0.7, 0.2, 0.07, 0.03])
    pred = np.where(rng.random(n) < 0.7, truth, rng.choice([*labels, "other"], n))
    return truth, pred


def test_macro_f1_interval_brackets_the_estimate_and_narrows_with_more_rows() -> None:
    truth, pred = _noisy_labels(300)
    labels = ["a", "b", "c", "d"]
    point = f1_score(truth, pred, labels=labels, average="macro")
    small = macro_f1_interval(truth, pred, labels)
    assert small["low"] < point < small["high"]
    big = macro_f1_interval(np.tile(truth, 10), np.tile(pred, 10), labels)
    assert big["high"] - big["low"] < (small["high"] - small["low"]) / 2


def test_macro_f1_interval_of_perfect_and_of_useless_predictions() -> None:
    truth, _ = _noisy_labels(200)
    labels = ["a", "b", "c", "d"]
    assert macro_f1_interval(truth, truth, labels) == {"low": 1.0, "high": 1.0}
    # A label outside the set is wrong for every row, never a hit for some class.
    assert macro_f1_interval(truth, np.full(200, "other"), labels) == {"low": 0.0, "high": 0.0}


def test_evaluate_report_fits_an_80_column_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # The committed model's stored report, printed as `interaction-classifier evaluate` does:
    # every number whole at 80 columns (a CI log, a default terminal), none cut to "…".
    import json

    from rich.console import Console

    from interaction_classifier.cli import evaluate as cli
    from interaction_classifier.config import DEFAULT_MODEL_DIR

    report = json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text())["metrics"]
    console = Console(width=80, record=True, force_terminal=False)
    monkeypatch.setattr(cli, "console", console)
    cli.print_report(report)
    text = console.export_text()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    gold = report["gold"]
    for head, m in gold.items():
        row = next(line for line in text.split("gold set")[1].splitlines() if head in line)
        assert f"{m['macro_f1']:.3f}" in row and f"{m['accuracy']:.3f}" in row
    assert f"{gold['urgency']['roc_auc_urgent']:.3f}" in text


def test_one_report_for_any_model_on_a_labelled_frame(tmp_path) -> None:
    # A model with no urgency and labels MLflow and Markdown dislike: every head gets the
    # same sections, the review threshold is the model's, the plots are written.
    import sys

    from interaction_classifier import load_model
    from interaction_classifier.evaluation.report import evaluation_report, without_texts

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from helpers.tiny_model import REVIEW, build_tiny_model, generate

    predictor = load_model(build_tiny_model(tmp_path / "model"))
    frame = pd.DataFrame(generate(120, seed=7))
    report = evaluation_report(predictor, frame, tmp_path / "plots")
    assert set(report) == {"topic", "intent", "score"}
    for head in ("topic", "intent"):
        m = report[head]
        assert m["n"] == 120 and m["abstain"]["threshold"] == REVIEW[head]
        assert {"accuracy", "macro_f1", "macro_f1_ci95", "weighted", "macro", "per_class",
                "ece", "abstain_table", "most_confused"} <= set(m)
        for kind in ("confusion", "calibration", "abstain"):
            assert (tmp_path / "plots" / f"{kind}_test_{head}.png").stat().st_size > 0
    assert report["score"] == pytest.approx(
        (report["topic"]["macro_f1"] + report["intent"]["macro_f1"]) / 2)
    assert "examples" not in str(without_texts(report))
    with pytest.raises(ValueError, match="no column named after a head"):
        evaluation_report(predictor, frame.rename(columns={"topic": "x", "intent": "y"}))


def test_mlflow_names_are_sanitised_and_mapped_back() -> None:
    from interaction_classifier.training.tracking import safe_name, sanitise

    names: dict[str, str] = {}
    out = sanitise({"intent.per_class.reverted_card_payment?.f1": 1.0,
                    "intent.per_class.reverted_card_payment&.f1": 0.5,
                    "topic.per_class.Compte d'accès café.f1": 0.2,
                    "topic.accuracy": 0.9}, names)
    assert "topic.accuracy" in out and "topic.accuracy" not in names
    assert len(out) == 4 and len(names) == 3  # two labels differing in one symbol stay two
    for safe, original in names.items():
        assert re.fullmatch(r"[A-Za-z0-9_\-. ]+", safe)
        assert out[safe] == {"intent.per_class.reverted_card_payment?.f1": 1.0,
                             "intent.per_class.reverted_card_payment&.f1": 0.5,
                             "topic.per_class.Compte d'accès café.f1": 0.2}[original]
    assert safe_name("Billing & Payments").startswith("Billing _ Payments_")
    assert safe_name("ok-name_1.2") == "ok-name_1.2"


def test_abstention_reports_what_the_threshold_keeps_and_flags() -> None:
    from interaction_classifier.evaluation.metrics import abstain_table, abstention

    truth = pd.Series(["a", "a", "b", "b", None])
    proba = pd.DataFrame({"p_h__a": [0.9, 0.4, 0.3, 0.55, 0.5],
                          "p_h__b": [0.1, 0.6, 0.7, 0.45, 0.5]})
    # Confidences 0.9 (right), 0.6 (wrong), 0.7 (right), 0.55 (wrong); the unlabelled row
    # does not count.
    result = abstention(truth, proba, threshold=0.65)
    assert result == {"threshold": 0.65, "review_rate": 0.5, "accuracy_kept": 1.0,
                      "accuracy_flagged": 0.0}
    assert abstention(truth, proba, threshold=0.0)["accuracy_flagged"] is None
    assert abstention(truth, proba, threshold=0.95)["accuracy_kept"] is None
    table = {r["threshold"]: r for r in abstain_table(truth, proba, np.array([0.0, 0.65]))}
    assert table[0.65]["coverage"] == 0.5 and table[0.65]["accuracy"] == 1.0
    assert table[0.0]["accuracy"] == 0.5


def test_paired_difference_resolves_what_two_separate_intervals_cannot() -> None:
    truth, pred = _noisy_labels(300)
    labels = ["a", "b", "c", "d"]
    better = pred.copy()
    wrong = np.flatnonzero(pred != truth)
    better[wrong[: len(wrong) // 4]] = truth[wrong[: len(wrong) // 4]]  # fixes a quarter
    d = paired_macro_f1_difference(truth, pred, better, labels)
    assert d["difference"] == pytest.approx(f1_score(truth, better, labels=labels,
                                                     average="macro")
                                            - f1_score(truth, pred, labels=labels,
                                                       average="macro"))
    assert 0 < d["low"] <= d["difference"] <= d["high"] and d["n"] == 300
    a, b = macro_f1_interval(truth, pred, labels), macro_f1_interval(truth, better, labels)
    assert a["high"] > b["low"]  # the separate intervals overlap
    same = paired_macro_f1_difference(truth, pred, pred, labels)
    assert same == {"difference": 0.0, "low": 0.0, "high": 0.0, "n": 300}
    worse = paired_macro_f1_difference(truth, better, pred, labels)
    assert worse["high"] < 0


def test_paired_accuracy_difference_is_the_accuracy_gain_with_its_interval() -> None:
    truth, pred = _noisy_labels(300)
    better = pred.copy()
    wrong = np.flatnonzero(pred != truth)
    better[wrong[:10]] = truth[wrong[:10]]  # ten more right answers in 300
    d = paired_accuracy_difference(truth, pred, better)
    assert d["difference"] == pytest.approx(10 / 300) and d["n"] == 300
    assert 0 < d["low"] <= d["difference"] <= d["high"]
    assert paired_accuracy_difference(truth, pred, pred) == {
        "difference": 0.0, "low": 0.0, "high": 0.0, "n": 300}


def test_evaluate_against_prints_the_paired_difference_per_head(tmp_path: Path) -> None:
    import json
    import sys

    from typer.testing import CliRunner

    from interaction_classifier.cli.main import app

    sys.path.insert(0, str(Path(__file__).parents[1]))
    from helpers.tiny_model import build_tiny_model, generate

    weak = build_tiny_model(tmp_path / "weak", n=40, seed=3, version="weak")
    strong = build_tiny_model(tmp_path / "strong", n=300, seed=0, version="strong")
    pd.DataFrame(generate(200, seed=11)).to_csv(tmp_path / "test.csv", index=False)
    args = ["evaluate", "--model", str(strong), "--against", str(weak), "--data",
            str(tmp_path / "test.csv")]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert set(found) == {"topic", "intent"}
    for d in found.values():
        assert d["n"] == 200 and d["low"] <= d["difference"] <= d["high"]
    table = CliRunner().invoke(app, args)
    assert "strong minus weak" in table.output and "topic" in table.output


def test_confused_examples_leave_as_row_ids_or_masked_texts(monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from interaction_classifier.evaluation import report

    frame = pd.DataFrame({"text": ["mail me at a@b.co", "call 555", "fine", "also fine"],
                          "source": ["twcs"] * 4, "source_id": ["7", "8", "9", "10"]},
                         index=[3, 5, 6, 9])
    truth = pd.Series(["question", "question", "request", "request"], index=frame.index)
    predicted = pd.Series(["complaint", "complaint", "request", "complaint"],
                          index=frame.index)
    pairs = report.most_confused(truth, predicted, frame["text"], ids=report.row_ids(frame))
    assert [(p["true"], p["count"], p["row_ids"]) for p in pairs] == \
        [("question", 2, ["twcs:7", "twcs:8"]), ("request", 1, ["twcs:10"])]
    assert report.row_ids(frame[["text"]]).tolist() == ["3", "5", "6", "9"]
    nested = {"test": {"head": {"most_confused": pairs}}}
    shown = json.dumps(report.logged_examples(nested, log_examples=False))
    assert "a@b.co" not in shown and "call 555" not in shown and "twcs:7" in shown
    monkeypatch.setattr(report, "example_redactor", lambda: lambda t: t.replace("a@b.co", "[E]"))
    masked = report.logged_examples(nested, log_examples=True)
    assert masked["test"]["head"]["most_confused"][0]["examples"] == ["mail me at [E]",
                                                                     "call 555"]
