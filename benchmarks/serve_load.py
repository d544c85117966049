"""HTTP service load test: throughput, latency, errors and server memory on loopback.

Starts ``interaction-classifier serve`` itself (2 workers by default) on a free port of
127.0.0.1, warms it up, then sends single-message requests (``POST /v1/predict``) and
batch-of-100 requests (``POST /v1/predict/batch``) from an async httpx client at rising
concurrency (1, 4, 16, 64). Every level is bounded in requests and in seconds, and the script
stops the server and itself at the end. Printed per level: requests and rows per second,
p50/p99 latency, error count (any non-200 answer or failed request). The server's RSS is the
sum over its processes (parent and workers; psutil if installed, else /proc) at the start and
the end of the run.

The ceiling is measured in the same run, in-process and on one core: ``predict()`` in a loop
and ``predict_batch`` on batches of 100, before and after the load (their mean is the
ceiling), so the HTTP overhead is a ratio that the machine's speed drift affects little. The
messages are the shipped examples recombined with a seed (no ../shared data needed).

Targets (issue 22, 2-core machine, 2 workers): single-message p50 <= 5 ms at concurrency 1;
batch-of-100 rows/s >= 60% of the in-process ``predict_batch`` rows/s; zero errors at
concurrency 64; RSS flat over the run (end within 10% of start). Records the run in
``benchmarks/results/serve_load.json``.
Usage: python benchmarks/serve_load.py [--workers 2] [--levels 1,4,16,64] [--requests 600]
       [--batch-requests 160] [--seconds 60] [--model DIR] [--note TEXT] [--results DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from interaction_classifier.evaluation.card import RESULTS_DIR, record_result

ROOT = Path(__file__).resolve().parents[1]
BATCH = 100
TARGETS = {"single_c1_p50_ms": 5.0, "errors_at_c64": 0.0, "rss_growth_pct": 10.0}
BATCH_RATIO_MIN = 0.6


def texts(n: int, seed: int = 0) -> list[str]:
    """``n`` messages: the shipped examples, then seeded recombinations of two or three."""
    base = pd.read_csv(ROOT / "examples" / "messages.csv", dtype=str)["text"].dropna().tolist()
    rng = random.Random(seed)
    out = list(base)
    while len(out) < n:
        out.append(rng.choice([" ", "\n\n"]).join(rng.sample(base, rng.randint(2, 3))))
    return out[:n]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants."""
    try:
        import psutil

        proc = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
    except ImportError:
        pass
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    family, frontier = {pid}, [pid]
    while frontier:
        children = [c for c, p in parents.items() if p in frontier and c not in family]
        family.update(children)
        frontier = children
    total = 0
    for member in family:
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{member}/statm").read_text().split()[1]) * os.sysconf(
                "SC_PAGE_SIZE")
    return total / 2**20


def in_process(model, messages: list[str]) -> dict[str, float]:
    """The ceiling: ``predict()`` messages/s and p50, ``predict_batch`` rows/s, one core."""
    single = messages[:600]
    times = np.empty(len(single))
    for i, text in enumerate(single):
        t = time.perf_counter()
        model.predict(text)
        times[i] = time.perf_counter() - t
    t = time.perf_counter()
    batches = [messages[i:i + BATCH] for i in range(0, 3000, BATCH)]
    for batch in batches:
        model.predict_batch(batch)
    return {"predict_per_s": float(len(single) / times.sum()),
            "predict_p50_ms": float(np.median(times) * 1e3),
            "predict_batch_rows_per_s": sum(map(len, batches)) / (time.perf_counter() - t)}


