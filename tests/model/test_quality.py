"""Quality gates on the committed default model: gold set, SemEval held-out, urgency order."""

from __future__ import annotations

import numpy as np
import pytest

from interaction_classifier import load_model
from interaction_classifier.data.gold import load_gold
from interaction_classifier.evaluation.metrics import evaluate_frame, semeval_report
from interaction_classifier.models.model import URGENCY_DRIVERS, urgency_inputs

# Regression floors just under what the committed model measures on the gold set (model
# 20261205, refitted with scikit-learn's LogisticRegression: type 0.718, stage 0.564,
# sentiment 0.744, urgency ROC-AUC 0.877), so that a worse model fails CI. The model issue's
# gates are type and sentiment >= 0.70 and urgency AUC >= 0.85 (met); stage >= 0.60 is not
# met yet (recorded in MODEL_CARD.md and docs/model.md).
FLOORS = {"interaction_type": 0.71, "journey_stage": 0.56, "sentiment": 0.74}
URGENCY_AUC_FLOOR = 0.87


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def gold_metrics(shared_data, model) -> dict:
    metrics, _ = evaluate_frame(model, load_gold())
    return metrics


@pytest.mark.parametrize("head", sorted(FLOORS))
def test_gold_macro_f1(gold_metrics: dict, head: str) -> None:
    assert gold_metrics[head]["n"] >= 400
    assert gold_metrics[head]["macro_f1"] >= FLOORS[head], gold_metrics[head]


def test_gold_urgency_auc(gold_metrics: dict) -> None:
    assert gold_metrics["urgency"]["roc_auc_urgent"] >= URGENCY_AUC_FLOOR, gold_metrics["urgency"]


def test_semeval_heldout_beats_vader(shared_data, model) -> None:
    report = semeval_report(model)
    assert report["n"] > 20000
    assert report["model_macro_recall"] >= 0.65, report  # the gate (0.654)
    # Issue target: >= VADER + 0.10 (not met yet: +0.088). Regression floor:
    assert report["model_macro_recall"] >= report["vader_macro_recall"] + 0.085, report


def test_urgency_orders_complaint_question_compliment(model) -> None:
    """Other things equal (same cues, same sentiment, same text score), the act decides."""
    urgency = model.model.urgency
    types = model.model.heads["interaction_type"].classes
    sentiment = np.array([[1 / 3, 1 / 3, 1 / 3]])
    n_tiers = len(urgency.classes)
    for text_p in (np.full(n_tiers, 1 / n_tiers), np.eye(n_tiers)[0], np.eye(n_tiers)[-1]):
        for flags in (np.zeros((1, len(URGENCY_DRIVERS) + 1)),
                      np.eye(len(URGENCY_DRIVERS) + 1)[[0]]):
            scores = {}
            for kind in ("complaint", "question", "compliment"):
                onehot = np.zeros((1, len(types)))
                onehot[0, types.index(kind)] = 1.0
                probas = {"interaction_type": onehot, "sentiment": sentiment}
                scores[kind] = urgency.score(urgency_inputs(text_p.reshape(1, -1), probas,
                                                            flags))[0]
            assert scores["complaint"] > scores["question"] > scores["compliment"], scores


def test_urgency_reasons_and_tiers_on_real_messages(model) -> None:
    stolen = model.predict("Someone stole my card and made payments I don't recognise!")
    thanks = model.predict("Thanks a lot for the quick help, lovely service.")
    assert stolen["urgency"] > thanks["urgency"]
    assert stolen["priority"] in ("critical", "high")
    assert thanks["priority"] in ("normal", "low")
    assert any(r.startswith("risk") for r in stolen["reasons"])
    today = model.predict("I need my replacement card today, my flight is in 2 hours")
    assert any(r.startswith("time") for r in today["reasons"])
