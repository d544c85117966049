"""Does the int8 encoder keep the quality of the fp32 one? Both exported from the same pinned
weights (``python -m interaction_classifier.training.encoder_export DIR [--int8]``).

Prints the cosine between their embeddings of corpus texts, their speed on those texts, and
the accurate profile's gold measures with each encoder under the same fitted heads (the
heads were fitted on int8 embeddings, so this bounds what fp32 inference alone would give,
not a profile refitted on fp32). Usage:

    python benchmarks/encoder_quantisation.py --fp32 data/cache/encoder-fp32 \\
        --int8 data/cache/encoder-int8 [--model accurate] [--n 2000]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd

from interaction_classifier import load_model
from interaction_classifier.config import PROJECT_ROOT
from interaction_classifier.data.gold import load_gold
from interaction_classifier.evaluation.metrics import evaluate_frame
from interaction_classifier.features.encoder import EncoderFiles, OnnxEncoder


def encoder(directory: Path) -> OnnxEncoder:
    """An encoder from an export directory, pinned to the digests of its own files."""
    graph, tokenizer = directory / "encoder.onnx", directory / "tokenizer.json"
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    return OnnxEncoder(EncoderFiles(graph, digest(graph), tokenizer, digest(tokenizer)))


def gold_line(name: str, predictor: object, gold: pd.DataFrame) -> None:
    metrics, _ = evaluate_frame(predictor, gold)
    heads = ("interaction_type", "journey_stage", "sentiment")
    print(
        f"| {name} | "
        + " | ".join(f"{metrics[h]['macro_f1']:.3f}" for h in heads)
        + f" | {metrics['urgency']['roc_auc_urgent']:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fp32", type=Path, required=True)
    parser.add_argument("--int8", type=Path, required=True)
    parser.add_argument("--model", default="accurate")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    corpus = pd.read_parquet(PROJECT_ROOT / "data/corpus/corpus.parquet", columns=["text"])
    texts = corpus["text"].sample(args.n, random_state=0).tolist()
    encoders = {"fp32": encoder(args.fp32), "int8": encoder(args.int8)}
    vectors = {}
    for name, enc in encoders.items():
        start = time.perf_counter()
        vectors[name] = enc.embed(texts)
        print(f"{name}: {args.n / (time.perf_counter() - start):.0f} texts/s")
    cosine = (vectors["fp32"] * vectors["int8"]).sum(axis=1)
    print(
        f"cosine int8 vs fp32 on {args.n} corpus texts: min {cosine.min():.4f}, "
        f"1st percentile {np.percentile(cosine, 1):.4f}, mean {cosine.mean():.4f}"
    )
    predictor, gold = load_model(args.model), load_gold()
    print(
        "| encoder (same heads) | type | stage | sentiment | urgency AUC |\n|---|---|---|---|---|"
    )
    for name, enc in encoders.items():
        predictor.model.encoder = enc
        gold_line(name, predictor, gold)


if __name__ == "__main__":
    main()
