"""The learning loop, simulated: corrections chosen by the review strategy vs at random.

Pool: the hand-labelled customer tweets of the corpus's *train* split (``twcs``, origin
``hand``). The start model is trained on the corpus with those rows unlabelled; each round
the current model scores the rest of the pool, 200 rows are chosen (``loop.select``:
``select_for_review`` or ``select_random``), their hand labels come back as corrections
(origin ``review``, ``training.corrections.apply_to_corpus``, the code ``train`` uses) and
the model is refitted. Measured at the ``--report`` checkpoints (default 200 and 600
corrections): macro-F1 per head on two fixed held-out sets never in the pool: the
hand-labelled tweets of the *test* split (primary, in the pool's domain) and the gold set
(``data/gold``). Random choice is repeated
with ``--seeds`` seeds, the strategy with ``--strategy-seeds`` k-means seeds.

The fit is the trainer's (``fit_default_model``) with a lighter config so one fit takes a
few minutes on a shared CPU: ``configs/default.toml`` with no GloVe block (so no block left
out of interaction_type), vocabularies of 20,000 word and 30,000 char n-grams, at most
1,000 rows per (head, source) and 2,500 validation rows (every tweet of the split among
them). Each text's spaCy parse is cached for the run. Usage:

    nice -n 5 python benchmarks/learning_loop.py [--rounds 3] [--seeds 1,2,3]

Writes ``docs/learning-loop/<--results>`` and one plot per evaluation set,
``<results name>_<set>.png``. Arms can run in separate processes from one start model
(``--start-cache FILE``: fitted and pickled by the first, read by the others), each into
its own ``--results`` file; ``--merge a.json,b.json`` joins them into ``--results``
(default ``learning_loop.json``), redraws the plots and prints the tables; ``--plot-only`` does the
last two. Random choice is refitted only at the ``--report`` checkpoints (its choice does
not depend on the model); the strategy every round.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from interaction_classifier.config import CLASSIFIER_HEADS, DEFAULT_CONFIG, HEADS, PATTERNS_DIR
from interaction_classifier.data.gold import load_gold
from interaction_classifier.loop.select import select_for_review, select_random
from interaction_classifier.text.cues import CueMatcher
from interaction_classifier.training.config import load_config
from interaction_classifier.training.corrections import apply_to_corpus
from interaction_classifier.training.default_model import fit_default_model

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "learning-loop"
LIGHT = {
    "features": {"embedding_weight": 0.0, "word_max_features": 20000, "char_max_features": 30000},
    "model": {"max_rows_per_source": 1000, "exclude_blocks": {"interaction_type": []}},
}
VALID_ROWS = 2500  # validation rows kept (all hand-labelled tweets among them)
ROUND = 200
RESULTS = "learning_loop.json"
# Variants measured and not kept (docs/learning-loop.md, section 6), their runs in the logs:
# random_share, 25% of each round at random (commit 614c62a); likely, each label's queue by
# its probability instead of its boundary; near_and_likely, both queues per label.
ARM_COLOURS = {
    "strategy": "tab:blue",
    "random": "tab:grey",
    "random_share": "tab:orange",
    "likely": "tab:green",
    "near_and_likely": "tab:purple",
    "cluster_boundary": "tab:red",
    "typical": "tab:brown",
}
EVAL_SETS = ("heldout_tweets", "dev_tweets", "gold")


def cache_parses() -> None:
    """Every fit parses the same texts again: keep each text's spaCy Doc for the run (the
    parse is deterministic, so results are those of an uncached run, only faster)."""
    from interaction_classifier.features import frozen
    from interaction_classifier.text import pipeline

    original, cache = pipeline.parse_many, {}

    def parse_many(texts, batch_size: int = 256):
        texts = list(texts)
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        cache.update(zip(missing, original(missing, batch_size), strict=True))
        return iter([cache[t] for t in texts])

    pipeline.parse_many = frozen.parse_many = parse_many


def macro_f1(model, frame: pd.DataFrame) -> dict[str, float]:
    """Macro-F1 per head (urgency: the priority tier) over the rows labelled for it."""
    pred, _ = model.predict_frame(frame["text"].tolist())
    pred = pred.rename(columns={"urgency": "urgency_score", "priority": "urgency"})
    out = {}
    for head in HEADS:
        mask = frame[head].notna() & (frame[head] != "")
        out[head] = round(
            float(
                f1_score(frame.loc[mask, head], pred.loc[mask.to_numpy(), head], average="macro")
            ),
            4,
        )
    return out


def corrections(pool: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    """The pool rows at ``positions`` as a corrections table (ids + hand labels)."""
    rows = pool.iloc[positions]
    return pd.DataFrame(
        {
            "dataset": rows["source"],
            "source_id": rows["source_id"],
            **{h: rows[h].fillna("") for h in HEADS},
            "skip": "",
            "origin": "review",
            "text": "",
        }
    )


def arm(
    name: str, seed: int, setup: dict, rounds: int, report: set[int], log: dict, label: str
) -> None:
    """One run of the loop; metrics at the ``report`` checkpoints are appended to ``log``
    under ``label`` and saved. Random choice does not need the model, so it refits only at
    checkpoints."""
    start, pool, cfg, evals = (setup[k] for k in ("start", "pool", "cfg", "evals"))
    corpus, model, left = start, setup["model"], np.arange(len(pool))
    for r in range(1, rounds + 1):
        timer = time.perf_counter()
        if name == "strategy":
            texts = pool["text"].iloc[left].tolist()
            scored, _ = model.predict_frame(texts)
            chosen = left[
                select_for_review(scored, texts, list(CLASSIFIER_HEADS), ROUND, seed)[
                    "position"
                ].to_numpy()
            ]
        else:
            chosen = left[select_random(len(left), ROUND, seed * 1000 + r)]
        left = np.setdiff1d(left, chosen)
        corpus = apply_to_corpus(corpus, corrections(pool, chosen), list(HEADS))
        if name != "strategy" and r * ROUND not in report:
            continue
        model = fit_default_model(corpus, cfg, CueMatcher(PATTERNS_DIR), "sim")
        if r * ROUND not in report:
            continue
        log["runs"].append(
            {
                "arm": label,
                "seed": seed,
                "corrections": r * ROUND,
                **{k: macro_f1(model, f) for k, f in evals.items()},
                "picked": picked_classes(pool.drop(index=left)),
                "seconds": round(time.perf_counter() - timer, 1),
            }
        )
        save(log)
        print(log["runs"][-1], flush=True)


def picked_classes(rows: pd.DataFrame) -> dict[str, dict[str, int]]:
    """The hand labels of the corrections so far, counted per head: which classes an arm
    brings to the model (``pool_classes`` in the log has the pool's)."""
    return {h: {str(k): int(v) for k, v in rows[h].dropna().value_counts().items()} for h in HEADS}


def save(log: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / RESULTS).write_text(json.dumps(log, indent=1) + "\n")


def plot(log: dict, eval_name: str = "heldout_tweets") -> Path:
    """Macro-F1 per head against corrections: strategy vs random (mean, min-max band)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = pd.DataFrame(
        [
            {
                **{k: v for k, v in r.items() if not isinstance(v, dict)},
                **{h: r[eval_name][h] for h in HEADS},
            }
            for r in log["runs"]
        ]
    )
    start = {h: log["start"][eval_name][h] for h in HEADS}
    fig, axes = plt.subplots(1, len(HEADS), figsize=(4 * len(HEADS), 3.4))
    for ax, head in zip(axes, HEADS, strict=True):
        for name, colour in ARM_COLOURS.items():
            if name not in set(runs["arm"]):
                continue
            part = runs[runs["arm"] == name].groupby("corrections")[head]
            x = [0, *part.mean().index]
            ax.plot(x, [start[head], *part.mean()], "o-", color=colour, label=name)
            ax.fill_between(
                x, [start[head], *part.min()], [start[head], *part.max()], color=colour, alpha=0.2
            )
        ax.set_title(head)
        ax.set_xlabel("corrections")
        ax.set_xticks([0, *sorted(set(runs["corrections"]))])
    axes[0].set_ylabel(f"macro-F1 ({eval_name})")
    axes[0].legend()
    fig.tight_layout()
    path = OUT / f"{Path(RESULTS).stem}_{eval_name}.png"  # learning_loop_<set>.png by default
    fig.savefig(path, dpi=110)
    return path


def spread(values: list[float]) -> str:
    """Mean [min, max] of one arm's seeds."""
    return f"{np.mean(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def welch(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Difference of means ``a - b`` and its 95% Welch interval over seeds (each seed one
    draw of the selection; the evaluation set is held fixed)."""
    diff = float(np.mean(a) - np.mean(b))
    if len(a) < 2 or len(b) < 2:
        return diff, float("nan"), float("nan")
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    return diff, float(ci.low), float(ci.high)


def table(log: dict, eval_name: str = "heldout_tweets", arm: str = "strategy") -> str:
    """Markdown: per head and checkpoint, the arm's and random's macro-F1, mean [min, max]
    over their seeds, and the difference of the means with its 95% Welch interval."""
    lines = [
        f"| head | corrections | {arm} mean [min, max] (seeds) | random mean [min, max] (seeds) "
        "| difference of means [95%] |",
        "|---|---|---|---|---|",
    ]
    runs = log["runs"]
    for head in HEADS:
        lines.append(f"| {head} | 0 | {log['start'][eval_name][head]:.3f} | | |")
        for n in sorted({r["corrections"] for r in runs}):
            got = {
                a: [r[eval_name][head] for r in runs if r["arm"] == a and r["corrections"] == n]
                for a in (arm, "random")
            }
            if not got[arm] or not got["random"]:
                continue
            diff, low, high = welch(got[arm], got["random"])
            lines.append(
                f"| {head} | {n} | {spread(got[arm])} ({len(got[arm])}) | "
                f"{spread(got['random'])} ({len(got['random'])}) | "
                f"{diff:+.3f} [{low:+.3f}, {high:+.3f}] |"
            )
    return "\n".join(lines)


def picked_table(log: dict, corrections: int) -> str:
    """Markdown: each label's share of the corrections after ``corrections`` rows, mean over
    each arm's seeds, beside its share of the pool: which classes an arm brings."""
    arms = sorted({r["arm"] for r in log["runs"]})
    lines = [
        f"| head | label | pool | {' | '.join(arms)} |",
        "|---|---|---" + "|---" * len(arms) + "|",
    ]
    for head, counts in log["pool_classes"].items():
        for label, count in counts.items():
            shares = [
                np.mean(
                    [
                        r["picked"][head].get(label, 0) / sum(r["picked"][head].values())
                        for r in log["runs"]
                        if r["arm"] == a and r["corrections"] == corrections
                    ]
                )
                for a in arms
            ]
            pool = count / sum(counts.values())
            lines.append(
                f"| {head} | {label} | {pool:.3f} | {' | '.join(f'{x:.3f}' for x in shares)} |"
            )
    return "\n".join(lines)


