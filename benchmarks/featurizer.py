"""The batch featurizer (issue #20): predict_batch rows/s on one core, predict() p50/p99, cold
start and each feature block's share of predict_batch, beside, in the same run and on the
same tweets, (a) VADER, (b) plain scikit-learn TF-IDF + logistic regression with four heads
fitted on the corpus (word n-grams only; word + char_wb n-grams), and (c) pyarrow reading and
writing the same rows as CSV and Parquet without a model (the I/O limit). Every speed is also
printed as a ratio to predict_batch.

The process is pinned to one CPU (``os.sched_setaffinity``) and BLAS to one thread. The
baselines' heads are fitted on at most ``--fit-rows`` labelled corpus rows per head: what is
timed is their prediction, which the training size barely moves. ``--texts twcs`` cycles
the registry's 5,467 inbound twcs tweets (every text seen ~4 times in 20,000, which warms
the featurizer's string caches as no stream does); ``--texts generated`` takes distinct
tweet-length texts made from the built corpus (``batch_throughput.build_tweets``). The run
is recorded in ``benchmarks/results/featurizer.json`` (``--results DIR`` elsewhere). Usage:

    python benchmarks/featurizer.py [--rows 20000] [--single 2000] [--model models/default]
        [--texts twcs|generated] [--results benchmarks/results]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HEADS = ("interaction_type", "journey_stage", "sentiment", "urgency")
# The targets (#20), recorded beside each result: upper bounds.
TARGETS = {"predict_p50_ms": 0.3, "predict_p99_ms": 2.0, "cold_start_s_median_of_3": 1.0}
COLD = ("import time; t = time.perf_counter(); from interaction_classifier import load_model; "
        "m = load_model({model!r}); m.predict('My card was stolen, block it now!'); "
        "print(time.perf_counter() - t)")


def tweets(n: int, kind: str = "twcs") -> list[str]:
    """Inbound twcs tweets (registry), cycled to ``n``; or ``n`` generated distinct ones."""
    if kind == "generated":
        sys.path.insert(0, str(Path(__file__).parent))
        from batch_throughput import build_tweets

        return build_tweets(n, seed=1)["text"].tolist()
    from interaction_classifier.data.loaders import load

    df = load("twcs")
    texts = df.loc[df["inbound"], "text"].tolist()
    return [texts[i % len(texts)] for i in range(n)]


def best_rate(fn: Callable[[], object], rows: int, repeats: int = 3) -> float:
    """Rows per second of the fastest of ``repeats`` runs (the machine is shared)."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return rows / min(times)


STAGES = {  # function name (and file) -> stage of predict_batch
    ("tokens.py", "encode"): "tokenise (clean, chunks, token ids)",
    ("terms.py", "analyse"): "terms (lemma/form ids, negation)",
    ("blocks.py", "word_ngrams"): "word n-grams",
    ("blocks.py", "word_product"): "char_wb n-grams",
    ("blocks.py", "tfidf"): "tf-idf weighting",
    ("terms.py", "lexicon_scores"): "lexicon block",
    ("frozen.py", "mean_vectors"): "GloVe mean",
    ("cues.py", "match_batch"): "cue matcher",
    ("blocks.py", "stack"): "stacking the blocks",
    ("model.py", "proba"): "heads (one product, softmax)",
    ("language.py", "detect_language"): "language detection",
}


def block_shares(model: object, texts: list[str]) -> dict[str, float]:
    """Seconds of each stage inside one profiled predict_batch (cProfile's cumulative times;
    the profiler slows Python-heavy stages more than numpy ones)."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    profile.enable()
    model.predict_batch(texts)
    profile.disable()
    stats = pstats.Stats(profile).stats
    out: dict[str, float] = {}
    for (path, _, name), (_, _, _, cumulative, _) in stats.items():
        stage = STAGES.get((path.rsplit("/", 1)[-1], name))
        if stage is not None:
            out[stage] = out.get(stage, 0.0) + cumulative
    total = max(v[3] for k, v in stats.items() if k[2] == "predict_batch")
    out["predict_batch (all, profiled)"] = total
    return out


def sklearn_baselines(texts: list[str], fit_rows: int) -> dict[str, float]:
    """Rows/s of scikit-learn TF-IDF + four LogisticRegression heads on ``texts``."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from interaction_classifier.data.corpus import read_corpus

    corpus = read_corpus()
    train = corpus[corpus["split"] == "train"]
    out = {}
    for name, char in (("word only", False), ("word + char_wb", True)):
        vecs = [TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                max_features=60000)]
        if char:
            vecs.append(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3,
                                        sublinear_tf=True, max_features=80000))
        fit_texts = train["text"].iloc[:fit_rows * 2].tolist()
        for v in vecs:
            v.fit(fit_texts)

        def features(batch: list[str], vecs=vecs) -> object:
            return sp.hstack([v.transform(batch) for v in vecs], format="csr")

        heads = []
        for head in HEADS:
            rows = train[train[head].notna()].iloc[:fit_rows]
            heads.append(LogisticRegression(max_iter=300).fit(
                features(rows["text"].tolist()), rows[head].astype(str)))

        def predict(batch: list[str], heads=heads, features=features) -> list:
            X = features(batch)
            return [h.predict_proba(X) for h in heads]

        out[f"scikit-learn TF-IDF ({name}) + LR, 4 heads"] = best_rate(
            lambda predict=predict: predict(texts), len(texts))
    return out


