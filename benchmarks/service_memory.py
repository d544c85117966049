"""Memory of a long-running service: RSS while ``predict()`` meets words it has never seen.

spaCy keeps every new word in its vocabulary; ``text.get_nlp`` replaces the pipeline once it
has grown by ``MAX_NEW_STRINGS``. The baseline in the same run is the same number of calls on
real customer tweets, whose words repeat. Prints the numbers and records them, with the
machine and the date, in ``benchmarks/results/service_memory.json``, which the model card reads.
Usage: python benchmarks/service_memory.py [--n 20000] [--words 10] [--model models/default]
       [--results benchmarks/results]
"""

from __future__ import annotations

import argparse
import random
import string
import time
from pathlib import Path

import numpy as np

from interaction_classifier.evaluation.card import RESULTS_DIR, record_result


def rss_mb() -> float:
    """Current (not peak) resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def run(model, texts: list[str]) -> dict[str, float]:
    from interaction_classifier.text import pipeline as text

    pipelines, times = {id(text.get_nlp())}, np.empty(len(texts))
    for i, message in enumerate(texts):
        t = time.perf_counter()
        model.predict(message)
        times[i] = time.perf_counter() - t
        pipelines.add(id(text.get_nlp()))
    return {"rss_mb": round(rss_mb(), 1), "strings": len(text.get_nlp().vocab.strings),
            "pipelines_used": len(pipelines),
            "p50_ms": round(float(np.percentile(times, 50)) * 1e3, 3),
            "p99_ms": round(float(np.percentile(times, 99)) * 1e3, 3),
            "max_ms": round(float(times.max()) * 1e3, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--words", type=int, default=10)
    parser.add_argument("--model", default=None)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()

    from interaction_classifier import load_model
    from interaction_classifier.data.loaders import load
    from interaction_classifier.text.pipeline import MAX_NEW_STRINGS

    model = load_model(args.model)
    model.predict("warm-up")
    after_load = round(rss_mb(), 1)
    print({"after_load_rss_mb": after_load, "max_new_strings": MAX_NEW_STRINGS})
    tweets = load("twcs").query("inbound")["text"].tolist()
    baseline = run(model, [tweets[i % len(tweets)] for i in range(args.n)])
    print("baseline, real tweets:", baseline)
    rng = random.Random(0)
    novel = [" ".join("".join(rng.choices(string.ascii_lowercase, k=8))
                      for _ in range(args.words)) for _ in range(args.n)]
    novel_run = run(model, novel)
    print(f"novel words ({args.n * args.words:,}):", novel_run)
    result = {"after_load_rss_mb": after_load, "max_new_strings": MAX_NEW_STRINGS,
              "calls": args.n, "novel_words": args.n * args.words, "baseline": baseline,
              "novel": novel_run}
    path = record_result("service_memory", result, model_version=model.version,
                         args={"n": args.n, "words": args.words,
                               "model": args.model or "default"}, directory=args.results)
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
