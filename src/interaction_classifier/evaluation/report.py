"""The evaluation report of any model: one section per labelled set, one entry per head.

Per head: n, accuracy, macro-F1 with its 95% bootstrap interval, macro and weighted
precision/recall/F1, per-class scores, ECE, what the model's review threshold buys
(``abstain``) and the coverage/accuracy table over thresholds (``abstain_table``), the most
confused label pairs; confusion, calibration and abstention plots when asked. The default
model adds the gold set, per-source scores of the test split and SemEval-2016. The same
report is written at training time (and logged to MLflow) and by ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interaction_classifier.config import CLASSIFIER_HEADS
from interaction_classifier.evaluation import metrics, plots
from interaction_classifier.serving.predictor import Predictor


def most_confused(y_true: pd.Series, y_pred: pd.Series, texts: pd.Series, top: int = 10,
                  examples: int = 3, ids: pd.Series | None = None) -> list[dict[str, Any]]:
    """The most frequent (true, predicted) error pairs, each with a few examples: their row
    ids (``row_ids``; the row positions without ``ids``) and texts. What leaves the process
    keeps the ids only, or masked texts (:func:`logged_examples`)."""
    mask = y_true.notna() & (y_true.astype(str) != y_pred.astype(str))
    ids = pd.Series(range(len(texts)), index=texts.index) if ids is None else ids
    errors = pd.DataFrame({"true": y_true[mask], "predicted": y_pred[mask], "text": texts[mask],
                           "id": ids[mask].astype(str)})
    pairs = errors.groupby(["true", "predicted"]).size().sort_values(ascending=False,
                                                                     kind="stable")
    out = []
    for (t, p), n in pairs.head(top).items():
        shown = errors[(errors["true"] == t) & (errors["predicted"] == p)].head(examples)
        out.append({"true": t, "predicted": p, "count": int(n),
                    "row_ids": shown["id"].tolist(), "examples": shown["text"].tolist()})
    return out


def row_ids(frame: pd.DataFrame) -> pd.Series:
    """How a report names a row without its text: ``id``, else ``source:source_id`` (the
    corpus and gold set), else the frame's index (for a table read by ``training.data``: the
    row's 0-based position among the table's rows that have text)."""
    if "id" in frame:
        return frame["id"].astype(str)
    source = next((c for c in ("source", "dataset") if c in frame), None)
    if "source_id" in frame and source is not None:
        return frame[source].astype(str) + ":" + frame["source_id"].astype(str)
    return pd.Series(frame.index.astype(str), index=frame.index)


def head_report(base: dict[str, Any], y_true: pd.Series, pred: pd.DataFrame, head: str,
                classes: list[str], threshold: float, texts: pd.Series,
                ids: pd.Series | None = None) -> dict[str, Any]:
    """A head's metrics (``base``, from ``metrics.evaluate_frame``) plus calibration, the
    review threshold's effect and the confused pairs."""
    proba = pred[[f"p_{head}__{c}" for c in classes]]
    return {**base, "ece": metrics.expected_calibration_error(y_true, proba),
            "abstain": metrics.abstention(y_true, proba, threshold),
            "abstain_table": metrics.abstain_table(y_true, proba),
            "most_confused": most_confused(y_true, pred[head], texts, ids=ids)}


def set_report(predictor: Predictor, frame: pd.DataFrame, name: str,
               plots_dir: Path | None = None) -> tuple[dict[str, Any], pd.DataFrame]:
    """Every head the frame has labels for (columns named as the heads); also the
    predictions. Plots go to ``plots_dir`` as ``<kind>_<set>_<head>.png``."""
    model = predictor.model
    found, pred = metrics.evaluate_frame(predictor, frame)
    out: dict[str, Any] = {}
    for head, base in found.items():
        if head not in model.heads:  # urgency: scored from the priority tier
            out[head] = base
            continue
        classes = model.heads[head].classes
        out[head] = head_report(base, frame[head], pred, head, classes,
                                model.abstain.get(head, 0.0), frame["text"], row_ids(frame))
        if plots_dir is not None:
            proba = pred[[f"p_{head}__{c}" for c in classes]]
            plots_dir.mkdir(parents=True, exist_ok=True)
            plots.plot_confusion(frame[head], pred[head], classes, f"{name}: {head}",
                                 plots_dir / f"confusion_{name}_{head}.png")
            plots.plot_calibration(frame[head], proba, f"{name}: {head}",
                                   plots_dir / f"calibration_{name}_{head}.png")
            plots.plot_abstain(out[head]["abstain_table"], f"{name}: {head}",
                               plots_dir / f"abstain_{name}_{head}.png")
    return out, pred


