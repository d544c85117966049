"""Local scorer against Spark on the same input, in the same run, on this machine.

Builds one Parquet file of N real messages (``batch_throughput.build_input``: sampled with
replacement from the shared corpora, in a temporary folder, never in the repository) and
scores it end to end, each as a fresh command (model load and, for Spark, JVM start
included), writing Parquet:

1. ``score --workers W`` (the local scorer),
2. ``score --engine spark --spark-master local[W]``.

It prints rows/s and peak RSS of each process tree and the overhead ratio (local rows/s
over Spark rows/s). Then, on the first ``--compare-rows`` rows and one Spark session, it
times three ways of running the model inside Spark, each writing to Spark's ``noop`` sink:
the scalar pandas UDF that ``score_dataframe`` uses, ``mapInPandas`` over whole rows
calling the same ``score_chunk``, and ``mlflow.pyfunc.spark_udf`` on the model logged as
the project's pyfunc (to a temporary MLflow store). Usage:

    python benchmarks/spark_scoring.py [--rows 1000000] [--workers 2] [--compare-rows 200000]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_throughput import build_input, timed

from interaction_classifier import load_model

SCORE = ("import typer; from interaction_classifier.cli.score import score_command; "
         "typer.run(score_command)")


def make_parquet(rows: int, folder: Path) -> Path:
    """The benchmark input as one Parquet file with row groups of 50,000 rows."""
    frame = build_input(rows, folder / "messages.csv")
    (folder / "messages.csv").unlink()
    path = folder / "messages.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   row_group_size=50_000)
    return path


def end_to_end(source: Path, folder: Path, workers: int) -> dict[str, dict[str, float]]:
    """The local scorer and the Spark engine as commands on the same file."""
    base = [sys.executable, "-c", SCORE, str(source), "--quiet"]
    return {
        f"local, score --workers {workers}": timed(
            [*base, "-o", str(folder / "local.parquet"), "--workers", str(workers)]),
        f"spark, --engine spark local[{workers}]": timed(
            [*base, "-o", str(folder / "spark.parquet"), "--engine", "spark",
             "--spark-master", f"local[{workers}]"]),
    }


def logged_pyfunc(folder: Path) -> str:
    """The shipped model logged as the project's pyfunc in a throw-away MLflow store."""
    import mlflow

    from interaction_classifier.training.tracking import log_model_dir

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    mlflow.set_experiment("spark-benchmark")
    with mlflow.start_run():
        info = log_model_dir(load_model().path, None)
    return info.model_uri


def compare_udfs(source: Path, folder: Path, rows: int, workers: int) -> dict[str, float]:
    """Seconds to score ``rows`` rows three ways in one warm Spark session (noop sink)."""
    import mlflow.pyfunc
    from pyspark.sql import DataFrame

    from interaction_classifier.batch import spark as ic_spark
    from interaction_classifier.batch.chunks import score_chunk

    spark = ic_spark.session(f"local[{workers}]")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
    df = spark.read.parquet(str(source)).limit(rows).repartition(2 * workers).cache()
    df.count()
    model, shipment = ic_spark.ship_model(None)
    schema = ic_spark.prediction_schema(model, "text")
    out_schema = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in
                           [*df.schema.fields, *schema.fields])
    shared = spark.sparkContext.broadcast(shipment)

    def whole_rows(frames):
        for frame in frames:
            yield score_chunk(ic_spark.cached_model(shared.value), frame, "text")

    uri = logged_pyfunc(folder)
    predictions = [f for f in schema.fields if f.name not in ("status", "model_version")]
    result_type = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in predictions)
    udf = mlflow.pyfunc.spark_udf(spark, uri, env_manager="local", result_type=result_type)
    ways: dict[str, Callable[[DataFrame], DataFrame]] = {
        "pandas UDF on the text column (score_dataframe)":
            lambda d: ic_spark.score_dataframe(d, "text"),
        "mapInPandas over whole rows (score_chunk)":
            lambda d: d.mapInPandas(whole_rows, out_schema),
        "mlflow.pyfunc.spark_udf (no statuses)":
            lambda d: d.withColumn("p", udf("text")),
    }
    warm = df.limit(1000).repartition(2 * workers)
    results = {}
    for name, build in ways.items():
        build(warm).write.format("noop").mode("overwrite").save()  # loads the models
        started = time.monotonic()
        build(df).write.format("noop").mode("overwrite").save()
        results[name] = time.monotonic() - started
    spark.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--compare-rows", type=int, default=200_000)
    args = parser.parse_args()
    import pyspark

    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"pyspark {pyspark.__version__}; model {load_model().version}")
    with tempfile.TemporaryDirectory(prefix="ic-spark-bench-") as tmp:
        folder = Path(tmp)
        source = make_parquet(args.rows, folder)
        print(f"input: {args.rows:,} rows, {source.stat().st_size / 2**20:,.0f} MB Parquet")
        results = end_to_end(source, folder, args.workers)
        written = {name: pq.read_table(folder / f"{kind}.parquet", columns=["status"]).num_rows
                   for name, kind in zip(results, ("local", "spark"), strict=True)}
        compared = compare_udfs(source, folder, args.compare_rows, args.workers)
    print(f"\n{'run':40} {'rows out':>10} {'seconds':>9} {'rows/s':>9} {'peak RSS MB':>12}")
    rates = {}
    for name, r in results.items():
        rates[name] = args.rows / r["seconds"]
        print(f"{name:40} {written[name]:>10,} {r['seconds']:>9.1f} {rates[name]:>9,.0f} "
              f"{r['peak_rss_mb']:>12,.0f}")
    local, remote = rates.values()
    print(f"overhead ratio (local rows/s / spark rows/s): {local / remote:.2f}")
    print(f"\nwithin one warm Spark session, {args.compare_rows:,} rows, noop sink:")
    for name, seconds in compared.items():
        print(f"  {name:50} {seconds:>7.1f} s {args.compare_rows / seconds:>9,.0f} rows/s")
    if any(rows != args.rows for rows in written.values()):
        raise SystemExit("rows in != rows out")


if __name__ == "__main__":
    main()
