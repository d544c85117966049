"""Speed of the accurate profile against the fast one, in the same run on the same messages.

Single-message ``predict()`` latency (p50, p90, p99; the two profiles taking turns on each
message, so the machine's drift does not skew the ratio) and ``predict_batch`` rows/s, plus
the encoder alone. Targets from issue #21: p50 <= 15 ms, batch >= 200 rows/s on a 2-core
machine. ``--threads`` sets ONNX Runtime's intra-op threads (0: one per core).
Usage: OMP_NUM_THREADS=1 python benchmarks/accurate_profile.py [--n 300] [--batch 2000]
       [--threads 0] [--model accurate]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from interaction_classifier import load_model
from interaction_classifier.features.encoder import OnnxEncoder

TARGETS = {"p50_ms": 15.0, "batch_rows_per_s": 200.0}


def messages(n: int) -> list[str]:
    """Real customer tweets (inbound twcs), cycled to n."""
    from interaction_classifier.data.loaders import load

    df = load("twcs")
    texts = df.loc[df["inbound"], "text"].tolist()
    return [texts[i % len(texts)] for i in range(n)]


def single_latency(predictors: dict, texts: list[str]) -> dict[str, np.ndarray]:
    """Per-message ``predict()`` time (ms) of each predictor, taking turns per message."""
    out = {name: np.empty(len(texts)) for name in predictors}
    for i, text in enumerate(texts):
        for name, predictor in predictors.items():
            t = time.perf_counter()
            predictor.predict(text)
            out[name][i] = 1000 * (time.perf_counter() - t)
    return out


def rows_per_second(fn, texts: list[str]) -> float:
    t = time.perf_counter()
    fn(texts)
    return len(texts) / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--model", default="accurate", help="accurate profile directory")
    args = parser.parse_args()
    fast, accurate = load_model("fast"), load_model(args.model)
    model = accurate.model
    model.encoder = OnnxEncoder(
        model.encoder_files, model.metadata["max_length"], threads=args.threads
    )
    texts = messages(args.n + args.batch)
    single, batch = texts[: args.n], texts[args.n :]
    for text in single[:20]:  # warm-up
        fast.predict(text), accurate.predict(text)
    lat = single_latency({"fast": fast, "accurate": accurate}, single)
    print(
        f"ONNX Runtime threads: {args.threads or 'default'}; {args.n} single messages, "
        f"{args.batch} batch rows (inbound twcs tweets)"
    )
    for name, ms in lat.items():
        p50, p90, p99 = np.percentile(ms, [50, 90, 99])
        print(f"{name:9s} predict() p50 {p50:.2f} ms  p90 {p90:.2f}  p99 {p99:.2f}")
    print(f"accurate / fast p50 ratio {np.median(lat['accurate']) / np.median(lat['fast']):.1f}")
    rates = {
        "fast": rows_per_second(fast.predict_batch, batch),
        "accurate": rows_per_second(accurate.predict_batch, batch),
        "encoder alone": rows_per_second(model.encoder.embed, batch),
    }
    for name, rate in rates.items():
        print(f"{name:13s} predict_batch {rate:.0f} rows/s")
    p50 = float(np.median(lat["accurate"]))
    print(
        f"targets: p50 <= {TARGETS['p50_ms']:g} ms: {'met' if p50 <= 15 else 'MISSED'} "
        f"({p50:.2f}); batch >= {TARGETS['batch_rows_per_s']:g} rows/s: "
        f"{'met' if rates['accurate'] >= 200 else 'MISSED'} ({rates['accurate']:.0f})"
    )


if __name__ == "__main__":
    main()
