"""Knowledge distillation (issue #21, item 4): the fast profile trained on the accurate
profile's probabilities over unlabelled in-domain texts, beside the hand labels.

Pool: inbound ``twcs`` tweets, unannotated IJCNLP sentences, ``amazon-product-qa`` questions
and ``rsics-travel`` requests, without every text of the gold set and of the corpus (its
valid/test splits must not be trained on, its train rows are labelled already), compared by
(source, source_id) and by text after strip + lower; ``--pool`` texts sampled (seeded, as
evenly over the sources as they allow). The teacher (``load_model("accurate")``) labels them;
its probabilities are cached in ``outputs/distill/``. ``training.distill.teacher_rows`` turns
them into soft-label rows (classes with p >= 0.05, origin ``teacher``); urgency is not
distilled (the accurate profile's outputs carry no tier probabilities).

Two fits with the learning-loop simulation's light config (``learning_loop.LIGHT``, its
validation subset): the baseline on the corpus, the student on the corpus plus the teacher
rows, with origin weight ``--teacher-weight`` for ``teacher`` (hand 3.0). Both, the teacher
and the shipped fast model are evaluated on the gold set (bootstrap intervals, student minus
baseline paired), the hand-labelled tweets of the corpus's test split and SemEval-2016.
Each model's predictions are cached in ``outputs/distill/``, so a rerun resumes. Usage:

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/distillation.py [--pool 20000]

Writes ``docs/experiments/results/<--results>`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gold_paired import N_BOOT, measures  # noqa: E402
from learning_loop import LIGHT, cache_parses, light_valid  # noqa: E402

from interaction_classifier import load_model  # noqa: E402
from interaction_classifier.config import (  # noqa: E402
    CLASSIFIER_HEADS,
    DEFAULT_CONFIG,
    HEADS,
    PATTERNS_DIR,
)
from interaction_classifier.data.gold import load_gold  # noqa: E402
from interaction_classifier.data.loaders import load  # noqa: E402
from interaction_classifier.evaluation.metrics import (  # noqa: E402
    paired_macro_f1_difference,
    semeval_report,
    urgency_auc,
)
from interaction_classifier.serving.predictor import Predictor  # noqa: E402
from interaction_classifier.text.cues import CueMatcher  # noqa: E402
from interaction_classifier.training.config import load_config, merge  # noqa: E402
from interaction_classifier.training.default_model import fit_default_model  # noqa: E402
from interaction_classifier.training.distill import (  # noqa: E402
    exclude,
    sample_pool,
    teacher_rows,
    text_key,
)

CACHE = ROOT / "outputs" / "distill"
POOL_SOURCES = ("ijcnlp2017-unannotated", "amazon-product-qa", "rsics-travel")
MODELS = ("shipped", "teacher", "baseline", "student")  # table column order


def unlabelled() -> pd.DataFrame:
    """The candidate texts: inbound tweets and the other pool sources (text, source, id)."""
    twcs = load("twcs")
    frames = [twcs[twcs["inbound"]], *(load(name) for name in POOL_SOURCES)]
    return pd.concat([f[["text", "source", "source_id"]] for f in frames], ignore_index=True)


def build_pool(corpus: pd.DataFrame, gold: pd.DataFrame, n: int, seed: int
               ) -> tuple[pd.DataFrame, dict]:
    """The sampled pool and how many candidates each exclusion removed."""
    pool = unlabelled()
    counts = {"candidates": len(pool)}
    held = {"gold": gold.rename(columns={"dataset": "source"}),
            "corpus_valid_test": corpus[corpus["split"].isin(["valid", "test"])],
            "corpus_train": corpus[corpus["split"] == "train"]}
    for name, rows in held.items():
        kept = exclude(pool, rows)
        counts[f"excluded_{name}"] = len(pool) - len(kept)
        pool = kept
    kept = pool[~text_key(pool["text"]).duplicated()]
    counts["excluded_duplicate_text"] = len(pool) - len(kept)
    counts["available"] = {k: int(v) for k, v in kept.groupby("source").size().items()}
    pool = sample_pool(kept, n, seed).reset_index(drop=True)
    counts["sampled"] = {k: int(v) for k, v in pool.groupby("source").size().items()}
    return pool, counts


def teacher_proba(pool: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The accurate profile's p_<head>__<label> columns for the pool (cached by row ids)."""
    if path.exists():
        cached = pd.read_parquet(path)
        if cached[["source", "source_id"]].equals(pool[["source", "source_id"]]):
            return cached
    model, parts = load_model("accurate"), []
    for start in range(0, len(pool), 2000):
        texts = pool["text"].iloc[start:start + 2000].tolist()
        parts.append(model.predict_batch(texts).filter(like="p_"))
        print(f"teacher: {start + len(texts)} / {len(pool)}", flush=True)
    proba = pd.concat([pool[["source", "source_id"]],
                       pd.concat(parts, ignore_index=True)], axis=1)
    proba.to_parquet(path)
    return proba


