"""The ``interaction-classifier score`` command (registered in ``cli/main.py``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from interaction_classifier.batch.database import DatabaseUnavailable, is_database_url
from interaction_classifier.batch.formats import BatchError, CountMismatch
from interaction_classifier.batch.overrides import parse_assignments
from interaction_classifier.batch.readers import MAX_RECORD_LINES
from interaction_classifier.batch.run import ScoreOptions, format_summary, run


def score_command(
    input: Annotated[str, typer.Argument(
        help="CSV, TSV, JSONL or Parquet (.gz allowed), or a database URL "
             "(postgresql://user@host/db, sqlite:///path.db) with --table.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Scored rows; format by suffix. Default: INPUT.scored.EXT")] = None,
    text_column: Annotated[str, typer.Option(help="Column holding the message.")] = "text",
    id_column: Annotated[str | None, typer.Option(
        help="Ticket id, shown in the report; for a database table (required) the key of "
             "the output table.")] = None,
    time_column: Annotated[str | None, typer.Option(
        help="Arrival time: queue tie-break (oldest first) and sentiment over time.")] = None,
    workers: Annotated[int, typer.Option(help="Scoring processes.")] = 1,
    chunk_size: Annotated[int, typer.Option(help="Rows per chunk (memory and resume unit).")]
    = 10_000,
    resume: Annotated[bool, typer.Option(
        help="Finish an interrupted run instead of starting over.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress and no summary.")] = False,
    model: Annotated[Path | None, typer.Option(
        help="fast (default), accurate or a model directory.")]
    = None,
    queue: Annotated[Path | None, typer.Option(
        help="Also write the rows in triage order (see --queue-by).")] = None,
    queue_by: Annotated[str | None, typer.Option(
        help="Queue order: urgency (default if the model has it), review (needs_review "
             "first, then least confident; default otherwise), or HEAD=LABEL (that "
             "label's probability, highest first).")] = None,
    review_threshold: Annotated[list[str] | None, typer.Option(
        help="HEAD=X: flag needs_review when the head's top probability is below X "
             "(repeatable; overrides the model's default).")] = None,
    priority_cutoff: Annotated[list[str] | None, typer.Option(
        help="TIER=X: minimum urgency score of a priority tier (repeatable; overrides the "
             "model's default).")] = None,
    report: Annotated[Path | None, typer.Option(help="Also write an HTML report.")] = None,
    drift_reference: Annotated[str | None, typer.Option(
        help="Add a drift section to --report against `training` or a scored FILE "
             "(docs/learning-loop.md).")] = None,
    output_prefix: Annotated[str, typer.Option(
        help="Prefix for every column the output adds (predictions, status, model_version, "
             "input_row...), to keep input columns with those names.")] = "",
    max_record_lines: Annotated[int, typer.Option(
        help="A CSV/TSV record spanning more lines (an unclosed quote) is quarantined as "
             "malformed_record instead of swallowing the records after it.")]
    = MAX_RECORD_LINES,
    redact: Annotated[bool, typer.Option(
        help="Mask e-mail addresses, phone numbers, payment cards and IBANs in the text "
             "column of every output (scored file, quarantine, queue, report). Labels are "
             "computed on the raw text.")] = False,
    redact_column: Annotated[list[str] | None, typer.Option(
        help="Another input column to mask (repeatable; implies --redact).")] = None,
    redact_pattern: Annotated[list[str] | None, typer.Option(
        help="LABEL=REGEX: also mask your own ids, e.g. ORDER_ID='#\\d{6,}' (repeatable; "
             "implies --redact).")] = None,
    engine: Annotated[str, typer.Option(
        help="local, or spark (INPUT may be a directory of parts; writes Parquet).")] = "local",
    spark_master: Annotated[str | None, typer.Option(
        help="Spark master URL (default: spark-submit's, else local[*]).")] = None,
    partitions: Annotated[int | None, typer.Option(
        help="Spark partitions to score in (default: at least the cores).")] = None,
    table: Annotated[str | None, typer.Option(
        help="Database input: the table (or view) to score; INPUT is the database URL.")]
    = None,
    output_table: Annotated[str | None, typer.Option(
        help="Database output: the table of scored rows, keyed by --id-column (created if "
             "missing; default TABLE_scored); bad rows go to OUTPUT_TABLE_quarantine.")]
    = None,
) -> None:
    """Score a file of messages or a database table: every row out, bad rows flagged and
    quarantined."""
    try:
        review = parse_assignments(review_threshold, "--review-threshold")
        priority = parse_assignments(priority_cutoff, "--priority-cutoff")
        patterns = parse_patterns(redact_pattern)
        if drift_reference and (report is None or output_prefix):
            raise BatchError("--drift-reference needs --report and no --output-prefix")
    except BatchError as exc:
        _fail(str(exc), exc)
    if is_database_url(input) or table or output_table:
        unsupported = {"-o": output, "--time-column": time_column, "--workers": workers != 1,
                       "--queue": queue, "--queue-by": queue_by, "--report": report,
                       "--max-record-lines": max_record_lines != MAX_RECORD_LINES,
                       "--redact": bool(redact or redact_column or redact_pattern),
                       "--engine": engine != "local"}
        _score_table(input, [k for k, v in unsupported.items() if v], quiet,
                     table=table, id_column=id_column, text_column=text_column,
                     output_table=output_table, chunk_size=chunk_size, resume=resume,
                     model=model, review=review, priority=priority,
                     output_prefix=output_prefix)
        return
    if engine != "local":
        unsupported = {"--workers": workers != 1, "--resume": resume, "--queue": queue,
                       "--queue-by": queue_by, "--report": report, "--id-column": id_column,
                       "--drift-reference": drift_reference,
                       "--time-column": time_column, "--output-prefix": output_prefix,
                       "--max-record-lines": max_record_lines != MAX_RECORD_LINES,
                       "--redact": bool(redact or redact_column or redact_pattern)}
        _score_on_spark(engine, [k for k, v in unsupported.items() if v], quiet,
                        input=Path(input),
                        output=output, text_column=text_column,
                        model=str(model) if model else None, master=spark_master,
                        partitions=partitions, chunk_size=chunk_size, review=review,
                        priority=priority)
        return
    options = ScoreOptions(input=Path(input), output=output, text_column=text_column,
                           id_column=id_column, time_column=time_column, workers=workers,
                           chunk_size=chunk_size, resume=resume, quiet=quiet, model=model,
                           queue=queue, report=report, queue_by=queue_by, review=review,
                           priority=priority, output_prefix=output_prefix,
                           max_record_lines=max_record_lines,
                           redact=redacted_columns(redact, text_column, redact_column, patterns),
                           redact_patterns=patterns, drift_reference=drift_reference)

    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    try:
        summary = run(options, say)
    except CountMismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    except BatchError as exc:
        _fail(str(exc), exc)
    except OSError as exc:
        _environment_error(exc)
    if not quiet:
        print(format_summary(summary))


def parse_patterns(values: list[str] | None) -> dict[str, str]:
    """``LABEL=REGEX`` options; the regex may itself hold ``=``."""
    patterns = {}
    for value in values or []:
        label, sep, regex = value.partition("=")
        if not sep or not label or not regex:
            raise BatchError(f"--redact-pattern {value!r}: expected LABEL=REGEX")
        patterns[label] = regex
    return patterns


def redacted_columns(redact: bool, text_column: str, extra: list[str] | None,
                     patterns: dict[str, str]) -> tuple[str, ...]:
    """The text column plus ``--redact-column``s, when any redaction option is given."""
    if not (redact or extra or patterns):
        return ()
    return tuple(dict.fromkeys([text_column, *(extra or [])]))


def _fail(message: str, cause: Exception | None = None) -> None:
    """A usage or input problem: the message on stderr and exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(2) from cause


