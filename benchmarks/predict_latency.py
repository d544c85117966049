"""Inline predict() benchmark: latency p50/p99, cold start, RSS after load, batch throughput.

VADER's ``polarity_scores`` is measured in the same run on the same messages, as the
reference a user would otherwise reach for: once after ``predict()`` (each in its own pass,
the p50/p99 numbers) and once taking turns with it message by message on as many other
messages (the interleaved ratio, which the machine's drift cannot skew). Prints the numbers
and records them, with the targets, the machine and the date, in
``benchmarks/results/predict_latency.json``, which the model card reads.
Usage: python benchmarks/predict_latency.py [--n 2000] [--batch 20000] [--model models/default]
       [--results benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from interaction_classifier.evaluation.card import RESULTS_DIR, record_result

# Upper bounds from the model issue (docs/benchmarks.md), recorded beside each result.
TARGETS = {"predict_p50_ms": 1.0, "predict_p99_ms": 5.0, "cold_start_s_median_of_3": 2.0,
           "rss_after_load_mb_max_of_3": 300.0}

COLD = """
import time, json, resource
t0 = time.perf_counter()
from interaction_classifier import load_model
model = load_model({model!r})
model.predict("My card was stolen, please block it now!")
t1 = time.perf_counter()
print(json.dumps({{"cold_start_s": t1 - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def messages(n: int) -> list[str]:
    """Real customer tweets (inbound twcs), cycled to n."""
    from interaction_classifier.data.loaders import load

    df = load("twcs")
    texts = df.loc[df["inbound"], "text"].tolist()
    return [texts[i % len(texts)] for i in range(n)]


def latencies(fns: list, texts: list[str]) -> list[np.ndarray]:
    """Per-message latency (ms) of each function, the functions taking turns on each message:
    this machine's speed drifts by a third within minutes, and interleaving keeps that drift
    out of the ratio between them."""
    out = np.empty((len(fns), len(texts)))
    for i, text in enumerate(texts):
        for j, fn in enumerate(fns):
            t = time.perf_counter()
            fn(text)
            out[j, i] = time.perf_counter() - t
    return list(out * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--model", default=None)
    parser.add_argument("--batch", type=int, default=20000, help="rows for predict_batch")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()

    colds = [json.loads(subprocess.run([sys.executable, "-c", COLD.format(model=args.model)],
                                       capture_output=True, text=True, check=True).stdout)
             for _ in range(3)]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from interaction_classifier import load_model

    model = load_model(args.model)
    texts = messages(args.n)
    for t in texts[:200]:
        model.predict(t)
    vader = SentimentIntensityAnalyzer()
    (ours,), (theirs,) = latencies([model.predict], texts), latencies([vader.polarity_scores],
                                                                     texts)
    # messages neither has seen yet: a second pass over the same ones would meet warm caches
    unseen = messages(2 * args.n)[args.n:]
    ours_mixed, theirs_mixed = latencies([model.predict, vader.polarity_scores], unseen)
    batch = messages(args.batch)
    t = time.perf_counter()
    for i in range(0, len(batch), 1000):
        model.predict_batch(batch[i:i + 1000])
    batch_rate = len(batch) / (time.perf_counter() - t)
    result = {
        "n_messages": args.n,
        "predict_p50_ms": float(np.percentile(ours, 50)),
        "predict_p99_ms": float(np.percentile(ours, 99)),
        "vader_p50_ms": float(np.percentile(theirs, 50)),
        "vader_p99_ms": float(np.percentile(theirs, 99)),
        "p50_ratio_vs_vader": float(np.percentile(ours, 50) / np.percentile(theirs, 50)),
        "interleaved_predict_p50_ms": float(np.percentile(ours_mixed, 50)),
        "interleaved_vader_p50_ms": float(np.percentile(theirs_mixed, 50)),
        "interleaved_p50_ratio_vs_vader": float(np.percentile(ours_mixed, 50)
                                                / np.percentile(theirs_mixed, 50)),
        "cold_start_s_median_of_3": float(np.median([c["cold_start_s"] for c in colds])),
        "rss_after_load_mb_max_of_3": float(max(c["rss_mb"] for c in colds)),
        "predict_batch_rows_per_s": batch_rate,
        "this_process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    for key, value in result.items():
        print(f"{key:32s} {value:12.3f}" if isinstance(value, float) else f"{key:32s} {value}")
    path = record_result("predict_latency", result, model_version=model.version,
                         args={"n": args.n, "batch": args.batch, "model": args.model or "default"},
                         targets=TARGETS, directory=args.results)
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
