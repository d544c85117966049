"""The ``interaction-classifier score`` command (registered in ``cli.py``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from interaction_classifier.batch.run import BatchError, ScoreOptions, format_summary, run


def score_command(
    input: Annotated[Path, typer.Argument(help="CSV, TSV, JSONL or Parquet; .gz allowed.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Scored rows; format by suffix. Default: INPUT.scored.EXT")] = None,
    text_column: Annotated[str, typer.Option(help="Column holding the message.")] = "text",
    id_column: Annotated[str | None, typer.Option(help="Ticket id, shown in the report.")] = None,
    time_column: Annotated[str | None, typer.Option(
        help="Arrival time: queue tie-break (oldest first) and sentiment over time.")] = None,
    workers: Annotated[int, typer.Option(help="Scoring processes.")] = 1,
    chunk_size: Annotated[int, typer.Option(help="Rows per chunk (memory and resume unit).")]
    = 10_000,
    resume: Annotated[bool, typer.Option(
        help="Finish an interrupted run instead of starting over.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress and no summary.")] = False,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: shipped).")]
    = None,
    queue: Annotated[Path | None, typer.Option(
        help="Also write the rows ordered by urgency, highest first.")] = None,
    report: Annotated[Path | None, typer.Option(help="Also write an HTML report.")] = None,
    engine: Annotated[str, typer.Option(
        help="local, or spark (INPUT may be a directory of parts; writes Parquet).")] = "local",
    spark_master: Annotated[str | None, typer.Option(
        help="Spark master URL (default: spark-submit's, else local[*]).")] = None,
    partitions: Annotated[int | None, typer.Option(
        help="Spark partitions to score in (default: at least the cores).")] = None,
) -> None:
    """Score a file of messages: every row out, bad rows flagged and quarantined."""
    if engine != "local":
        unsupported = {"--workers": workers != 1, "--resume": resume, "--queue": queue,
                       "--report": report, "--id-column": id_column,
                       "--time-column": time_column}
        _score_on_spark(engine, [k for k, v in unsupported.items() if v], input, output,
                        text_column, model, spark_master, partitions, chunk_size, quiet)
        return
    options = ScoreOptions(input=input, output=output, text_column=text_column,
                           id_column=id_column, time_column=time_column, workers=workers,
                           chunk_size=chunk_size, resume=resume, quiet=quiet, model=model,
                           queue=queue, report=report)
    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    try:
        summary = run(options, say)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    if not quiet:
        print(format_summary(summary))
    if not summary["rows_in_equals_rows_out"]:
        raise typer.Exit(1)


def _score_on_spark(engine: str, unsupported: list[str], input: Path, output: Path | None,
                    text_column: str, model: Path | None, master: str | None,
                    partitions: int | None, chunk_size: int, quiet: bool) -> None:
    """``--engine spark``: refuse local-only options rather than ignore them, then run."""
    if engine != "spark" or unsupported:
        problem = (f"unknown --engine {engine!r}; use local or spark" if engine != "spark"
                   else f"{', '.join(unsupported)} not supported with --engine spark")
        print(f"error: {problem}", file=sys.stderr)
        raise typer.Exit(2)
    try:
        from interaction_classifier.batch import spark
    except ImportError as exc:
        print(f"error: {exc}; install the extra: pip install "
              "'interaction-classifier[spark]'", file=sys.stderr)
        raise typer.Exit(2) from exc
    options = spark.SparkOptions(input=input, output=output, text_column=text_column,
                                 model=str(model) if model else None, master=master,
                                 partitions=partitions, chunk_size=chunk_size)
    try:
        summary = spark.run(options)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from exc
    if not quiet:
        print(spark.format_summary(summary))
    if not summary["rows_in_equals_rows_out"]:
        raise typer.Exit(1)
