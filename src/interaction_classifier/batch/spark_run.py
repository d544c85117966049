"""The ``score --engine spark`` command: read (``spark_readers``), score
(``spark.score_shipped``), write the rows as a directory of Parquet parts and the flagged
rows next to it, check rows in = rows out, and write the summary JSON."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from interaction_classifier.batch.chunks import OK, STATUS_COLUMN
from interaction_classifier.batch.formats import BatchError, detect_format
from interaction_classifier.batch.overrides import check_overrides, effective_thresholds
from interaction_classifier.batch.spark import score_shipped, session, ship_model
from interaction_classifier.batch.spark_readers import read_input
from interaction_classifier.io import write_text


@dataclass
class SparkOptions:
    """What ``score --engine spark`` accepts."""

    input: Path
    output: Path | None = None
    text_column: str = "text"
    model: str | None = None
    master: str | None = None
    partitions: int | None = None
    chunk_size: int = 10_000
    review: dict[str, float] = field(default_factory=dict)
    priority: dict[str, float] = field(default_factory=dict)

    def resolved_output(self) -> Path:
        """``-o`` (a Parquet directory), by default ``INPUT.scored.parquet`` beside the input."""
        if self.output is not None:
            if detect_format(self.output).kind != "parquet":
                raise BatchError(f"{self.output}: Spark writes a Parquet directory; "
                                 "name the output *.parquet")
            return self.output
        stem = self.input.name
        if not self.input.is_dir():
            stem = stem[: len(stem) - len(detect_format(self.input).suffix)]
        return self.input.with_name(f"{stem}.scored.parquet")


def quarantine_path(output: Path) -> Path:
    """``scored.parquet`` -> ``scored.quarantine.parquet`` (same folder)."""
    return output.with_name(f"{output.name.removesuffix('.parquet')}.quarantine.parquet")


def summary_path(output: Path) -> Path:
    """``scored.parquet`` -> ``scored.summary.json`` (same folder)."""
    return output.with_name(f"{output.name.removesuffix('.parquet')}.summary.json")


def _check_writable(path: Path) -> None:
    """Refuse to overwrite a non-empty folder that is not a finished Spark output."""
    if path.is_file() or (path.is_dir() and any(path.iterdir())
                          and not (path / "_SUCCESS").exists()):
        raise BatchError(f"{path} exists and is not a Spark output; remove it or choose "
                         "another --output")


def run(options: SparkOptions, spark: SparkSession | None = None) -> dict[str, Any]:
    """Read, score, write output and quarantine, check rows in = rows out; the summary."""
    started = time.monotonic()
    if options.partitions is not None and options.partitions < 1:
        raise BatchError("--partitions must be at least 1")
    output = options.resolved_output()
    quarantine = quarantine_path(output)
    for path in (output, quarantine):
        _check_writable(path)
        if path.resolve() == options.input.resolve():
            raise BatchError(f"{path} is the input; writing it would replace the input while "
                             "Spark reads it; choose another --output")
    model, shipment = ship_model(options.model)
    description = model.describe()
    check_overrides(description, options.review, options.priority)
    spark = spark or session(options.master)
    # The chunk of the local scorer is the Arrow batch here: rows per score_chunk call.
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(options.chunk_size))
    df = read_input(spark, options.input, options.text_column, options.chunk_size)
    target = options.partitions or max(spark.sparkContext.defaultParallelism,
                                       df.rdd.getNumPartitions())
    if target != df.rdd.getNumPartitions():
        df = df.repartition(target)
    rows_in = df.count()
    overrides = {"review": options.review or None, "priority": options.priority or None}
    score_shipped(df, options.text_column, model, shipment, overrides).write.mode(
        "overwrite").parquet(str(output))
    written = spark.read.parquet(str(output))
    written.where(F.col(STATUS_COLUMN) != OK).write.mode("overwrite").parquet(str(quarantine))
    summary = _summary(options, output, quarantine, model.version, rows_in, _counts(written),
                       target, time.monotonic() - started, spark.sparkContext.master)
    summary["capabilities"] = description["capabilities"]
    summary["thresholds"] = effective_thresholds(description, options.review,
                                                 options.priority)
    write_text(summary_path(output), json.dumps(summary, indent=2))
    return summary


def _counts(written: DataFrame) -> dict[str, dict[str, int]]:
    """Rows per status, needs_review and priority tier, in one aggregation of the output."""
    keys = [c for c in (STATUS_COLUMN, "needs_review", "priority") if c in written.columns]
    groups = written.groupBy(*keys).count().toPandas()
    return {key: {str(k): int(v) for k, v in groups.groupby(key, dropna=True)["count"]
                  .sum().items()} for key in keys}


def _summary(options: SparkOptions, output: Path, quarantine: Path, version: str,
             rows_in: int, counts: dict[str, dict[str, int]], partitions: int,
             seconds: float, master: str) -> dict[str, Any]:
    statuses = counts[STATUS_COLUMN]
    rows_out = sum(statuses.values())
    scored = statuses.get(OK, 0)
    return {
        "input": str(options.input), "output": str(output), "quarantine": str(quarantine),
        "engine": "spark", "master": master, "partitions": partitions,
        "model_version": version, "rows_in": rows_in, "rows_out": rows_out,
        "rows_in_equals_rows_out": rows_in == rows_out, "scored": scored,
        "flagged": rows_out - scored,
        "flagged_by_reason": {k: v for k, v in sorted(statuses.items()) if k != OK},
        "needs_review": counts.get("needs_review", {}).get("True", 0),
        "priority_tiers": counts.get("priority", {}),
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows_out / seconds, 1) if seconds else 0.0,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The lines printed at the end of a Spark run."""
    check = "yes" if summary["rows_in_equals_rows_out"] else "NO"
    tiers = ", ".join(f"{k} {v:,}" for k, v in summary["priority_tiers"].items())
    return "\n".join([
        f"rows in {summary['rows_in']:,} | rows out {summary['rows_out']:,} "
        f"(rows in = rows out: {check})",
        f"scored {summary['scored']:,} | flagged {summary['flagged']:,} "
        + (f"{summary['flagged_by_reason']}" if summary["flagged"] else ""),
        f"needs review {summary['needs_review']:,}" + (f" | priority {tiers}" if tiers else ""),
        f"spark {summary['master']}, {summary['partitions']} partitions: "
        f"{summary['rows_per_second']:,.0f} rows/s end to end ({summary['seconds']} s); "
        f"model {summary['model_version']}",
        f"output {summary['output']}; quarantine {summary['quarantine']}",
    ])
