"""Robustness of the text path: generated strings through predict_batch and predict.

Sends N generated strings (random Unicode, runs of one symbol, emoji, mixed scripts, lone
surrogates, word salad, up to 5,000 characters) through ``predict_batch`` and M through
``predict``, counts exceptions and out-of-range outputs (a label outside its head's labels,
urgency outside [0, 1], probabilities not summing to 1), and prints the worst-case and
p99.9 ``predict()`` latency per input-length bucket, plus each pathological input's own
latency. The machine may be shared: every input's first (cold) call is what is reported,
and the slowest inputs are timed again to tell a slow input from a busy machine. A call that
replaced the spaCy pipeline (every 50,000 new strings, ``text.pipeline.MAX_NEW_STRINGS``) is
counted apart: that rebuild is a fixed cost, not the input's. Usage:

    python benchmarks/robustness.py [--batch 100000] [--single 10000] [--seed 0] [--model DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from itertools import pairwise

import numpy as np

from interaction_classifier import load_model
from interaction_classifier.text import pipeline

BUCKETS = (0, 100, 500, 1000, 2000, 3000, 4000, 5001)
SCRIPTS = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF),
           (0x900, 0x97F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
           (0x1F300, 0x1FAFF), (0x2000, 0x2BFF), (0xD800, 0xDFFF), (0xFE00, 0xFE0F)]
WORDS = ["refund", "card", "stolen", "urgent", "order", "parcel", "where", "is", "my", "not",
         "happy", "great", "thanks", "help", "cancel", "account", "blocked", "fraud", "asap",
         "please", "today", "again", "never"]


def pathological() -> dict[str, str]:
    """Known worst cases, each 4,999 characters."""
    runs = {"run of $": "$", "run of !": "!", "run of (": "(", "run of '": "'",
            "run of emoji": "😀", "alternating $!": "$!", "alternating emoji": "😀😁",
            "letter+symbol": "a:)", "emoji+letter": "😀a", "url-like": "http://a",
            "CJK": "中", "ZWJ family": "👩\u200d", "flags": "🇫🇷", "dots": ". ",
            "spaced $": "$ ", "word": "good "}
    return {name: (unit * 5000)[:4999] for name, unit in runs.items()}


def generated(rng: np.random.Generator, length: int) -> str:
    """One generated string of at most ``length`` characters, of a random kind."""
    return _generated(rng, length)[:length]


def _generated(rng: np.random.Generator, length: int) -> str:
    """A string of about ``length`` characters (emoji sequences run longer)."""
    kind = rng.integers(6)
    if kind == 0:  # random code points from a few scripts, surrogates included
        low, high = SCRIPTS[rng.integers(len(SCRIPTS))]
        return "".join(chr(c) for c in rng.integers(low, high + 1, length))
    if kind == 1:  # mixed scripts
        spans = [SCRIPTS[i] for i in rng.integers(len(SCRIPTS), size=length)]
        return "".join(chr(int(rng.integers(a, b + 1))) for a, b in spans)
    if kind == 2:  # a run of one unit
        unit = "".join(chr(int(rng.integers(0x21, 0x2FFF))) for _ in range(rng.integers(1, 4)))
        return (unit * (length // len(unit) + 1))[:length]
    if kind == 3:  # emoji, with joiners and variation selectors
        return "".join(rng.choice(["😀", "🔥", "👍🏽", "\u200d", "\ufe0f", "🇫🇷", " "], length))
    if kind == 4:  # word salad with punctuation and numbers
        parts = rng.choice([*WORDS, "!!!", "...", "$120", "#1", "@x", ":)", "\n"],
                           length // 5 + 1)
        return " ".join(parts)[:length]
    return "".join(chr(c) for c in rng.integers(0x20, 0x7F, length))  # printable ASCII


def lengths(rng: np.random.Generator, n: int, log: bool) -> np.ndarray:
    """Lengths up to 5,000: log-uniform (most short, as real messages) or uniform."""
    if log:
        return np.minimum(np.exp(rng.uniform(0, math.log(5001), n)).astype(int), 5000)
    return rng.integers(0, 5001, n)


def problems(model, result: dict) -> int:
    """How many out-of-range values one ``predict()`` result has."""
    heads = model.describe()["heads"]
    bad = sum(result[h] not in labels for h, labels in heads.items())
    bad += sum(not math.isclose(sum(p.values()), 1.0, abs_tol=1e-5)
               for p in result["probabilities"].values())
    return bad + (not 0.0 <= result["urgency"] <= 1.0)


def batch_run(model, rng: np.random.Generator, n: int, size: int = 1000) -> dict[str, int]:
    """``n`` strings through predict_batch in batches of ``size``."""
    counts = {"strings": 0, "exceptions": 0, "out_of_range": 0, "chars": 0}
    heads = model.describe()["heads"]
    for start in range(0, n, size):
        texts = [generated(rng, int(k)) for k in lengths(rng, min(size, n - start), log=True)]
        counts["strings"] += len(texts)
        counts["chars"] += sum(map(len, texts))
        try:
            frame = model.predict_batch(texts)
        except Exception:  # counted: the point of the benchmark
            counts["exceptions"] += 1
            continue
        bad = ~frame["urgency"].between(0.0, 1.0)
        for head, labels in heads.items():
            bad |= ~frame[head].isin(labels)
            columns = [f"p_{head}__{label}" for label in labels]
            bad |= (frame[columns].sum(axis=1) - 1.0).abs() > 1e-5
        counts["out_of_range"] += int(bad.sum())
    return counts


def timed(model, text: str) -> float:
    """Milliseconds of one ``predict()`` call."""
    start = time.perf_counter()
    model.predict(text)
    return (time.perf_counter() - start) * 1000


def single_run(model, rng: np.random.Generator, n: int
               ) -> tuple[dict, list[tuple[int, float, str]], list[float]]:
    """``n`` strings through predict, uniform in length: counts, (length, ms, text) of each
    call, and the ms of the calls that rebuilt the pipeline."""
    counts = {"strings": 0, "exceptions": 0, "out_of_range": 0}
    samples: list[tuple[int, float, str]] = []
    rebuilds: list[float] = []
    for k in lengths(rng, n, log=False):
        text = generated(rng, int(k))
        counts["strings"] += 1
        before = pipeline.get_nlp()
        try:
            start = time.perf_counter()
            result = model.predict(text)
            ms = (time.perf_counter() - start) * 1000
        except Exception:  # counted
            counts["exceptions"] += 1
            continue
        if pipeline.get_nlp() is before:
            samples.append((len(text), ms, text))
        else:
            rebuilds.append(ms)
        counts["out_of_range"] += problems(model, result)
    return counts, samples, rebuilds


def report_buckets(samples: list[tuple[int, float, str]]) -> None:
    print("| length | n | p50 ms | p99 ms | p99.9 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for low, high in pairwise(BUCKETS):
        ms = np.array([t for n, t, _ in samples if low <= n < high])
        if len(ms):
            print(f"| {low}-{high - 1} | {len(ms)} | {np.median(ms):.2f} | "
                  f"{np.quantile(ms, 0.99):.2f} | {np.quantile(ms, 0.999):.2f} | "
                  f"{ms.max():.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--single", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default=None, help="model directory (default: shipped)")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    model = load_model(args.model)
    model.predict("warm up: where is my order?")
    rng = np.random.default_rng(args.seed)

    print("\n## Pathological inputs (4,999 characters): first call, then best of 3")
    print("| input | first ms | best of 3 ms |")
    print("|---|---:|---:|")
    for name, text in pathological().items():
        first = timed(model, text)
        print(f"| {name} | {first:.1f} | {min(timed(model, text) for _ in range(3)):.1f} |")

    counts, samples, rebuilds = single_run(model, rng, args.single)
    print(f"\n## predict(): {counts}")
    report_buckets(samples)
    print(f"calls that rebuilt the pipeline: {len(rebuilds)}, "
          f"ms: {', '.join(f'{ms:.0f}' for ms in rebuilds)}")
    slowest = sorted(samples, key=lambda s: -s[1])[:10]
    again = [float(np.median([timed(model, text) for _ in range(5)])) for _, _, text in slowest]
    print("slowest 10 inputs: length, first call -> median of 5 more (ms), start")
    for (n, first, text), later in zip(slowest, again, strict=True):
        print(f"  {n:5d}  {first:5.1f} -> {later:5.1f}  {text[:12]!r}")

    start = time.perf_counter()
    counts = batch_run(model, rng, args.batch)
    elapsed = time.perf_counter() - start
    print(f"\n## predict_batch(): {counts}, {elapsed:.0f} s "
          f"({counts['strings'] / elapsed:,.0f} strings/s)")


if __name__ == "__main__":
    main()
