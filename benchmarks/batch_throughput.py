"""Batch scoring throughput and peak memory, next to a plain per-row ``predict()`` loop
and pyarrow copying the same file without a model (the I/O limit).

Builds N messages (``--input corpora``: real customer messages sampled with replacement
from six shared corpora; ``--input tweets``: tweet-length texts made from the built corpus,
nearly all distinct), writes them as CSV and/or Parquet to a temporary folder (never to the
repository), runs ``interaction-classifier score`` on each with the given worker counts and
reports wall rows/s, rows per CPU second of the whole process tree (the figure a shared
machine's load cannot inflate), peak RSS and PSS summed over the tree and each process's
peak RSS and CPU seconds; then times ``predict()`` on a sample of the rows in a plain loop.
Usage:

    python benchmarks/batch_throughput.py [--rows 1000000] [--loop-rows 5000]
    python benchmarks/batch_throughput.py --input tweets --formats csv,parquet --workers 2 \
        --no-queue --loop-rows 0 --results benchmarks/results     # issue #20
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

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


def build_tweets(rows: int, seed: int = 0) -> pd.DataFrame:
    """N tweet-length messages (at most 280 characters) made from the built corpus
    (``data/corpus``): each joins the first words of one corpus text to the last words of
    another, cut at a random word, so nearly every row is distinct (a sample drawn with
    replacement would repeat each text ~12 times and flatter every cache) while the words
    and their mix stay real. Written to a temporary folder only, never committed."""
    from interaction_classifier.data.corpus import read_corpus

    texts = read_corpus()["text"]
    words = [t.split() for t in texts[texts.str.len() <= 280].tolist()]
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, len(words), (rows, 2))
    cuts = rng.random((rows, 2))
    out = []
    for (a, b), (x, y) in zip(pairs.tolist(), cuts.tolist(), strict=True):
        head, tail = words[a], words[b]
        text = " ".join(head[: max(1, round(x * len(head)))]
                        + tail[round(y * len(tail)):])
        out.append(text[:280])
    start = pd.Timestamp("2024-01-01", tz="UTC")
    return pd.DataFrame({
        "ticket_id": np.arange(rows),
        "received_at": (start + pd.to_timedelta(np.sort(rng.integers(0, 365 * 86400, rows)),
                                                unit="s")).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "text": out,
    })


def _kib(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, stack = [], [pid]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(children.get(current, []))
    return out


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_memory(pid: int) -> dict[int, tuple[int, int, float]]:
    """Per process of ``pid``'s tree: (RSS, PSS) bytes and CPU seconds so far.

    RSS counts pages shared between the main process and its forked workers once per
    process; PSS splits them, so the PSS sum is what the run really occupies.
    """
    return {p: (_kib(Path(f"/proc/{p}/status"), "VmRSS:"),
                _kib(Path(f"/proc/{p}/smaps_rollup"), "Pss:"), _cpu_seconds(p))
            for p in _tree(pid)}


def timed(cmd: list[str]) -> dict[str, Any]:
    """Wall and CPU seconds of a command's whole process tree, its peak summed RSS and PSS,
    and each process's peak RSS and CPU seconds (sampled every 0.2 s; the tree's CPU total
    is exact, from the kernel's accounting of waited-for children)."""
    started, cpu_before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak, per_process = [0, 0], {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            now = tree_memory(process.pid)
            peak[:] = np.maximum(peak, np.sum([v[:2] for v in now.values()], axis=0)).tolist()
            for p, (rss, _, cpu) in now.items():
                old = per_process.get(p, (0, 0.0))
                per_process[p] = (max(old[0], rss), max(old[1], cpu))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = process.wait()
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"{cmd[3:]} failed with exit code {code}")
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    main = per_process.pop(process.pid, (0, 0.0))
    return {"seconds": time.monotonic() - started,
            "cpu_seconds": (cpu_after.ru_utime + cpu_after.ru_stime
                            - cpu_before.ru_utime - cpu_before.ru_stime),
            "peak_rss_mb": peak[0] / 2**20, "peak_pss_mb": peak[1] / 2**20,
            "main_peak_rss_mb": main[0] / 2**20, "main_cpu_seconds": main[1],
            "workers_peak_rss_mb": [v[0] / 2**20 for v in per_process.values()],
            "workers_cpu_seconds": [v[1] for v in per_process.values()]}


def run_scorer(source: Path, output: Path, workers: int, extra: list[str]) -> dict[str, Any]:
    """One ``score`` run as a fresh command."""
    return timed([sys.executable, "-c", SCORE, str(source), "-o", str(output), "--workers",
                  str(workers), "--time-column", "received_at", "--quiet", *extra])


