"""Intent benchmarks for retraining: BANKING77 and CLINC150 through the public CLI.

Trains with ``interaction-classifier train --data ...`` on each benchmark's training split
(and validation split, where it has one; the test rows never reach the trainer, which refits
on every row it is given), evaluates on its test split, and in the same run trains a plain
TF-IDF (word 1-2 + char_wb 2-5, sublinear) + LinearSVC baseline on the raw text. Prints our
numbers next to the published anchors, with training time and single-message latency
(``predict()`` per message, p50/p99 over test messages). Tables go into docs/benchmarks.md
by hand.
Usage: python benchmarks/intent_benchmarks.py [--config configs/retrain.toml] [--budget 0]
[--n-latency 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline, make_union
from sklearn.svm import LinearSVC

from interaction_classifier import load_model
from interaction_classifier.cli.train import RETRAIN_CONFIG
from interaction_classifier.data.loaders import load

PUBLISHED = {
    "banking77": [("BERT fine-tuned (Casanueva et al. 2020)", "93.0"),
                  ("USE+ConveRT (Casanueva et al. 2020)", "93.4")],
    "clinc150": [("BERT (Larson et al. 2019), in-scope accuracy", "about 96"),
                 ("BERT (Larson et al. 2019), out-of-scope recall", "far lower")],
}


def train_cli(table: pd.DataFrame, label: str, out: Path, config: str, budget: float
              ) -> float:
    """Train through the public CLI on the non-test rows; returns wall-clock seconds (process
    start included). Tracking is off: the time is the trainer's, not the MLflow store's."""
    data = out.parent / f"{out.name}.csv"
    table = table[table["split"] != "test"]
    split = ["--split-column", "split"] if (table["split"] == "valid").any() else []
    table.to_csv(data, index=False)
    cmd = [sys.executable, "-m", "interaction_classifier.cli.main", "train", "--data", str(data),
           "--label-column", label, *split, "--config", config,
           "--budget", str(budget), "--output", str(out), "--no-track"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def latency_ms(fn, texts: list[str]) -> tuple[float, float]:
    """p50 and p99 of one call per message, in milliseconds, after a warm-up."""
    for t in texts[:20]:
        fn(t)
    times = []
    for t in texts:
        t0 = time.perf_counter()
        fn(t)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def baseline(train: pd.DataFrame, test_texts: list[str], label: str, n_latency: int
             ) -> dict[str, float]:
    """TF-IDF word + char LinearSVC on raw text: the quick model a data scientist would build."""
    t0 = time.perf_counter()
    pipe = make_pipeline(
        make_union(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                   TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                   sublinear_tf=True)),
        LinearSVC(C=1.0, random_state=0))
    pipe.fit(train["text"], train[label])
    seconds = time.perf_counter() - t0
    p50, p99 = latency_ms(lambda t: pipe.predict([t]), test_texts[:n_latency])
    return {"pred": pipe.predict(test_texts), "train_s": seconds, "p50": p50, "p99": p99}


def ours(table: pd.DataFrame, label: str, out: Path, args: argparse.Namespace,
         test_texts: list[str]) -> dict:
    """Train through the CLI, then load the model and time single-message predict()."""
    seconds = train_cli(table, label, out, args.config, args.budget)
    model = load_model(out)
    p50, p99 = latency_ms(model.predict, test_texts[:args.n_latency])
    frame = model.predict_batch(test_texts)
    return {"model": model, "frame": frame, "train_s": seconds, "p50": p50, "p99": p99,
            "fit_s": model.manifest["fit_seconds"]}


def row(name: str, acc: str, extra: str, r: dict) -> str:
    return (f"| {name} | {acc} | {extra} | {r['train_s']:.1f} | {r['p50']:.2f} | "
            f"{r['p99']:.2f} |")


def banking77(args: argparse.Namespace, tmp: Path) -> None:
    df = load("banking77")[["text", "category", "split"]]
    test = df[df["split"] == "test"]
    texts = test["text"].tolist()
    r = ours(df, "category", tmp / "banking77", args, texts)
    acc = float((r["frame"]["category"].to_numpy() == test["category"].to_numpy()).mean())
    b = baseline(df[df["split"] == "train"], texts, "category", args.n_latency)
    b_acc = float((b["pred"] == test["category"].to_numpy()).mean())
    print(f"\nBANKING77 ({len(df) - len(test)} train / {len(test)} test, 77 intents)")
    print("| model | test accuracy % | | train s | p50 ms | p99 ms |")
    print("|---|---:|---|---:|---:|---:|")
    print(row(f"ours, {Path(args.config).name} (budget {args.budget} min)", f"{100 * acc:.2f}",
              f"fit {r['fit_s']:.0f} s", r))
    print(row("TF-IDF + LinearSVC baseline (same run)", f"{100 * b_acc:.2f}", "", b))
    for name, value in PUBLISHED["banking77"]:
        print(f"| {name} | {value} | published | | | |")


def oos_at_threshold(conf_in: np.ndarray, correct: np.ndarray, conf_oos: np.ndarray
                     ) -> tuple[float, float, float]:
    """Highest abstain threshold keeping in-scope accuracy (abstentions count as errors)
    within 1 point of no abstention; returns it, that accuracy and the OOS recall."""
    base = correct.mean()
    best = (0.0, float(base), 0.0)
    for t in np.unique(np.round(conf_in, 4)):
        acc = float((correct & (conf_in >= t)).mean())
        if acc >= base - 0.01:
            best = (float(t), acc, float((conf_oos < t).mean()))
    return best


def clinc150(args: argparse.Namespace, tmp: Path) -> None:
    df = load("clinc150")
    scope = df[df["intent"] != "oos"].replace({"split": {"val": "valid"}})
    oos = df[(df["intent"] == "oos") & (df["split"] == "test")]["text"].tolist()
    test = scope[scope["split"] == "test"]
    texts = test["text"].tolist()
    r = ours(scope[["text", "intent", "split"]], "intent", tmp / "clinc150", args, texts)
    probs = r["frame"][[c for c in r["frame"].columns if c.startswith("p_intent__")]]
    correct = r["frame"]["intent"].to_numpy() == test["intent"].to_numpy()
    oos_frame = r["model"].predict_batch(oos)
    conf_oos = oos_frame[[c for c in oos_frame.columns if c.startswith("p_intent__")]]
    t, acc_t, recall = oos_at_threshold(probs.max(axis=1).to_numpy(), correct,
                                        conf_oos.max(axis=1).to_numpy())
    b = baseline(scope[scope["split"] == "train"], texts, "intent", args.n_latency)
    b_acc = float((b["pred"] == test["intent"].to_numpy()).mean())
    print(f"\nCLINC150 ({int((scope['split'] == 'train').sum())} train, "
          f"{len(texts)} in-scope test + {len(oos)} out-of-scope test, 150 intents)")
    print("| model | in-scope accuracy % | OOS recall % (threshold) | train s | p50 ms | p99 ms |")
    print("|---|---:|---|---:|---:|---:|")
    print(row(f"ours, {Path(args.config).name}", f"{100 * correct.mean():.2f}",
              f"{100 * recall:.1f} at p < {t:.3f} (in-scope acc {100 * acc_t:.2f})", r))
    print(row("TF-IDF + LinearSVC baseline (same run)", f"{100 * b_acc:.2f}", "n/a", b))
    for name, value in PUBLISHED["clinc150"]:
        print(f"| {name} | {value} | published | | | |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default=str(RETRAIN_CONFIG))
    parser.add_argument("--budget", type=float, default=0.0)
    parser.add_argument("--n-latency", type=int, default=1000)
    parser.add_argument("--only", choices=["banking77", "clinc150"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "banking77"):
            banking77(args, Path(tmp))
        if args.only in (None, "clinc150"):
            clinc150(args, Path(tmp))


if __name__ == "__main__":
    main()