def _environment_error(exc: OSError) -> None:
    """Disk full, read-only folder, permission denied: one line and exit code 3. Chunks
    already committed stay in the work folder for ``--resume``."""
    where = f": {exc.filename}" if exc.filename else ""
    print(f"error: {exc.strerror or exc}{where}; fix this, then rerun with --resume to "
          "keep the chunks already scored", file=sys.stderr)
    raise typer.Exit(3) from exc


def _score_on_spark(engine: str, unsupported: list[str], quiet: bool, **options: Any) -> None:
    """``--engine spark``: refuse local-only options rather than ignore them, then run."""
    if engine != "spark":
        _fail(f"unknown --engine {engine!r}; use local or spark")
    if unsupported:
        _fail(f"{', '.join(unsupported)} not supported with --engine spark")
    try:
        from interaction_classifier.batch import spark_run
    except ImportError as exc:
        _fail(f"{exc}; install the extra: pip install 'interaction-classifier[spark]'", exc)
    try:
        summary = spark_run.run(spark_run.SparkOptions(**options))
    except BatchError as exc:
        _fail(str(exc), exc)
    if not quiet:
        print(spark_run.format_summary(summary))
    if not summary["rows_in_equals_rows_out"]:
        raise typer.Exit(1)


def _score_table(url: str, unsupported: list[str], quiet: bool, **options: Any) -> None:
    """A database table: the same exit codes as files (3 when the database is unreachable)."""
    from interaction_classifier.batch import sql

    if not is_database_url(url):
        _fail(f"--table and --output-table need a database URL (postgresql://... or "
              f"sqlite:///...), not {url!r}")
    if unsupported:
        _fail(f"{', '.join(unsupported)} not supported when scoring a database table")
    if not options["table"] or not options["id_column"]:
        _fail("a database input needs --table and --id-column (the key of the output table)")
    try:
        summary = sql.score_table(sql.TableOptions(url=url, **options),
                                  None if quiet else _stderr)
    except CountMismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from exc
    except BatchError as exc:
        _fail(str(exc), exc)
    except (DatabaseUnavailable, OSError) as exc:
        print(f"error: {exc}; fix this, then rerun with --resume to keep the rows already "
              "written", file=sys.stderr)
        raise typer.Exit(3) from exc
    if not quiet:
        print(sql.format_table_summary(summary))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)
