"""Leave-one-source-out for the accurate profile (issue #21, item 5): does it generalise to
a source it never saw better than the fast profile?

For each new source S (``rsics-travel``, ``amazon-product-qa``): the fast model is fitted
without S (every corpus row of S dropped from train and valid) and once with every source
(shared by both S); the accurate profile's embedding heads and fusion are fitted over each
(``training.accurate.extend_fast_model``, the trainer's code) on the same rows. Fast fits
use the learning-loop simulation's light config (``learning_loop.LIGHT``, its 2,500
validation rows); the embedding heads use ``configs/accurate.toml`` with the same cap per
(head, source) as the light fast model (``--max-rows``) and the shipped encoder (same pinned
digests), embeddings cached in ``outputs/accurate_loso/``.

Evaluated on S's gold rows (``data/gold``, column ``dataset``) and on the hand-labelled rows of
S in the corpus test split: macro-F1 and accuracy per head for the four models, accurate
minus fast (both without S) with paired 95% bootstrap intervals. Predictions are cached per
fit in ``outputs/accurate_loso/``, so a rerun resumes. Usage:

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/accurate_loso.py

Writes ``docs/experiments/results/accurate_loso.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from learning_loop import LIGHT, cache_parses, light_valid  # noqa: E402

from interaction_classifier.config import (  # noqa: E402
    CLASSIFIER_HEADS,
    CONFIGS_DIR,
    DEFAULT_CONFIG,
    PATTERNS_DIR,
    PROFILES,
    PROJECT_ROOT,
)
from interaction_classifier.data.gold import load_gold  # noqa: E402
from interaction_classifier.evaluation.metrics import (  # noqa: E402
    paired_accuracy_difference,
    paired_macro_f1_difference,
)
from interaction_classifier.serving.predictor import Predictor  # noqa: E402
from interaction_classifier.text.cues import CueMatcher  # noqa: E402
from interaction_classifier.training.accurate import extend_fast_model  # noqa: E402
from interaction_classifier.training.config import load_config  # noqa: E402
from interaction_classifier.training.default_model import fit_default_model  # noqa: E402

CACHE = ROOT / "outputs" / "accurate_loso"
SOURCES = ("rsics-travel", "amazon-product-qa")  # the smaller first
MODELS = ("fast_without", "accurate_without", "fast_with", "accurate_with")


def eval_rows(corpus: pd.DataFrame, gold: pd.DataFrame, sources: list[str]) -> pd.DataFrame:
    """S's gold rows and S's hand-labelled test rows, tagged with ``group`` (S) and ``set``."""
    test = corpus[(corpus["split"] == "test") & (corpus["label_origin"] == "hand")]
    frames = []
    for s in sources:
        frames.append(gold[gold["dataset"] == s].assign(group=s, set="gold"))
        frames.append(test[test["source"] == s].assign(group=s, set="test_hand"))
    cols = ["group", "set", "text", *CLASSIFIER_HEADS]
    return pd.concat([f[cols] for f in frames], ignore_index=True)


def fit_pair(train: pd.DataFrame, acc_overrides: dict, name: str) -> tuple[dict, dict]:
    """The light fast model on ``train`` and the accurate profile over it, as predictors,
    with the fit times and the chosen fusion settings."""
    timer = time.perf_counter()
    fast = fit_default_model(train, load_config(DEFAULT_CONFIG, LIGHT),
                             CueMatcher(PATTERNS_DIR), f"loso-fast-{name}")
    fast_s = time.perf_counter() - timer
    acc_cfg = load_config(CONFIGS_DIR / "accurate.toml", acc_overrides)
    accurate = extend_fast_model(fast, train, acc_cfg, f"loso-accurate-{name}")
    info = {"fast_seconds": round(fast_s, 1),
            "accurate_seconds": round(time.perf_counter() - timer - fast_s, 1),
            "fusion": {h: {"weight": f.weight, "temperature": round(f.temperature, 4)}
                       for h, f in accurate.fused.items()}}
    print(f"{name}: {info}", flush=True)
    return {"fast": Predictor(fast, {}, ROOT), "accurate": Predictor(accurate, {}, ROOT)}, info


def predictions(name: str, train: pd.DataFrame, evals: pd.DataFrame, acc_overrides: dict,
                tag: str) -> dict[str, pd.DataFrame]:
    """Both profiles' labels on ``evals`` for the fit ``name`` (cached with its info)."""
    paths = {p: CACHE / f"pred_{name}_{p}{tag}.parquet" for p in ("fast", "accurate")}
    info_path = CACHE / f"fit_{name}{tag}.json"
    if not (all(p.exists() for p in paths.values()) and info_path.exists()):
        models, info = fit_pair(train, acc_overrides, name)
        for profile, model in models.items():
            model.predict_batch(evals["text"].tolist())[list(CLASSIFIER_HEADS)] \
                .to_parquet(paths[profile])
        info_path.write_text(json.dumps(info))
    return {p: pd.read_parquet(path) for p, path in paths.items()} | {
        "info": json.loads(info_path.read_text())}