async def level(base: str, concurrency: int, bodies: list[dict], path: str, limit: int,
                seconds: float) -> dict[str, float]:
    """Send up to ``limit`` requests (cycling over ``bodies``) from ``concurrency`` tasks,
    stopping early after ``seconds``."""
    latencies: list[float] = []
    errors = 0
    sent = 0
    stop = time.monotonic() + seconds
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def worker() -> None:
        # A client (one keep-alive connection) per task: one shared pool of 64 connections
        # costs httpx ~9 ms of CPU per request here, which would measure the client.
        nonlocal sent, errors
        async with httpx.AsyncClient(base_url=base, timeout=60, limits=one) as client:
            while sent < limit and time.monotonic() < stop:
                body = bodies[sent % len(bodies)]
                sent += 1
                t = time.perf_counter()
                try:
                    response = await client.post(path, json=body)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    rows = len(bodies[0].get("texts", [None]))
    ms = np.array(latencies) * 1e3
    return {"concurrency": concurrency, "requests": len(latencies), "errors": errors,
            "requests_per_s": len(latencies) / wall,
            "rows_per_s": len(latencies) * rows / wall,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def start_server(workers: int, model: str | None, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "interaction_classifier.cli", "serve", "--host",
               "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if model:
        command += ["--model", model]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline, streak = time.monotonic() + 180, 0
    while streak < 4 * workers:  # new connections reach every worker: all must be ready
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not become ready:\n{log.read_text()[-3000:]}")
        try:
            streak = streak + 1 if httpx.get(base + "/readyz").status_code == 200 else 0
        except httpx.HTTPError:
            streak = 0
        time.sleep(0.1 if streak else 0.5)
    return proc, base


def stop_server(proc: subprocess.Popen) -> int | None:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return None


async def run_load(base: str, messages: list[str], args: argparse.Namespace
                   ) -> dict[str, list[dict[str, float]]]:
    singles = [{"text": t} for t in messages]
    batches = [{"texts": messages[i:i + BATCH]} for i in range(0, len(messages), BATCH)]
    await level(base, 4, singles, "/v1/predict", 200, args.seconds)  # warm-up, not measured
    await level(base, 4, batches, "/v1/predict/batch", 8, args.seconds)
    out: dict[str, list[dict[str, float]]] = {"single": [], "batch_of_100": []}
    for concurrency in args.levels:
        out["single"].append(await level(base, concurrency, singles, "/v1/predict",
                                         args.requests, args.seconds))
        out["batch_of_100"].append(await level(base, concurrency, batches,
                                               "/v1/predict/batch", args.batch_requests,
                                               args.seconds))
        for kind in out:
            r = out[kind][-1]
            print(f"{kind:13s} c={concurrency:<3d} {r['requests']:5d} req "
                  f"{r['requests_per_s']:8.1f} req/s {r['rows_per_s']:8.1f} rows/s "
                  f"p50 {r['p50_ms']:8.2f} ms p99 {r['p99_ms']:8.2f} ms errors {r['errors']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 4, 16, 64])
    parser.add_argument("--requests", type=int, default=600, help="single requests per level")
    parser.add_argument("--batch-requests", type=int, default=160,
                        help="batch-of-100 requests per level")
    parser.add_argument("--seconds", type=float, default=60.0, help="time limit per level")
    parser.add_argument("--model", default=None)
    parser.add_argument("--note", default="", help="recorded with the run (machine load...)")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()

    from interaction_classifier import load_model

    model = load_model(args.model)
    messages = texts(3000)
    for text in messages[:100]:
        model.predict(text)
    before = in_process(model, messages)
    print("in-process before:", {k: round(v, 2) for k, v in before.items()})
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start_server(args.workers, args.model, Path(tmp) / "server.log")
        try:
            rss_start = tree_rss_mb(proc.pid)
            load = asyncio.run(run_load(base, messages, args))
            rss_end = tree_rss_mb(proc.pid)
        finally:
            exit_code = stop_server(proc)
    after = in_process(model, messages)
    print("in-process after: ", {k: round(v, 2) for k, v in after.items()})
    ceiling = {k: (before[k] + after[k]) / 2 for k in before}
    best_batch = max(r["rows_per_s"] for r in load["batch_of_100"])
    c1 = load["single"][0]
    result = {
        "in_process_before": before, "in_process_after": after, "ceiling": ceiling,
        "load": load, "server_rss_mb_start": rss_start, "server_rss_mb_end": rss_end,
        "rss_growth_pct": 100 * (rss_end - rss_start) / rss_start,
        "single_c1_p50_ms": c1["p50_ms"],
        "single_c1_p50_over_predict_p50": c1["p50_ms"] / ceiling["predict_p50_ms"],
        "best_single_req_per_s_over_predict_per_s":
            max(r["requests_per_s"] for r in load["single"]) / ceiling["predict_per_s"],
        "best_batch_rows_per_s": best_batch,
        "batch_rows_over_predict_batch_rows": best_batch / ceiling["predict_batch_rows_per_s"],
        "errors_at_c64": float(sum(r["errors"] for kind in load.values() for r in kind
                                   if r["concurrency"] == 64)),
        "server_exit_code_after_sigterm": exit_code,
    }
    checks = {key: "met" if result[key] <= bound else "MISSED" for key, bound in TARGETS.items()}
    checks["batch_rows_over_predict_batch_rows"] = (
        "met" if result["batch_rows_over_predict_batch_rows"] >= BATCH_RATIO_MIN else "MISSED")
    result["checks"] = checks
    print(f"server RSS {rss_start:.0f} MB -> {rss_end:.0f} MB "
          f"({result['rss_growth_pct']:+.1f}%), exit code after SIGTERM {exit_code}")
    for key in ("single_c1_p50_ms", "single_c1_p50_over_predict_p50",
                "best_single_req_per_s_over_predict_per_s", "best_batch_rows_per_s",
                "batch_rows_over_predict_batch_rows", "errors_at_c64"):
        print(f"{key:42s} {result[key]:10.3f}  {checks.get(key, '')}")
    path = record_result("serve_load", result, model_version=model.version, targets=TARGETS,
                         args={"workers": args.workers, "levels": args.levels,
                               "requests": args.requests,
                               "batch_requests": args.batch_requests,
                               "seconds": args.seconds, "model": args.model or "default",
                               "batch_ratio_min": BATCH_RATIO_MIN, "note": args.note},
                         directory=args.results)
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
