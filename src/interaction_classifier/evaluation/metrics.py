"""Evaluation measures: per-head metrics with bootstrap intervals, calibration, abstention,
urgency ROC-AUC, per-source scores and the held-out SemEval benchmark (plots: ``plots.py``;
the whole report: ``report.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
    roc_auc_score,
)

from interaction_classifier.data.loaders import load
from interaction_classifier.serving.predictor import Predictor

SEMEVAL_HELDOUT_FILE = "twitter-2016test-A.txt"
URGENT = ("critical", "high")


def _codes(values: np.ndarray, labels: list[str]) -> np.ndarray:
    """Label indices; ``len(labels)`` for a value outside the set."""
    index = {lab: i for i, lab in enumerate(labels)}
    return np.array([index.get(v, len(labels)) for v in values])


def _resampled_macro_f1(t: np.ndarray, p: np.ndarray, k: int,
                        draws: np.ndarray) -> np.ndarray:
    """Macro-F1 (over the labels present in each resample) of every row of ``draws``."""
    scores = np.empty(len(draws))
    for b, i in enumerate(draws):
        cm = np.bincount(t[i] * (k + 1) + p[i], minlength=k * (k + 1)).reshape(k, k + 1)
        support, predicted = cm.sum(axis=1), cm[:, :k].sum(axis=0)
        f1 = 2 * np.diag(cm[:, :k]) / np.maximum(support + predicted, 1)
        scores[b] = f1[support > 0].mean()
    return scores


def _draws(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, (n_boot, n))


def macro_f1_interval(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str],
                      n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Bootstrap percentile interval of macro-F1 over the labels present in each resample.

    The gold set has classes of 9-40 rows, where one message moves macro-F1 by ~0.02; the
    interval says how far the number could move on another sample of the same size.
    """
    t, p = _codes(y_true, labels), _codes(y_pred, labels)
    scores = _resampled_macro_f1(t, p, len(labels), _draws(len(t), n_boot, seed))
    low, high = np.quantile(scores, [(1 - level) / 2, (1 + level) / 2])
    return {"low": float(low), "high": float(high)}


def paired_macro_f1_difference(y_true: np.ndarray, baseline: np.ndarray, candidate: np.ndarray,
                               labels: list[str], n_boot: int = 2000, seed: int = 0,
                               level: float = 0.95) -> dict[str, float]:
    """Candidate minus baseline macro-F1 on the same rows, with a paired bootstrap interval.

    Both models are scored on the same resampled rows, so the interval is that of the
    difference: two models whose separate intervals overlap can still differ reliably.
    """
    t = _codes(y_true, labels)
    draws = _draws(len(t), n_boot, seed)
    a = _resampled_macro_f1(t, _codes(baseline, labels), len(labels), draws)
    b = _resampled_macro_f1(t, _codes(candidate, labels), len(labels), draws)
    low, high = np.quantile(b - a, [(1 - level) / 2, (1 + level) / 2])
    present = [lab for lab in labels if lab in set(y_true)]
    point = (f1_score(y_true, candidate, labels=present, average="macro", zero_division=0)
             - f1_score(y_true, baseline, labels=present, average="macro", zero_division=0))
    return {"difference": float(point), "low": float(low), "high": float(high),
            "n": len(t)}


def paired_accuracy_difference(y_true: np.ndarray, baseline: np.ndarray, candidate: np.ndarray,
                               n_boot: int = 2000, seed: int = 0,
                               level: float = 0.95) -> dict[str, float]:
    """Candidate minus baseline accuracy on the same rows, with a paired bootstrap interval
    (the resamples of ``paired_macro_f1_difference`` with the same ``seed``): on a few hundred
    rows macro-F1 swings with classes of a few rows, accuracy does not."""
    gain = (np.asarray(candidate) == np.asarray(y_true)).astype(np.float64) \
        - (np.asarray(baseline) == np.asarray(y_true))
    diffs = gain[_draws(len(gain), n_boot, seed)].mean(axis=1)
    low, high = np.quantile(diffs, [(1 - level) / 2, (1 + level) / 2])
    return {"difference": float(gain.mean()), "low": float(low), "high": float(high),
            "n": len(gain)}


def head_metrics(y_true: pd.Series, y_pred: pd.Series, labels: list[str]) -> dict[str, Any]:
    """Macro-F1 (with a bootstrap interval), accuracy, macro and weighted precision/recall/F1
    and per-class precision/recall/F1."""
    mask = y_true.notna().to_numpy()
    t, p = y_true[mask].astype(str).to_numpy(), y_pred[mask].astype(str).to_numpy()
    present = [lab for lab in labels if lab in set(t)]
    prec, rec, f1, support = precision_recall_fscore_support(t, p, labels=present,
                                                             zero_division=0)
    averages = {avg: dict(zip(("precision", "recall", "f1"), map(float, (
        precision_recall_fscore_support(t, p, labels=present, average=avg,
                                        zero_division=0)[:3])), strict=True))
        for avg in ("macro", "weighted")}
    return {
        "n": int(mask.sum()),
        "macro_f1": float(f1_score(t, p, labels=present, average="macro", zero_division=0)),
        "macro_f1_ci95": macro_f1_interval(t, p, present),
        "accuracy": float(accuracy_score(t, p)),
        **averages,
        "per_class": {lab: {"precision": float(a), "recall": float(b), "f1": float(c),
                            "support": int(d)}
                      for lab, a, b, c, d in zip(present, prec, rec, f1, support, strict=True)},
    }


