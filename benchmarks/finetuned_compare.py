"""Round 13: a fine-tuned-encoder profile against the fast model and the stage-1 accurate
profile, on the gold set (every measure with the paired difference on the same 2,000
resamples) and on the SemEval-2016 test tweets (macro recall, paired, 1,000 resamples), plus
gold ECE per head. Two variants of the profile are scored: (b) the fine-tuned heads alone
(every fusion weight 0, each head's own temperature from ``valid``) and (c) as trained,
fused with the fast model by the weights chosen on ``valid``. Usage:

    python benchmarks/finetuned_compare.py outputs/PROFILE [--trust-unsigned] [--graph DIR]

``--graph DIR`` also scores (c) with another export of the same fine-tuned encoder (the fp32
graph under ``[finetune] output_dir``), same heads and fusion settings.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from gold_paired import HEADS, N_BOOT, measures

from interaction_classifier import load_model
from interaction_classifier.data.gold import load_gold
from interaction_classifier.evaluation.metrics import expected_calibration_error, semeval_heldout
from interaction_classifier.features.encoder import EncoderFiles, OnnxEncoder
from interaction_classifier.models.accurate import FusedHead
from interaction_classifier.serving.predictor import Predictor

SEMEVAL_BOOT = 1000


def alone(predictor: Predictor) -> Predictor:
    """The profile with every fusion weight 0: the fine-tuned heads' probabilities only."""
    model = copy.copy(predictor.model)
    model.fused = {k: FusedHead(f.head, 0.0, 1.0) for k, f in model.fused.items()}
    out = copy.copy(predictor)
    out.model = model
    return out


def with_graph(predictor: Predictor, directory: Path) -> Predictor:
    """The profile running another export of its encoder (``encoder.onnx`` in ``directory``)."""
    files = EncoderFiles(
        *(
            x
            for name in ("encoder.onnx", "tokenizer.json")
            for x in (directory / name, hashlib.sha256((directory / name).read_bytes()).hexdigest())
        )
    )
    model = copy.copy(predictor.model)
    model.encoder = OnnxEncoder(files, model.metadata["max_length"])
    out = copy.copy(predictor)
    out.model = model
    return out


def macro_recall(truth: np.ndarray, pred: np.ndarray, k: int, rows: np.ndarray) -> float:
    """Macro recall of integer labels on the resampled ``rows``."""
    t, hit = truth[rows], truth[rows] == pred[rows]
    support = np.maximum(np.bincount(t, minlength=k), 1)
    return float(np.mean(np.bincount(t[hit], minlength=k) / support))


def semeval_recalls(preds: dict[str, np.ndarray], truth: np.ndarray) -> dict[str, np.ndarray]:
    """Macro recall of each model on the full set (element 0) and on shared resamples."""
    labels = sorted(set(truth))
    t = np.array([labels.index(v) for v in truth])
    codes = {
        n: np.array([labels.index(v) if v in labels else -1 for v in p]) for n, p in preds.items()
    }
    rng = np.random.default_rng(0)
    out = {n: [macro_recall(t, c, len(labels), np.arange(len(t)))] for n, c in codes.items()}
    for _ in range(SEMEVAL_BOOT):
        rows = rng.integers(0, len(t), len(t))
        for n, c in codes.items():
            out[n].append(macro_recall(t, c, len(labels), rows))
    return {n: np.array(v) for n, v in out.items()}


def paired_row(name: str, a: np.ndarray, b: np.ndarray) -> str:
    """``| measure | a [CI] | b [CI] | b - a [paired CI] |``."""
    lo_a, hi_a = np.quantile(a[1:], [0.025, 0.975])
    lo_b, hi_b = np.quantile(b[1:], [0.025, 0.975])
    lo_d, hi_d = np.quantile(b[1:] - a[1:], [0.025, 0.975])
    return (
        f"| {name} | {a[0]:.3f} [{lo_a:.3f}, {hi_a:.3f}] | {b[0]:.3f} [{lo_b:.3f}, "
        f"{hi_b:.3f}] | {b[0] - a[0]:+.3f} [{lo_d:+.3f}, {hi_d:+.3f}] |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("--trust-unsigned", action="store_true")
    parser.add_argument("--graph", type=Path, default=None)
    args = parser.parse_args()
    tuned = load_model(args.profile, trust_unsigned=args.trust_unsigned)
    models = {
        "fast": load_model("fast"),
        "stage-1": load_model("accurate"),
        "(b) alone": alone(tuned),
        "(c) fused": tuned,
    }
    if args.graph is not None:
        models["(c) other graph"] = with_graph(tuned, args.graph)
    gold = load_gold().reset_index(drop=True)
    semeval = semeval_heldout()
    draws = np.random.default_rng(0).integers(0, len(gold), (N_BOOT, len(gold)))
    gold_pred: dict[str, pd.DataFrame] = {}
    sem_pred: dict[str, np.ndarray] = {}
    for name, model in models.items():
        gold_pred[name] = model.predict_batch(gold["text"].tolist())
        sem_pred[name] = model.predict_batch(semeval["text"].tolist())["sentiment"].to_numpy()
    scores = {n: measures(gold, p, draws) for n, p in gold_pred.items()}
    recalls = semeval_recalls(sem_pred, semeval["label"].to_numpy())
    print(
        f"gold n={len(gold)}, {N_BOOT} paired resamples; SemEval-2016 n={len(semeval)}, "
        f"{SEMEVAL_BOOT} paired resamples; profile {tuned.model.version}"
    )
    for old in ("fast", "stage-1", "(c) fused"):
        for new in [n for n in list(models)[2:] if n != old]:
            print(f"\n{new} against {old}\n\n| measure | {old} | {new} | difference |")
            print("|---|---|---|---|")
            for measure in scores[old]:
                print(paired_row(measure, scores[old][measure], scores[new][measure]))
            print(paired_row("SemEval-2016 macro recall", recalls[old], recalls[new]))
    print("\n| gold ECE | " + " | ".join(models) + " |\n|---|" + "---|" * len(models))
    for head in HEADS:
        cells = []
        for name, model in models.items():
            classes = model.model.heads[head].classes
            proba = gold_pred[name][[f"p_{head}__{c}" for c in classes]]
            cells.append(f"{expected_calibration_error(gold[head], proba):.3f}")
        print(f"| {head} | " + " | ".join(cells) + " |")
    print(
        "\nfusion weights (share of the fast model) / temperature:",
        {k: (f.weight, round(f.temperature, 3)) for k, f in tuned.model.fused.items()},
    )


if __name__ == "__main__":
    main()