def predictions(name: str, make_model, evals: dict[str, pd.DataFrame], tag: str = "") -> dict:
    """A model's predictions on the evaluation sets and its SemEval-2016 report, cached
    under its name and ``tag`` (the settings it was fitted with)."""
    paths = {k: CACHE / f"pred_{name}{tag}_{k}.parquet" for k in evals}
    semeval_path = CACHE / f"semeval_{name}{tag}.json"
    if not (all(p.exists() for p in paths.values()) and semeval_path.exists()):
        timer = time.perf_counter()
        model = make_model()
        print(f"{name}: model ready in {time.perf_counter() - timer:.0f} s", flush=True)
        for key, frame in evals.items():
            model.predict_batch(frame["text"].tolist()).drop(columns="text", errors="ignore") \
                .to_parquet(paths[key])
        semeval_path.write_text(json.dumps(semeval_report(model)))
        print(f"{name}: evaluated after {time.perf_counter() - timer:.0f} s", flush=True)
    return {**{k: pd.read_parquet(p) for k, p in paths.items()},
            "semeval": json.loads(semeval_path.read_text())}


def interval(values: np.ndarray) -> str:
    """Full-set value [95% bootstrap interval] (row 0 is the full set)."""
    lo, hi = np.quantile(values[1:], [0.025, 0.975])
    return f"{values[0]:.3f} [{lo:.3f}, {hi:.3f}]"


def gold_table(gold: pd.DataFrame, preds: dict) -> tuple[str, dict]:
    """Every gold measure per model; student - baseline with its paired interval; the
    teacher's gain over the shipped model and the share of it the student keeps."""
    draws = np.random.default_rng(0).integers(0, len(gold), (N_BOOT, len(gold)))
    m = {k: measures(gold, preds[k]["gold"], draws) for k in MODELS}
    lines = ["| measure | shipped | teacher | light baseline | student | student - baseline "
             "[95% paired CI] | teacher - shipped | share kept |", "|---" * 8 + "|"]
    out = {}
    for name in m["baseline"]:
        if name.endswith("accuracy"):
            continue
        diff = m["student"][name] - m["baseline"][name]
        lo, hi = np.quantile(diff[1:], [0.025, 0.975])
        gain = m["teacher"][name][0] - m["shipped"][name][0]
        share = diff[0] / gain if abs(gain) > 1e-9 else float("nan")
        out[name] = {k: float(m[k][name][0]) for k in MODELS} | {
            "student_minus_baseline": [float(diff[0]), float(lo), float(hi)],
            "teacher_minus_shipped": float(gain), "share_kept": float(share)}
        lines.append(f"| {name} | " + " | ".join(interval(m[k][name]) for k in MODELS)
                     + f" | {diff[0]:+.3f} [{lo:+.3f}, {hi:+.3f}] | {gain:+.3f} | "
                     f"{share:.2f} |")
    return "\n".join(lines), out