def urgency_auc(tiers: pd.Series, scores: pd.Series) -> float | None:
    """ROC-AUC of the score for separating critical/high from the rest (None if one class)."""
    mask = tiers.notna().to_numpy()
    y = tiers[mask].isin(URGENT).to_numpy()
    if y.all() or not y.any():
        return None
    return float(roc_auc_score(y, scores[mask].to_numpy()))


def evaluate_frame(model: Predictor, frame: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Metrics of every head on a labelled frame (text + head columns); also the predictions."""
    pred = model.predict_batch(frame["text"].tolist())
    pred.index = frame.index
    out: dict[str, Any] = {}
    for head, linear in model.model.heads.items():
        if head in frame:
            out[head] = head_metrics(frame[head], pred[head], linear.classes)
    if "urgency" in frame and model.model.urgency is not None:
        out["urgency"] = {"roc_auc_urgent": urgency_auc(frame["urgency"], pred["urgency"]),
                          **head_metrics(frame["urgency"], pred["priority"],
                                         ["critical", "high", "normal", "low"])}
    return out, pred


def vader_labels(texts: list[str]) -> np.ndarray:
    """VADER's compound score with its usual +-0.05 thresholds: the lexicon baseline."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    compound = np.array([analyzer.polarity_scores(t)["compound"] for t in texts])
    return np.where(compound >= 0.05, "positive", np.where(compound <= -0.05, "negative",
                                                            "neutral"))


def semeval_heldout() -> pd.DataFrame:
    """The SemEval-2016 test tweets, which the corpus config excludes from training."""
    df = load("semeval2017-sentiment")
    return df[df["source_file"] == SEMEVAL_HELDOUT_FILE].reset_index(drop=True)


def semeval_report(model: Predictor, limit: int | None = None) -> dict[str, float]:
    """Macro-averaged recall (SemEval-2017's official measure) for the model and VADER."""
    df = semeval_heldout()
    if limit:
        df = df.sample(n=min(limit, len(df)), random_state=0)
    texts, gold = df["text"].tolist(), df["label"].to_numpy()
    ours = model.predict_batch(texts)["sentiment"].to_numpy()
    vader = vader_labels(texts)
    return {
        "n": len(df),
        "model_macro_recall": float(recall_score(gold, ours, average="macro")),
        "vader_macro_recall": float(recall_score(gold, vader, average="macro")),
        "model_macro_f1": float(f1_score(gold, ours, average="macro")),
        "vader_macro_f1": float(f1_score(gold, vader, average="macro")),
    }


def _top_label(y_true: pd.Series, proba: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence and whether the top label is right, on the labelled rows."""
    mask = y_true.notna().to_numpy()
    labels = np.asarray([c.split("__", 1)[1] for c in proba.columns], dtype=object)
    p = proba[mask].to_numpy()
    return p.max(axis=1), labels[p.argmax(axis=1)] == y_true[mask].to_numpy()


def expected_calibration_error(y_true: pd.Series, proba: pd.DataFrame, bins: int = 10) -> float:
    """ECE of the top-label confidence (equal-width bins)."""
    conf, correct = _top_label(y_true, proba)
    which = np.clip((conf * bins).astype(int), 0, bins - 1)
    return float(sum(abs(conf[which == b].mean() - correct[which == b].mean())
                     * (which == b).sum() for b in range(bins) if (which == b).any())
                 / max(len(conf), 1))


def abstain_table(y_true: pd.Series, proba: pd.DataFrame,
                  thresholds: np.ndarray | None = None) -> list[dict[str, float]]:
    """Coverage and accuracy on the answered rows when abstaining below each threshold."""
    conf, correct = _top_label(y_true, proba)
    grid = np.round(np.arange(0.0, 1.0, 0.05), 2) if thresholds is None else thresholds
    rows = []
    for t in grid:
        kept = conf >= t
        rows.append({"threshold": float(t), "coverage": float(kept.mean()),
                     "accuracy": float(correct[kept].mean()) if kept.any() else float("nan")})
    return rows


def abstention(y_true: pd.Series, proba: pd.DataFrame, threshold: float) -> dict[str, Any]:
    """What a head's ``needs_review`` threshold buys: the share of rows it sends to a person
    and the accuracy of the rows it keeps and of those it flags (None when there are none)."""
    conf, correct = _top_label(y_true, proba)
    flagged = conf < threshold

    def accuracy(rows: np.ndarray) -> float | None:
        return float(correct[rows].mean()) if rows.any() else None

    return {"threshold": float(threshold), "review_rate": float(flagged.mean()),
            "accuracy_kept": accuracy(~flagged), "accuracy_flagged": accuracy(flagged)}


def per_source(frame: pd.DataFrame, pred: pd.DataFrame, heads: list[str]) -> pd.DataFrame:
    """Macro-F1 and accuracy per head per source, for the model card.

    Both, because a source whose rows all carry one label scores a low macro-F1 as soon as
    any other label is predicted, however rarely; accuracy shows how rarely.
    """
    rows = []
    for source, idx in frame.groupby("source").groups.items():
        row = {"source": source, "n": len(idx)}
        for head in heads:
            t = frame.loc[idx, head]
            if t.notna().sum() >= 20:
                y, p = t[t.notna()].astype(str), pred.loc[idx, head][t.notna()].astype(str)
                row[f"{head} F1"] = f1_score(y, p, average="macro", zero_division=0)
                row[f"{head} acc"] = float((y == p).mean())
        rows.append(row)
    return pd.DataFrame(rows)