def evaluation_report(predictor: Predictor, test: pd.DataFrame, plots_dir: Path | None = None
                      ) -> dict[str, Any]:
    """The report on one labelled frame (``text`` + one column per head evaluated): head ->
    metrics, and ``score``, the mean macro-F1 of the model's heads found in it."""
    section, _ = set_report(predictor, test, "test", plots_dir)
    if not section:
        raise ValueError(f"no column named after a head of the model: heads "
                         f"{list(predictor.model.heads)}, columns {list(test.columns)}")
    scored = [section[h]["macro_f1"] for h in predictor.model.heads if h in section]
    return {**section, "score": float(np.mean(scored))}


def default_report(predictor: Predictor, corpus: pd.DataFrame, plots_dir: Path | None = None,
                   semeval_limit: int | None = None) -> dict[str, Any]:
    """The default model's report: the corpus test split (with per-source scores), the gold
    set and held-out SemEval-2016; ``score`` is :func:`gold_score`."""
    from interaction_classifier.data.gold import load_gold

    test = corpus[corpus["split"] == "test"]
    report: dict[str, Any] = {}
    report["test"], pred = set_report(predictor, test, "test", plots_dir)
    report["test_per_source"] = metrics.per_source(
        test, pred, list(predictor.model.heads)).to_dict(orient="records")
    gold = load_gold()
    report["gold"], gold_pred = set_report(predictor, gold, "gold", plots_dir)
    report["gold_per_source"] = metrics.per_source(
        gold.rename(columns={"dataset": "source"}), gold_pred,
        list(predictor.model.heads)).to_dict(orient="records")
    report["semeval_heldout"] = metrics.semeval_report(predictor, limit=semeval_limit)
    report["score"] = report["gold_score"] = gold_score(report)
    return report


def paired_comparison(baseline: Predictor, candidate: Predictor, frame: pd.DataFrame
                      ) -> dict[str, dict[str, float]]:
    """Per head both models share and the frame labels: candidate minus baseline macro-F1
    on the same rows, with a paired bootstrap interval
    (:func:`metrics.paired_macro_f1_difference`)."""
    texts = frame["text"].tolist()
    a, b = baseline.predict_batch(texts), candidate.predict_batch(texts)
    out = {}
    for head, linear in candidate.model.heads.items():
        if head not in frame or head not in baseline.model.heads:
            continue
        mask = frame[head].notna().to_numpy()
        out[head] = metrics.paired_macro_f1_difference(
            frame[head].to_numpy()[mask].astype(str), a[head].to_numpy()[mask].astype(str),
            b[head].to_numpy()[mask].astype(str), linear.classes)
    return out


def gold_score(report: dict[str, Any]) -> float:
    """The number the default model's champion alias is decided on: mean gold macro-F1 of
    the three heads and the urgency ROC-AUC."""
    gold = report["gold"]
    parts = [gold[h]["macro_f1"] for h in CLASSIFIER_HEADS]
    parts.append(gold["urgency"]["roc_auc_urgent"] or 0.0)
    return float(sum(parts) / len(parts))


def example_redactor() -> Callable[[str], str]:
    """The hook that masks example texts for ``--log-examples``: ``text.redact.redact``."""
    try:
        from interaction_classifier.text.redact import redact
    except ImportError as exc:  # never log unmasked text instead
        raise RuntimeError("--log-examples needs interaction_classifier.text.redact to mask "
                           "the examples; without it reports keep row ids only") from exc
    return redact


def logged_examples(report: Any, log_examples: bool) -> Any:
    """The report as it may leave the process (``evaluation.json``, MLflow, ``evaluate``):
    example texts dropped, their ``row_ids`` kept, unless ``log_examples``; then masked."""
    if not log_examples:
        return without_texts(report)
    redact = example_redactor()

    def mask(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: [redact(str(t)) for t in v] if k == "examples" else mask(v)
                    for k, v in node.items()}
        return [mask(v) for v in node] if isinstance(node, list) else node
    return mask(report)


def without_texts(report: Any) -> Any:
    """The report minus example texts (their ``row_ids`` stay)."""
    if isinstance(report, dict):
        return {k: without_texts(v) for k, v in report.items() if k != "examples"}
    if isinstance(report, list):
        return [without_texts(v) for v in report]
    return report