def arrow_io(source: Path, output: Path) -> dict[str, float]:
    """pyarrow reading the input and writing it again in its format, no model: the I/O
    limit of any scorer on this machine (the CSV holds newlines inside quoted texts)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    started, cpu = time.monotonic(), time.process_time()
    if source.suffix == ".parquet":
        pq.write_table(pq.read_table(source), output)
    else:
        pcsv.write_csv(pcsv.read_csv(source, parse_options=pcsv.ParseOptions(
            newlines_in_values=True)), output)
    return {"seconds": time.monotonic() - started, "cpu_seconds": time.process_time() - cpu}


def plain_loop(texts: list[str]) -> dict[str, float]:
    """``predict()`` once per row, one process: the baseline a notebook user would write."""
    model = load_model()
    started = time.monotonic()
    for text in texts:
        model.predict(text)
    return {"seconds": time.monotonic() - started}


def write_input(frame: pd.DataFrame, path: Path) -> None:
    """The input as CSV or Parquet (row groups of 50,000, as an exporter would write)."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                       row_group_size=50_000)
    else:
        frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop-rows", type=int, default=5_000,
                        help="rows timed in the per-row predict() loop (0: skip it)")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--input", choices=("corpora", "tweets"), default="corpora",
                        help="corpora: messages of six shared corpora (needs ../shared); "
                             "tweets: tweet-length texts made from data/corpus")
    parser.add_argument("--formats", default="csv", help="comma-separated: csv,parquet")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--queue", action=argparse.BooleanOptionalAction, default=True,
                        help="also run --workers 2 --queue --report")
    parser.add_argument("--results", type=Path, default=None,
                        help="record the run as JSON in this folder (benchmarks/results)")
    args = parser.parse_args()
    model_version = load_model().version
    print(f"machine: {os.cpu_count()} cores, {platform.python_version()}, "
          f"{platform.machine()}; model {model_version}; load {os.getloadavg()[0]:.1f}")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ic-bench-") as tmp:
        frame = (build_tweets(args.rows) if args.input == "tweets"
                 else build_input(args.rows, Path(tmp) / "messages.csv"))
        print(f"input: {args.rows:,} rows ({args.input}), mean text "
              f"{frame['text'].str.len().mean():.0f} chars, {frame['text'].nunique():,} distinct")
        chunk = ["--chunk-size", str(args.chunk_size)]
        for kind in args.formats.split(","):
            source = Path(tmp) / f"messages.{kind}"
            write_input(frame, source)
            results[f"pyarrow read + write, no model ({kind})"] = arrow_io(
                source, Path(tmp) / f"copy.{kind}")
            for workers in map(int, args.workers.split(",")):
                results[f"score --workers {workers} ({kind})"] = run_scorer(
                    source, Path(tmp) / f"out{workers}.{kind}", workers, chunk)
            if args.queue:
                results[f"score --workers 2 --queue --report ({kind})"] = run_scorer(
                    source, Path(tmp) / f"outq.{kind}", 2,
                    [*chunk, "--queue", str(Path(tmp) / f"queue.{kind}"),
                     "--report", str(Path(tmp) / "report.html")])
            source.unlink()
        if args.loop_rows:
            results["plain loop, predict() per row"] = {
                **plain_loop(frame["text"].iloc[: args.loop_rows].tolist()),
                "rows": args.loop_rows}
    report(results, args.rows)
    if args.results is not None:
        from interaction_classifier.evaluation.card import record_result

        path = record_result("batch_throughput", results, model_version=model_version,
                             args={k: str(v) for k, v in vars(args).items()},
                             directory=args.results)
        print(f"recorded in {path}")


def report(results: dict[str, dict[str, Any]], rows: int) -> None:
    """Rows/s by wall clock and per CPU second, peak memory summed and per process."""
    print("\n| run | rows | s | rows/s | rows per CPU-s | peak RSS MB summed | peak PSS MB "
          "| peak RSS MB main / workers | CPU s main / workers |\n|---|---:|---:|---:|---:|---:|"
          "---:|---|---|")
    for name, r in results.items():
        n = r.get("rows", rows)
        cpu = r.get("cpu_seconds")
        per_cpu = f"{n / cpu:,.0f}" if cpu else "-"
        memory = (f"{r['peak_rss_mb']:,.0f} | {r['peak_pss_mb']:,.0f} | "
                  f"{r['main_peak_rss_mb']:,.0f} / "
                  + ", ".join(f"{m:,.0f}" for m in r["workers_peak_rss_mb"])
                  + f" | {r['main_cpu_seconds']:,.1f} / "
                  + ", ".join(f"{c:,.1f}" for c in r["workers_cpu_seconds"])
                  if "peak_rss_mb" in r else "- | - | - | -")
        print(f"| {name} | {n:,} | {r['seconds']:,.1f} | {n / r['seconds']:,.0f} | {per_cpu} "
              f"| {memory} |")


if __name__ == "__main__":
    main()
