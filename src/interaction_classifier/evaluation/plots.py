"""Evaluation plots: confusion matrix, reliability diagram, coverage against the review
threshold. Each is written as a PNG and logged with the run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from interaction_classifier.evaluation.metrics import expected_calibration_error


def plot_confusion(y_true: pd.Series, y_pred: pd.Series, labels: list[str], title: str,
                   path: Path) -> Path:
    """Row-normalised confusion matrix as a PNG."""
    mask = y_true.notna().to_numpy()
    cm = confusion_matrix(y_true[mask].astype(str), y_pred[mask].astype(str), labels=labels)
    norm = cm / np.clip(cm.sum(axis=1, keepdims=True), 1, None)
    many = len(labels) > 20  # large label sets: bounded size, no per-cell counts
    size = (min(0.2 * len(labels) + 4, 20), min(0.2 * len(labels) + 3.5, 19)) if many else \
        (1.2 * len(labels) + 2, 1.1 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=size)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ticks = {"fontsize": 5} if many else {}
    ax.set_xticks(range(len(labels)), labels, rotation=45 if not many else 90,
                  ha="right" if not many else "center", **ticks)
    ax.set_yticks(range(len(labels)), labels, **ticks)
    for i, j in ([] if many else np.ndindex(cm.shape)):
        ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_calibration(y_true: pd.Series, proba: pd.DataFrame, title: str, path: Path,
                     bins: int = 10) -> Path:
    """Reliability diagram of the top-label confidence."""
    mask = y_true.notna().to_numpy()
    labels = [c.split("__", 1)[1] for c in proba.columns]
    p = proba[mask].to_numpy()
    conf = p.max(axis=1)
    correct = np.asarray(labels, dtype=object)[p.argmax(axis=1)] == y_true[mask].to_numpy()
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges) - 1, 0, bins - 1)
    xs, ys, ns = [], [], []
    for b in range(bins):
        sel = which == b
        if sel.any():
            xs.append(conf[sel].mean())
            ys.append(correct[sel].mean())
            ns.append(int(sel.sum()))
    ece = expected_calibration_error(y_true, proba, bins)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey")
    ax.plot(xs, ys, "o-")
    ax.set_xlabel("confidence (top label)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE = {ece:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_abstain(table: list[dict[str, float]], title: str, path: Path) -> Path:
    """Coverage and accuracy against the review threshold."""
    frame = pd.DataFrame(table)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(frame["threshold"], frame["accuracy"], "o-", label="accuracy on answered")
    ax.plot(frame["threshold"], frame["coverage"], "s-", label="coverage")
    ax.set_xlabel("review below this top probability")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower left")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
