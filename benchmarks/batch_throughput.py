"""Batch scoring throughput and peak memory, next to a plain per-row ``predict()`` loop.

Builds a CSV of N real customer messages (sampled with replacement from the shared
corpora; written to a temporary folder, never to the repository), runs
``interaction-classifier score`` on it with 1 and 2 workers and reports rows/s and peak
RSS and PSS of the whole process tree (main process plus workers), then times ``predict()`` on a
sample of the same rows in a plain loop. Usage:

    python benchmarks/batch_throughput.py [--rows 1000000] [--loop-rows 5000]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from interaction_classifier import load_model
from interaction_classifier.data.loaders import load

SOURCES = ("twcs", "banking77", "bueck-tickets-synthetic", "reviews-yelp",
           "semeval2019-suggestions", "womens-clothing-reviews")
SCORE = ("import typer; from interaction_classifier.cli.score import score_command; "
         "typer.run(score_command)")


def build_input(rows: int, path: Path, seed: int = 0) -> pd.DataFrame:
    """N messages drawn with replacement from the corpora, with ids and arrival times."""
    texts = pd.concat([load(name)["text"] for name in SOURCES], ignore_index=True)
    rng = np.random.default_rng(seed)
    picked = texts.to_numpy()[rng.integers(0, len(texts), rows)]
    start = pd.Timestamp("2024-01-01", tz="UTC")
    frame = pd.DataFrame({
        "ticket_id": np.arange(rows),
        "received_at": (start + pd.to_timedelta(np.sort(rng.integers(0, 365 * 86400, rows)),
                                                unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "text": picked,
    })
    frame.to_csv(path, index=False)
    return frame


def _kib(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) bytes summed over ``pid`` and its descendants, from /proc.

    RSS counts pages shared between the main process and its forked workers once per
    process; PSS splits them, so the PSS sum is what the run really occupies.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    rss = pss = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        stack.extend(children.get(current, []))
        rss += _kib(Path(f"/proc/{current}/status"), "VmRSS:")
        pss += _kib(Path(f"/proc/{current}/smaps_rollup"), "Pss:")
    return rss, pss


def timed(cmd: list[str]) -> dict[str, float]:
    """Wall seconds and peak RSS and PSS of a command's whole process tree, every 0.2 s."""
    started = time.monotonic()
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[:] = np.maximum(peak, tree_memory(process.pid)).tolist()
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{cmd[3:]} failed with exit code {code}")
    return {"seconds": time.monotonic() - started, "peak_rss_mb": peak[0] / 2**20,
            "peak_pss_mb": peak[1] / 2**20}


def run_scorer(source: Path, output: Path, workers: int, extra: list[str]) -> dict[str, float]:
    """One ``score`` run as a fresh command."""
    return timed([sys.executable, "-c", SCORE, str(source), "-o", str(output), "--workers",
                  str(workers), "--time-column", "received_at", "--quiet", *extra])


def plain_loop(texts: list[str]) -> dict[str, float]:
    """``predict()`` once per row, one process: the baseline a notebook user would write."""
    model = load_model()
    started = time.monotonic()
    for text in texts:
        model.predict(text)
    return {"seconds": time.monotonic() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop-rows", type=int, default=5_000,
                        help="rows timed in the per-row predict() loop (rate extrapolates)")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.python_version()}, "
          f"{platform.machine()}; model {load_model().version}")
    with tempfile.TemporaryDirectory(prefix="ic-bench-") as tmp:
        source = Path(tmp) / "messages.csv"
        frame = build_input(args.rows, source)
        mean_chars = frame["text"].str.len().mean()
        print(f"input: {args.rows:,} rows, {source.stat().st_size / 2**20:,.0f} MB CSV, "
              f"mean text {mean_chars:.0f} chars")
        chunk = ["--chunk-size", str(args.chunk_size)]
        results = {}
        for workers in (1, 2):
            results[f"score --workers {workers}"] = run_scorer(
                source, Path(tmp) / f"out{workers}.csv", workers, chunk)
        results["score --workers 2 --queue --report"] = run_scorer(
            source, Path(tmp) / "outq.csv", 2,
            [*chunk, "--queue", str(Path(tmp) / "queue.csv"),
             "--report", str(Path(tmp) / "report.html")])
        loop = plain_loop(frame["text"].iloc[: args.loop_rows].tolist())
    print(f"\n{'run':38} {'rows':>10} {'seconds':>9} {'rows/s':>9} {'peak RSS MB':>12} "
          f"{'peak PSS MB':>12}")
    for name, r in results.items():
        print(f"{name:38} {args.rows:>10,} {r['seconds']:>9.1f} "
              f"{args.rows / r['seconds']:>9,.0f} {r['peak_rss_mb']:>12,.0f} "
              f"{r['peak_pss_mb']:>12,.0f}")
    print(f"{'plain loop, predict() per row':38} {args.loop_rows:>10,} {loop['seconds']:>9.1f} "
          f"{args.loop_rows / loop['seconds']:>9,.0f} {'-':>12} {'-':>12}")


if __name__ == "__main__":
    main()