def tweet_sets(corpus: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The hand-labelled tweets of the test split (``heldout_tweets``, reported) and of the
    valid split (``dev_tweets``: chooses between strategy variants, so the reported sets
    are not tuned on; the fit reads valid for temperatures and the urgency model, the same
    way in every arm)."""
    tweets = corpus[(corpus["source"] == "twcs") & (corpus["label_origin"] == "hand")]
    return {
        "heldout_tweets": tweets[tweets["split"] == "test"],
        "dev_tweets": tweets[tweets["split"] == "valid"],
    }


def light_valid(corpus: pd.DataFrame) -> pd.DataFrame:
    """The corpus with ``VALID_ROWS`` validation rows (every tweet among them, the rest a
    seeded sample): temperatures and the urgency model fit faster on fewer rows."""
    valid = corpus["split"] == "valid"
    keep = valid & (corpus["source"] == "twcs")
    keep |= valid & corpus.index.isin(
        corpus[valid & ~keep].sample(n=VALID_ROWS - int(keep.sum()), random_state=13).index
    )
    return corpus[~valid | keep]


def load_setup(cache: Path | None) -> dict:
    """Start corpus (pool unlabelled), pool, config, evaluation sets and the start model;
    with ``cache``, the start model and its tables are pickled there once and reused, so
    arms can run in separate processes from the same start."""
    if cache and cache.exists():
        with cache.open("rb") as f:
            setup = pickle.load(f)
        setup["model"].featurizer.set_matcher(CueMatcher(PATTERNS_DIR))  # not pickled
        setup["evals"] = {**tweet_sets(setup["start"]), "gold": setup["evals"]["gold"]}
        if setup["cfg"] != load_config(DEFAULT_CONFIG, LIGHT):
            raise SystemExit(f"{cache} was fitted with another config (--fit-cutoffs?)")
        return setup
    cfg = load_config(DEFAULT_CONFIG, LIGHT)
    corpus = pd.read_parquet(ROOT / "data" / "corpus" / "corpus.parquet")
    in_pool = (
        (corpus["source"] == "twcs")
        & (corpus["label_origin"] == "hand")
        & (corpus["split"] == "train")
    )
    pool = corpus[in_pool].reset_index(drop=True)
    corpus = light_valid(corpus)
    in_pool = in_pool[corpus.index]
    start = corpus.copy()
    start.loc[in_pool, list(HEADS)] = pd.NA
    start.loc[in_pool, "label_origin"] = pd.NA
    evals = {**tweet_sets(corpus), "gold": load_gold()}
    timer = time.perf_counter()
    model = fit_default_model(start, cfg, CueMatcher(PATTERNS_DIR), "sim")
    setup = {
        "start": start,
        "pool": pool,
        "cfg": cfg,
        "evals": evals,
        "model": model,
        "seconds": round(time.perf_counter() - timer, 1),
    }
    if cache:
        with cache.open("wb") as f:
            pickle.dump(setup, f)
    return setup


def merge(names: list[str]) -> dict:
    """One log from several result files of the same start (arms run in parallel)."""
    logs = [json.loads((OUT / n).read_text()) for n in names]
    if any(log["start"] != logs[0]["start"] for log in logs):
        raise SystemExit("the result files come from different start models")
    return {**logs[0], "runs": [r for log in logs for r in log["runs"]]}


def main() -> None:
    global RESULTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--report", default="200,600", help="corrections at which to measure (comma-separated)"
    )
    parser.add_argument("--seeds", default="1,2,3", help="random arm seeds")
    parser.add_argument("--strategy-seeds", default="1,2,3", help="strategy k-means seeds")
    parser.add_argument(
        "--arms", default="strategy,random", help="which arms to run (comma-separated)"
    )
    parser.add_argument(
        "--arm-name", help="name logged for the strategy arm (a variant from a patched checkout)"
    )
    parser.add_argument("--results", default=RESULTS, help="JSON file name in docs/learning-loop")
    parser.add_argument("--start-cache", type=Path, help="pickle of the start model to reuse")
    parser.add_argument(
        "--fit-cutoffs",
        action="store_true",
        help="every fit moves the priority cut-offs to the validation rows' best ([urgency] "
        "fit_cutoffs); use its own --start-cache",
    )
    parser.add_argument("--merge", help="comma-separated result files to merge into --results")
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()
    RESULTS = args.results
    if args.fit_cutoffs:
        LIGHT["urgency"] = {"fit_cutoffs": True}
    report = sorted(int(n) for n in args.report.split(","))
    if args.merge:
        save(merge(args.merge.split(",")))
    if args.plot_only or args.merge:
        log = json.loads((OUT / RESULTS).read_text())
        print(*(plot(log, name) for name in EVAL_SETS if name in log["start"]))
        arms = sorted({r["arm"] for r in log["runs"]} - {"random"})
        print(
            *(
                f"{arm} / {name}\n{table(log, name, arm)}\n"
                for arm in arms
                for name in EVAL_SETS
                if name in log["start"]
            ),
            *(f"picked after {n}\n{picked_table(log, n)}\n" for n in report),
            sep="\n",
        )
        return
    cache_parses()
    setup = load_setup(args.start_cache)
    log = {
        "pool": len(setup["pool"]),
        "eval_rows": {k: len(v) for k, v in setup["evals"].items()},
        "config": LIGHT,
        "round": ROUND,
        "pool_classes": picked_classes(setup["pool"]),
        "start": {
            **{k: macro_f1(setup["model"], f) for k, f in setup["evals"].items()},
            "seconds": setup["seconds"],
        },
        "runs": [],
    }
    save(log)
    print(log["start"], flush=True)
    arms = args.arms.split(",")
    for name, seeds in (("strategy", args.strategy_seeds), ("random", args.seeds)):
        for seed in (int(s) for s in seeds.split(",")) if name in arms else ():
            label = args.arm_name if name == "strategy" and args.arm_name else name
            arm(name, seed, setup, args.rounds, report, log, label)
    if log["runs"]:  # --arms none only builds the --start-cache
        print(*(plot(log, name) for name in EVAL_SETS))


if __name__ == "__main__":
    main()