def arrow_io(texts: list[str]) -> dict[str, float]:
    """Rows/s of pyarrow reading and writing the rows as CSV and as Parquet (no model)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = pa.table({"id": np.arange(len(texts)), "text": texts})
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        def read_csv(path: Path) -> pa.Table:  # tweets hold newlines
            return pcsv.read_csv(path, parse_options=pcsv.ParseOptions(newlines_in_values=True))

        for kind, write, read in (
                ("CSV", pcsv.write_csv, read_csv),
                ("Parquet", pq.write_table, pq.read_table)):
            src, dst = Path(tmp) / f"in.{kind}", Path(tmp) / f"out.{kind}"
            write(table, src)

            def roundtrip(src=src, dst=dst, write=write, read=read) -> None:
                write(read(src), dst)

            out[f"pyarrow {kind} read + write (I/O limit)"] = best_rate(roundtrip, len(texts))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--fit-rows", type=int, default=20000)
    parser.add_argument("--model", default=None)
    parser.add_argument("--texts", choices=("twcs", "generated"), default="twcs")
    parser.add_argument("--results", type=Path, default=None,
                        help="folder for featurizer.json (default benchmarks/results)")
    args = parser.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    from interaction_classifier import load_model

    cold = [float(subprocess.run([sys.executable, "-c", COLD.format(model=args.model)],
                                 capture_output=True, text=True, check=True).stdout.split()[-1])
            for _ in range(3)]
    model = load_model(args.model)
    texts = tweets(args.rows, args.texts)
    model.predict_batch(texts[:500])
    rates = {"predict_batch": best_rate(lambda: model.predict_batch(texts), len(texts))}
    singles = []
    for text in texts[: args.single]:
        t = time.perf_counter()
        model.predict(text)
        singles.append(time.perf_counter() - t)
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    rates["VADER polarity_scores"] = best_rate(
        lambda: [vader.polarity_scores(t) for t in texts], len(texts), repeats=1)
    rates.update(sklearn_baselines(texts, args.fit_rows))
    rates.update(arrow_io(texts))
    ms = np.array(singles) * 1e3
    p50, p99, cold_median = np.percentile(ms, 50), np.percentile(ms, 99), sorted(cold)[1]
    print(f"model {model.version}; {len(texts):,} {args.texts} tweets; one CPU; "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"predict(): p50 {p50:.3f} ms, p99 {p99:.3f} ms (n={len(ms)}); cold start median "
          f"of 3 {cold_median:.2f} s")
    base = rates["predict_batch"]
    print("| what | rows/s | predict_batch / it |\n|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} | {base / rate:.2f} |")
    shares = block_shares(model, texts)
    total = shares["predict_batch (all, profiled)"]
    print("| predict_batch stage | s | share |\n|---|---:|---:|")
    for name, seconds in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {seconds:.3f} | {seconds / total:.0%} |")
    from interaction_classifier.evaluation.card import RESULTS_DIR, record_result

    result = {"rows_per_s": rates, "predict_p50_ms": float(p50), "predict_p99_ms": float(p99),
              "cold_start_s_median_of_3": cold_median,
              "stage_share": {k: v / total for k, v in shares.items()},
              "load_average_1min": os.getloadavg()[0]}
    path = record_result("featurizer", result, model_version=model.version,
                         args={k: str(v) for k, v in vars(args).items()},
                         targets=TARGETS, directory=args.results or RESULTS_DIR)
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