def score(rows: pd.DataFrame, preds: dict[str, pd.DataFrame]) -> dict:
    """Per head: n, macro-F1 and accuracy of each model, accurate minus fast without S (paired
    bootstrap, same resamples for both measures)."""
    out = {}
    for head in CLASSIFIER_HEADS:
        mask = rows[head].notna().to_numpy()
        truth = rows[head].to_numpy()[mask].astype(str)
        got = {m: preds[m][head].to_numpy()[mask].astype(str) for m in MODELS}
        labels = sorted(set(truth))
        out[head] = {
            "n": int(mask.sum()),
            "macro_f1": {m: float(f1_score(truth, got[m], labels=labels, average="macro",
                                           zero_division=0)) for m in MODELS},
            "accuracy": {m: float((got[m] == truth).mean()) for m in MODELS},
            "accurate_minus_fast_without": {
                "macro_f1": paired_macro_f1_difference(
                    truth, got["fast_without"], got["accurate_without"], labels),
                "accuracy": paired_accuracy_difference(
                    truth, got["fast_without"], got["accurate_without"])},
        }
    return out


def table(results: dict) -> str:
    """Markdown: per source, set and head, each model's macro-F1 / accuracy and the paired
    differences."""
    lines = ["| source | set | head | n | fast w/o | accurate w/o | fast with | accurate with "
             "| acc. - fast w/o, macro-F1 [95%] | acc. - fast w/o, accuracy [95%] |",
             "|---" * 10 + "|"]
    for source, sets in results.items():
        for name, heads in sets.items():
            for head, r in heads.items():
                d = r["accurate_minus_fast_without"]
                cells = [f"{r['macro_f1'][m]:.3f} / {r['accuracy'][m]:.3f}" for m in MODELS]
                diffs = [f"{d[k]['difference']:+.3f} [{d[k]['low']:+.3f}, {d[k]['high']:+.3f}]"
                         for k in ("macro_f1", "accuracy")]
                lines.append(f"| {source} | {name} | {head} | {r['n']} | " + " | ".join(cells)
                             + " | " + " | ".join(diffs) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", default=",".join(SOURCES),
                        help="the sources left out, in this order (a subset of the two)")
    parser.add_argument("--max-rows", type=int, default=LIGHT["model"]["max_rows_per_source"],
                        help="embedding heads' rows per (head, source)")
    parser.add_argument("--corpus", default=str(ROOT / "data" / "corpus" / "corpus.parquet"))
    parser.add_argument("--results", default="accurate_loso.json",
                        help="file name in docs/experiments/results")
    args = parser.parse_args()
    sources = args.sources.split(",")
    CACHE.mkdir(parents=True, exist_ok=True)
    cache_parses()
    corpus = pd.read_parquet(args.corpus)
    light = light_valid(corpus)
    evals = eval_rows(corpus, load_gold().reset_index(drop=True), list(SOURCES))
    encoder = (PROFILES["accurate"] / "encoder").relative_to(PROJECT_ROOT)
    acc_overrides = {"model": {"max_rows_per_source": args.max_rows},
                     "accurate": {"encoder_dir": str(encoder),
                                  "cache_dir": str(CACHE.relative_to(ROOT) / "embeddings")}}
    tag = f"_{Path(args.corpus).stem}_{args.max_rows}"
    fits = {"with": predictions("with", light, evals, acc_overrides, tag)}
    for s in sources:
        fits[f"without_{s}"] = predictions(f"without_{s}", light[light["source"] != s], evals,
                                           acc_overrides, tag)
    results = {}
    for s in sources:
        preds = {f"{p}_{v}": fits["with" if v == "with" else f"without_{s}"][p]
                 for v in ("without", "with") for p in ("fast", "accurate")}
        results[s] = {}
        for name in ("gold", "test_hand"):
            mask = ((evals["group"] == s) & (evals["set"] == name)).to_numpy()
            results[s][name] = score(evals[mask].reset_index(drop=True),
                                     {m: p[mask].reset_index(drop=True) for m, p in preds.items()})
    (ROOT / "docs" / "experiments" / "results" / args.results).write_text(json.dumps({
        "light": LIGHT, "max_rows_per_source": args.max_rows,
        "fits": {k: v["info"] for k, v in fits.items()}, "results": results}, indent=1) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
