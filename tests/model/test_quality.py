"""Quality gates on the committed default model: gold set, SemEval held-out, urgency order."""

from __future__ import annotations

import numpy as np
import pytest

from interaction_classifier import load_model
from interaction_classifier.data.gold import load_gold
from interaction_classifier.evaluation.metrics import evaluate_frame, semeval_report
from interaction_classifier.models.model import URGENCY_DRIVERS, urgency_inputs

# Regression floors just under what the committed model measures on the grown gold set
# (model 20261205-182755-eb860104, 1,159 messages: type 0.700, stage 0.602, sentiment 0.821,
# urgency ROC-AUC 0.893), and on the first release's 475 messages, so that a model that buys
# the new sources with the old ones fails too (there: 0.729, 0.579, 0.781, AUC 0.879).
# Sentiment 0.81 -> 0.80 and first release 0.77 -> 0.76 with the batch featurizer's refit
# (#20: sentiment gold 0.821 -> 0.804, paired -0.017 [-0.030, -0.006], inside the previous
# model's interval 0.789-0.849; docs/model.md).
FLOORS = {"interaction_type": 0.69, "journey_stage": 0.59, "sentiment": 0.80}
URGENCY_AUC_FLOOR = 0.88
FIRST_RELEASE_FLOORS = {"interaction_type": 0.72, "journey_stage": 0.57, "sentiment": 0.76}
NEW_SOURCES = ("amazon-product-qa", "rsics-travel")


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def gold_metrics(shared_data, model) -> dict:
    metrics, _ = evaluate_frame(model, load_gold())
    return metrics


@pytest.mark.parametrize("head", sorted(FLOORS))
def test_gold_macro_f1(gold_metrics: dict, head: str) -> None:
    assert gold_metrics[head]["n"] >= 1100
    assert gold_metrics[head]["macro_f1"] >= FLOORS[head], gold_metrics[head]


def test_first_release_gold_does_not_regress(shared_data, model) -> None:
    gold = load_gold()
    first = gold[~gold["dataset"].isin(NEW_SOURCES)].reset_index(drop=True)
    metrics, _ = evaluate_frame(model, first)
    assert len(first) == 475
    low = {h: metrics[h]["macro_f1"] for h, f in FIRST_RELEASE_FLOORS.items()
           if metrics[h]["macro_f1"] < f}
    assert not low, low
    assert metrics["urgency"]["roc_auc_urgent"] >= 0.87


def test_gold_urgency_auc(gold_metrics: dict) -> None:
    assert gold_metrics["urgency"]["roc_auc_urgent"] >= URGENCY_AUC_FLOOR, gold_metrics["urgency"]


def test_semeval_heldout_beats_vader(shared_data, model) -> None:
    report = semeval_report(model)
    assert report["n"] > 20000
    assert report["model_macro_recall"] >= 0.65, report  # the gate (0.655)
    # Issue target: >= VADER + 0.10 (not met yet: +0.089). Regression floor:
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
