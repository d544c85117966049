"""Scoring a database table: ``score postgresql://... --table T --id-column ID
--text-column BODY --output-table LABELS`` (PostgreSQL through psycopg 3, or SQLite).

The source is read once, ordered by the id column, through a server-side cursor
(``stream_results``/``yield_per``), so memory holds one chunk whatever the table size. Each
chunk is scored as a file chunk is (``score_added``: same statuses, same columns) and
written in ONE transaction: rows scored ``ok`` to the output table (primary key = id),
every other row to the quarantine table with its status and reason. Committed chunks are
therefore a prefix of the id order, and ``--resume`` reads only ids above the largest id
already written (a chunk never splits a run of equal ids): after a ``kill -9`` every id
ends up exactly once. Accounting: rows in (``count(*)`` of the source) = rows out +
rows quarantined, checked at the end (exit 1 otherwise).

An id held by several rows is never merged: all its rows are quarantined as
``duplicate_id``; a NULL id is quarantined as ``missing_id``. Passwords are never shown:
the URL is printed masked.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from interaction_classifier.batch.chunkfiles import digest
from interaction_classifier.batch.chunks import READ_STATUS, VERSION_COLUMN
from interaction_classifier.batch.columns import SCORED_TEXT, OutputColumns, score_added
from interaction_classifier.batch.database import connections, engine_for, masked, unavailable
from interaction_classifier.batch.formats import BatchError, CountMismatch
from interaction_classifier.batch.overrides import check_overrides
from interaction_classifier.batch.sqltables import (
    REASON_COLUMN,
    TableOptions,
    Tables,
    count_rows,
    prepare,
    quarantine_columns,
    record,
    reflect,
    sql_types,
)
from interaction_classifier.models.artifact import ArtifactError
from interaction_classifier.serving.predictor import Predictor, load_model
from interaction_classifier.text.validate import OK, REASONS

DUPLICATE_ID = "duplicate_id"
MISSING_ID = "missing_id"
ID_REASONS = {DUPLICATE_ID: "duplicate_id: several rows of the input table have this id; "
                            "none was scored, fix the ids and score them again",
              MISSING_ID: "missing_id: the id is NULL, so the row cannot be keyed"}
PROGRESS_SECONDS = 60.0  # a progress line on stderr at most this often (not with --quiet)


def high_water(conn: Connection, tables: Tables) -> Any:
    """The largest id written (output and quarantine together), None before any chunk."""
    key = tables.id.name
    written = sa.union_all(sa.select(tables.output.c[key]),
                           sa.select(tables.quarantine.c[key])).subquery()
    return conn.execute(sa.select(sa.func.max(written.c[key]))).scalar()


def read_chunks(conn: Connection, tables: Tables, after: Any, size: int) -> Iterator[list[Any]]:
    """Rows (id, text) with an id above ``after``, by id, in chunks of about ``size`` rows
    through a server-side cursor; a run of equal ids is never split across two chunks."""
    ident = tables.id
    query = sa.select(ident, tables.source.c[1]).where(
        ident.is_not(None) if after is None else ident > after).order_by(ident)
    result = conn.execution_options(stream_results=True, yield_per=size).execute(query)
    chunk: list[Any] = []
    for row in result:
        if len(chunk) >= size and row[0] != chunk[-1][0]:
            yield chunk
            chunk = []
        chunk.append(row)
    if chunk:
        yield chunk


def score_rows(model: Predictor, rows: list[Any], names: OutputColumns,
               options: TableOptions) -> tuple[list[dict], list[dict]]:
    """(output rows, quarantine rows) of one chunk: the ``score`` statuses, plus
    ``duplicate_id`` for every row of an id seen more than once (never scored)."""
    ids = [row[0] for row in rows]
    counts = Counter(ids)
    frame = pd.DataFrame({SCORED_TEXT: pd.Series([row[1] for row in rows], dtype=object),
                          READ_STATUS: [DUPLICATE_ID if counts[i] > 1 else None for i in ids]})
    added = names.prefixed(score_added(model, frame, SCORED_TEXT,
                                       review=options.review or None,
                                       priority=options.priority or None))
    added.insert(0, options.id_column, pd.Series(ids, dtype=object))
    status = names.status
    good = added[added[status] == OK]
    bad = added.loc[added[status] != OK, [options.id_column, status, names.name(VERSION_COLUMN)]]
    bad.insert(2, names.name(REASON_COLUMN), [_reason(s) for s in bad[status]])
    return _records(good), _records(bad)


def _reason(status: str) -> str:
    return ID_REASONS.get(status) or REASONS.get(status, status)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Plain Python values (None for missing) that every driver accepts."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
            for row in plain.to_dict("records")]


def write_chunk(conn: Connection, tables: Tables, good: list[dict], bad: list[dict]) -> None:
    """Both tables in one transaction: a chunk is either wholly written or absent."""
    try:
        if good:
            conn.execute(tables.output.insert(), good)
        if bad:
            conn.execute(tables.quarantine.insert(), bad)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def quarantine_missing_ids(conn: Connection, tables: Tables, options: TableOptions,
                           version: str) -> None:
    """Rows with a NULL id, rewritten as a whole (idempotent under ``--resume``)."""
    key, q = tables.id.name, tables.quarantine
    rows = conn.execute(sa.select(sa.func.count()).select_from(tables.source)
                        .where(tables.id.is_(None))).scalar_one()
    conn.execute(q.delete().where(q.c[key].is_(None)))
    names = quarantine_columns(options)
    flagged = {key: None, names[0]: MISSING_ID, names[1]: ID_REASONS[MISSING_ID],
               names[2]: version}
    if rows:
        conn.execute(q.insert(), [flagged] * rows)
    conn.commit()


def score_table(options: TableOptions, say: Callable[[str], None] | None = None
                ) -> dict[str, Any]:
    """Score ``options.table`` into the output and quarantine tables; return the summary."""
    say = say or (lambda message: None)
    started = time.monotonic()
    if options.chunk_size < 1:
        raise BatchError("--chunk-size must be at least 1")
    model = _load(options)
    names = OutputColumns.of(model, options.output_prefix)
    engine = engine_for(options.url)
    try:
        with connections(engine, options.url, options.output) as (reader, writer):
            tables = reflect(reader, options, sql_types(model, names, options))
            prepare(writer, tables, _config(options, model), options.resume)
            after = high_water(writer, tables) if options.resume else None
            if after is not None:
                say(f"resuming after id {after!r}")
            scored_now, shown = 0, time.monotonic()
            for rows in read_chunks(reader, tables, after, options.chunk_size):
                write_chunk(writer, tables, *score_rows(model, rows, names, options))
                scored_now += len(rows)
                if time.monotonic() - shown >= PROGRESS_SECONDS:
                    shown = time.monotonic()
                    say(f"score: {scored_now:,} rows written, "
                        f"{scored_now / (shown - started):,.0f} rows/s")
            quarantine_missing_ids(writer, tables, options, model.version)
            summary = summarise(writer, tables, model, options, names)
            seconds = time.monotonic() - started
            summary["throughput"] = {"rows_scored_this_run": scored_now,
                                     "seconds": round(seconds, 3),
                                     "rows_per_second": round(scored_now / seconds, 1)}
            record(writer, tables, "summary", summary)
    except sa.exc.DBAPIError as exc:
        raise unavailable(exc, options.url) from exc
    finally:
        engine.dispose()
    if summary["rows_in"] != summary["rows_out"] + summary["rows_quarantined"]:
        raise CountMismatch(f"{options.table} has {summary['rows_in']} rows but "
                            f"{summary['rows_out']} were written and "
                            f"{summary['rows_quarantined']} quarantined (did the table "
                            "change during the run?)")
    return summary


def _load(options: TableOptions) -> Predictor:
    try:
        model = load_model(options.model)
    except (FileNotFoundError, ArtifactError) as exc:
        raise BatchError(str(exc)) from exc
    check_overrides(model.describe(), options.review, options.priority)
    return model


def _config(options: TableOptions, model: Predictor) -> dict[str, Any]:
    """What a resume must share with the run it finishes (kept in the manifest table)."""
    config = {"table": options.table, "id_column": options.id_column,
              "text_column": options.text_column, "model_version": model.version,
              "review_thresholds": dict(sorted(options.review.items())),
              "priority_cutoffs": dict(sorted(options.priority.items())),
              "output_prefix": options.output_prefix}
    return {**config, "config_digest": digest(config)}


def summarise(conn: Connection, tables: Tables, model: Predictor, options: TableOptions,
              names: OutputColumns) -> dict[str, Any]:
    """Counts read back from the tables themselves (so they cover resumed runs too)."""
    description = model.describe()
    heads = list(description["heads"])
    if description["capabilities"]["urgency"]:
        heads.append("priority")
    out, quarantine = tables.output, tables.quarantine
    review = names.name("needs_review")
    return {
        "input": f"{masked(options.url)} table {options.table}",
        "output": options.output, "quarantine": options.quarantine,
        "model_version": model.version,
        "rows_in": count_rows(conn, tables.source), "rows_out": count_rows(conn, out),
        "rows_quarantined": count_rows(conn, quarantine),
        "flagged_by_reason": _tally(conn, quarantine.c[names.status]),
        "needs_review": conn.execute(sa.select(sa.func.count()).select_from(out)
                                     .where(out.c[review].is_(True))).scalar_one()
        if review in out.c else 0,
        "labels": {head: _tally(conn, out.c[names.name(head)]) for head in heads},
    }


def _tally(conn: Connection, column: sa.Column) -> dict[str, int]:
    query = sa.select(column, sa.func.count()).group_by(column)
    return {str(value): n for value, n in conn.execute(query)}


def format_table_summary(summary: dict[str, Any]) -> str:
    """The human-readable summary printed at the end of a database run."""
    t = summary["throughput"]
    lines = [f"{summary['input']}: rows in {summary['rows_in']:,} | rows out "
             f"{summary['rows_out']:,} | quarantined {summary['rows_quarantined']:,} "
             f"{summary['flagged_by_reason'] or ''}".rstrip(),
             f"needs review {summary['needs_review']:,}"]
    for head, counts in summary["labels"].items():
        lines.append(f"{head}: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda x: -x[1])))
    lines.append(f"throughput {t['rows_per_second']:,.0f} rows/s "
                 f"({t['rows_scored_this_run']:,} rows read in {t['seconds']} s); "
                 f"model {summary['model_version']}")
    lines.append(f"output table {summary['output']}; quarantine table {summary['quarantine']}")
    return "\n".join(lines)