def tweets_table(tweets: pd.DataFrame, preds: dict) -> tuple[str, dict]:
    """Macro-F1 per head (urgency: the tier) on the held-out hand-labelled tweets, each over
    the rows labelled for it; student - baseline with a paired bootstrap interval."""
    lines = ["| measure | n | shipped | teacher | light baseline | student | student - "
             "baseline [95% paired CI] |", "|---" * 7 + "|"]
    out = {}
    for head, column in [*((h, h) for h in CLASSIFIER_HEADS), ("urgency", "priority")]:
        mask = tweets[head].notna().to_numpy()
        truth = tweets[head][mask].to_numpy()
        got = {k: preds[k]["tweets"][column].to_numpy()[mask] for k in MODELS}
        labels = sorted(set(truth))
        point = {k: float(f1_score(truth, got[k], labels=labels, average="macro",
                                   zero_division=0)) for k in MODELS}
        d = paired_macro_f1_difference(truth, got["baseline"], got["student"], labels)
        out[f"{head} macro-F1"] = point | {"student_minus_baseline": d}
        lines.append(f"| {head} macro-F1 | {mask.sum()} | "
                     + " | ".join(f"{point[k]:.3f}" for k in MODELS)
                     + f" | {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] |")
    auc = {k: urgency_auc(tweets["urgency"], preds[k]["tweets"]["urgency"]) for k in MODELS}
    out["urgency ROC-AUC"] = auc
    lines.append(f"| urgency ROC-AUC | {len(tweets)} | "
                 + " | ".join(f"{auc[k]:.3f}" for k in MODELS) + " | |")
    return "\n".join(lines), out


def semeval_table(preds: dict) -> tuple[str, dict]:
    """SemEval-2016 sentiment: macro recall (the official measure) and macro-F1."""
    out = {k: preds[k]["semeval"] for k in MODELS}
    lines = ["| measure | shipped | teacher | light baseline | student |", "|---" * 5 + "|"]
    for key in ("model_macro_recall", "model_macro_f1"):
        lines.append(f"| {key} | " + " | ".join(f"{out[k][key]:.3f}" for k in MODELS) + " |")
    return "\n".join(lines), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", type=int, default=20000, help="unlabelled texts sampled")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--teacher-weight", type=float, default=0.5,
                        help="origin weight of the teacher rows (hand: 3.0)")
    parser.add_argument("--min-p", type=float, default=0.05)
    parser.add_argument("--results", default="distillation.json",
                        help="file name in docs/experiments/results")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    cache_parses()
    corpus = pd.read_parquet(ROOT / "data" / "corpus" / "corpus.parquet")
    gold = load_gold().reset_index(drop=True)
    tweets = corpus[(corpus["source"] == "twcs") & (corpus["label_origin"] == "hand")
                    & (corpus["split"] == "test")].reset_index(drop=True)
    evals = {"gold": gold, "tweets": tweets}
    pool, counts = build_pool(corpus, gold, args.pool, args.seed)
    print(counts, flush=True)
    proba = teacher_proba(pool, CACHE / f"teacher_{args.pool}_{args.seed}.parquet")
    rows = teacher_rows(pool, proba, list(CLASSIFIER_HEADS), list(HEADS), args.min_p)
    light = light_valid(corpus)
    rows.index = rows.index + light.index.max() + 1
    student_cfg = {"model": {"origin_weights": {"teacher": args.teacher_weight}}}
    matcher = CueMatcher(PATTERNS_DIR)
    makers = {
        "baseline": lambda: Predictor(fit_default_model(
            light, load_config(DEFAULT_CONFIG, LIGHT), matcher, "light-baseline"), {}, ROOT),
        "student": lambda: Predictor(fit_default_model(
            pd.concat([light, rows]), load_config(DEFAULT_CONFIG, merge(LIGHT, student_cfg)),
            matcher, "light-student"), {}, ROOT),
        "shipped": lambda: load_model("fast"),
        "teacher": lambda: load_model("accurate"),
    }
    tag = f"_{args.pool}_{args.seed}_{args.teacher_weight}_{args.min_p}"
    preds = {k: predictions(k, makers[k], evals, tag if k == "student" else "")
             for k in MODELS}
    tables = {"gold": gold_table(gold, preds), "tweets": tweets_table(tweets, preds),
              "semeval2016": semeval_table(preds)}
    (ROOT / "docs" / "experiments" / "results" / args.results).write_text(json.dumps({
        "pool": counts, "teacher_rows": {h: int(rows[h].notna().sum()) for h in HEADS},
        "args": vars(args), "light": LIGHT, "student_overrides": student_cfg,
        "eval_rows": {"gold": len(gold), "tweets": len(tweets)},
        **{k: v[1] for k, v in tables.items()}}, indent=1) + "\n")
    for name, (text, _) in tables.items():
        print(f"\n{name}\n{text}")


if __name__ == "__main__":
    main()
