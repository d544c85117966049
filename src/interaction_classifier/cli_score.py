"""The ``interaction-classifier score`` command (registered in ``cli.py``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from interaction_classifier.batch import BatchError, ScoreOptions, format_summary, run


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
) -> None:
    """Score a file of messages: every row out, bad rows flagged and quarantined."""
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
