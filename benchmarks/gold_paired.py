"""Gold-set comparison of two models when the old one can no longer be loaded: the old
model's predictions are read from a file (row ids, labels, probabilities; no text) saved
before the featurizer changed, the new model is run on the gold set, and every gold measure
is printed for both with 95% bootstrap intervals, plus the paired difference (new minus
old, the same 2,000 resamples for both). Usage:

    python benchmarks/gold_paired.py --old outputs/old_gold_predictions.parquet \\
        --new outputs/fast-v2 [--save outputs/new_gold_predictions.parquet]

Save the old predictions first with ``--save`` and the old model (``--new models/default``
run on the old code).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from interaction_classifier import load_model
from interaction_classifier.data.gold import load_gold
from interaction_classifier.evaluation.metrics import URGENT, _codes, _resampled_macro_f1

HEADS = ("interaction_type", "journey_stage", "sentiment")
N_BOOT = 2000


def measures(gold: pd.DataFrame, pred: pd.DataFrame, draws: np.ndarray) -> dict[str, np.ndarray]:
    """Each gold measure on every resample (row 0: the full set)."""
    out = {}
    full = np.vstack([np.arange(len(gold)), draws])
    for head, truth, labels in [*((h, h, sorted(gold[h].dropna().unique())) for h in HEADS),
                                ("priority", "urgency", ["critical", "high", "normal", "low"])]:
        t, p = _codes(gold[truth].to_numpy(), labels), _codes(pred[head].to_numpy(), labels)
        out[f"{truth} macro-F1"] = _resampled_macro_f1(t, p, len(labels), full)
        out[f"{truth} accuracy"] = np.array([(t[i] == p[i]).mean() for i in full])
    urgent = gold["urgency"].isin(URGENT).to_numpy()
    score = pred["urgency"].to_numpy(dtype=float)
    out["urgency ROC-AUC"] = np.array([roc_auc_score(urgent[i], score[i]) for i in full])
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--save", default=None)
    args = parser.parse_args()
    gold = load_gold().reset_index(drop=True)
    model = load_model(args.new)
    new = model.predict_batch(gold["text"].tolist()).drop(columns="text", errors="ignore")
    new["gold_dataset"], new["gold_source_id"] = gold["dataset"], gold["source_id"]
    if args.save:
        new.to_parquet(args.save)
    old = pd.read_parquet(args.old).reset_index(drop=True)
    same_rows = (old["gold_dataset"].tolist() == new["gold_dataset"].tolist()
                 and old["gold_source_id"].tolist() == new["gold_source_id"].tolist())
    if not same_rows:
        raise SystemExit("the saved predictions are not of the same gold rows, in order")
    draws = np.random.default_rng(0).integers(0, len(gold), (N_BOOT, len(gold)))
    a, b = measures(gold, old, draws), measures(gold, new, draws)
    print(f"gold set n={len(gold)}; new model {model.version}; {N_BOOT} paired resamples")
    print("| measure | old [95% CI] | new [95% CI] | new - old [95% paired CI] | inside old CI |")
    print("|---|---|---|---|---|")
    for name in a:
        lo_a, hi_a = np.quantile(a[name][1:], [0.025, 0.975])
        lo_b, hi_b = np.quantile(b[name][1:], [0.025, 0.975])
        lo_d, hi_d = np.quantile(b[name][1:] - a[name][1:], [0.025, 0.975])
        verdict = "better" if b[name][0] > hi_a else ("yes" if b[name][0] >= lo_a else "NO")
        print(f"| {name} | {a[name][0]:.3f} [{lo_a:.3f}, {hi_a:.3f}] | {b[name][0]:.3f} "
              f"[{lo_b:.3f}, {hi_b:.3f}] | {b[name][0] - a[name][0]:+.3f} [{lo_d:+.3f}, "
              f"{hi_d:+.3f}] | {verdict} |")


if __name__ == "__main__":
    main()
