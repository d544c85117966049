"""Scoring a database table against scoring the same rows from a Parquet file, in one run.

Generates N tweet-length messages (seeded templates, no dataset text), writes them to a
Parquet file, a SQLite table and a table of a throwaway PostgreSQL server
(``tests/helpers/postgres.py``: initdb + pg_ctl on a temporary unix socket), then times
``interaction-classifier score`` on each as a fresh command: rows/s and peak RSS/PSS of the
scoring process (the PostgreSQL server's own memory is not counted), with the ratios to the
Parquet run. Several ``--rows`` values show whether memory grows with the table. Usage:

    python benchmarks/db_scoring.py [--rows 200000 1000000] [--chunk-size 10000]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import sys
import tempfile
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]

from batch_throughput import SCORE, timed  # noqa: E402

from interaction_classifier import load_model  # noqa: E402
from tests.helpers import postgres  # noqa: E402

OPENERS = ["", "@AcmeHelp ", "Hi, ", "hey team ", "Hello! ", "@AcmeBank ", "Dear support, "]
BODIES = ["my order #{n} still hasn't arrived and tracking shows nothing",
          "I was charged twice for the same subscription this month",
          "how do I change the delivery address on my account?",
          "the app keeps crashing every time I open my statements",
          "thank you so much, the replacement came today and works great",
          "my card was stolen last night, please block it now",
          "can I upgrade my plan without losing my saved data?",
          "your agent was really rude on the phone today",
          "is there a student discount for the premium plan?",
          "I want to cancel and get a refund for order {n}",
          "love the new update, the dark mode is perfect",
          "why is my transfer of ${n} still pending after 3 days?"]
ENDINGS = ["", "", " Thanks.", " Please help!!", " 😡", " :)", " Sent from my phone",
           " This is the third time I'm asking.", " https://t.co/x{n}"]


def messages(rows: int, seed: int = 0) -> pd.DataFrame:
    """``rows`` tweet-length messages with integer ids."""
    rng = random.Random(seed)
    texts = []
    for _ in range(rows):
        body = " and ".join(rng.sample(BODIES, rng.choice((1, 1, 2))))
        text = rng.choice(OPENERS) + body + rng.choice(ENDINGS)
        texts.append(text.replace("{n}", str(rng.randint(100, 99_999))))
    return pd.DataFrame({"id": range(1, rows + 1), "body": texts})


def load_tables(frame: pd.DataFrame, sqlite_path: Path, pg_url: str) -> None:
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute("CREATE TABLE tickets (id INTEGER PRIMARY KEY, body TEXT)")
        conn.executemany("INSERT INTO tickets VALUES (?, ?)", frame.itertuples(index=False))
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE tickets (id integer PRIMARY KEY, body text)")
        cursor = conn.connection.cursor()
        with cursor.copy("COPY tickets (id, body) FROM STDIN") as copy:
            for row in frame.itertuples(index=False):
                copy.write_row(row)
    engine.dispose()


def score(source: str, chunk: int, *extra: str) -> dict[str, float]:
    return timed([sys.executable, "-c", SCORE, source, "--chunk-size", str(chunk), "--quiet",
                  *extra])


def bench(rows: int, chunk: int, pg_url: str, tmp: Path) -> dict[str, dict[str, float]]:
    frame = messages(rows)
    parquet, db = tmp / f"m{rows}.parquet", tmp / f"m{rows}.db"
    frame.to_parquet(parquet, index=False)
    url = postgres.create_database(pg_url, f"r{rows}")
    load_tables(frame, db, url)
    table = ["--table", "tickets", "--id-column", "id", "--text-column", "body",
             "--output-table", "labels"]
    print(f"{rows:,} rows, mean text {frame['body'].str.len().mean():.0f} chars", flush=True)
    return {"parquet file": score(str(parquet), chunk, "-o", str(tmp / f"o{rows}.parquet"),
                                  "--text-column", "body", "--id-column", "id"),
            "sqlite table": score(f"sqlite:///{db}", chunk, *table),
            "postgresql table": score(url, chunk, *table)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--chunk-size", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.python_version()}; "
          f"model {load_model().version}; chunk size {args.chunk_size:,}")
    binaries = postgres.bindir()
    if binaries is None:
        raise SystemExit("PostgreSQL is not installed")
    lines = []
    with tempfile.TemporaryDirectory(prefix="ic-dbbench-") as tmp, \
            postgres.server(binaries) as pg_url:
        for rows in args.rows:
            results = bench(rows, args.chunk_size, pg_url, Path(tmp))
            base = results["parquet file"]
            for name, r in results.items():
                rate = rows / r["seconds"]
                lines.append(f"{rows:>10,} {name:18} {r['seconds']:>9.1f} {rate:>9,.0f} "
                             f"{rate / (rows / base['seconds']):>7.2f} "
                             f"{r['peak_rss_mb']:>8,.0f} {r['peak_pss_mb']:>8,.0f} "
                             f"{r['peak_rss_mb'] / base['peak_rss_mb']:>7.2f}")
    print(f"\n{'rows':>10} {'source':18} {'seconds':>9} {'rows/s':>9} {'x pq':>7} "
          f"{'RSS MB':>8} {'PSS MB':>8} {'x pq':>7}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
