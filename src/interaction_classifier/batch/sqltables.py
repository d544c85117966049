"""The tables a database run reads and writes: the source's id and text columns (checked,
exit 2 naming what exists), the output table (id as primary key + the columns a scored file
adds, typed from their values), the quarantine table and the run table (config and summary),
created or checked before the first chunk."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from interaction_classifier.batch.chunks import STATUS_COLUMN, VERSION_COLUMN
from interaction_classifier.batch.columns import SCORED_TEXT, OutputColumns, score_added
from interaction_classifier.batch.database import masked
from interaction_classifier.batch.formats import BatchError
from interaction_classifier.serving.predictor import Predictor

REASON_COLUMN = "reason"
SAMPLE = "Where is my order? It has not arrived."


@dataclass
class TableOptions:
    """What ``score URL --table ...`` accepts."""

    url: str
    table: str
    id_column: str
    text_column: str = "text"
    output_table: str | None = None
    chunk_size: int = 10_000
    resume: bool = False
    model: Path | None = None
    review: dict[str, float] = field(default_factory=dict)
    priority: dict[str, float] = field(default_factory=dict)
    output_prefix: str = ""

    @property
    def output(self) -> str:
        return self.output_table or f"{self.table}_scored"

    @property
    def quarantine(self) -> str:
        return f"{self.output}_quarantine"

    @property
    def manifest(self) -> str:
        return f"{self.output}_run"


@dataclass(frozen=True)
class Tables:
    """The source and the three tables a run writes."""

    source: sa.Table
    output: sa.Table
    quarantine: sa.Table
    manifest: sa.Table

    @property
    def id(self) -> sa.Column:
        return self.source.c[0]


def reflect(conn: Connection, options: TableOptions, added: dict[str, Any]) -> Tables:
    """The source table's id and text columns (exit 2 naming what exists), and the
    definitions of the output (id + ``added`` columns), quarantine and manifest tables."""
    inspector = sa.inspect(conn)
    names = sorted(inspector.get_table_names() + inspector.get_view_names())
    if options.table not in names:
        raise BatchError(f"no table {options.table!r} in {masked(options.url)}; tables: {names}")
    columns = {c["name"]: c["type"] for c in inspector.get_columns(options.table)}
    for flag, name in (("--id-column", options.id_column),
                       ("--text-column", options.text_column)):
        if name not in columns:
            raise BatchError(f"{flag} {name!r} is not a column of {options.table}; "
                             f"columns: {list(columns)}")
    if options.id_column == options.text_column:
        raise BatchError("--id-column and --text-column must be two columns")
    clash = {options.table} & {options.output, options.quarantine, options.manifest}
    if clash:
        raise BatchError(f"the output tables must not be the input table {options.table!r}")
    meta = sa.MetaData()
    id_type = _declarable(columns[options.id_column])
    source = sa.Table(options.table, meta, sa.Column(options.id_column, id_type),
                      sa.Column(options.text_column, columns[options.text_column]))
    output = sa.Table(options.output, meta,
                      sa.Column(options.id_column, id_type, primary_key=True,
                                autoincrement=False),
                      *[sa.Column(name, kind) for name, kind in added.items()])
    quarantine = sa.Table(options.quarantine, meta, sa.Column(options.id_column, id_type),
                          *[sa.Column(name, sa.Text) for name in quarantine_columns(options)])
    manifest = sa.Table(options.manifest, meta, sa.Column("key", sa.Text, primary_key=True),
                        sa.Column("value", sa.Text))
    return Tables(source, output, quarantine, manifest)


class _Untyped(sa.types.UserDefinedType):
    """A SQLite column declared without a type: values are stored as they come, so ids
    compare in the output as they do in the input."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return ""


def _declarable(kind: Any) -> Any:
    """The input id column's type, usable in ``CREATE TABLE`` (SQLite may have none)."""
    return _Untyped() if isinstance(kind, sa.types.NullType) else kind


def quarantine_columns(options: TableOptions) -> list[str]:
    return [f"{options.output_prefix}{c}" for c in (STATUS_COLUMN, REASON_COLUMN,
                                                     VERSION_COLUMN)]


def sql_types(model: Predictor, columns: OutputColumns, options: TableOptions) -> dict[str, Any]:
    """Every column ``score`` adds, with the SQL type of its values (read from one scored
    sample), under its output name: the output table's columns after the id."""
    sample = pd.DataFrame({SCORED_TEXT: [SAMPLE]})
    added = columns.prefixed(score_added(model, sample, SCORED_TEXT,
                                         review=options.review or None,
                                         priority=options.priority or None))
    columns.check([options.id_column])
    return {str(name): _sql_type(dtype) for name, dtype in added.dtypes.items()}


def _sql_type(dtype: Any) -> Any:
    if pd.api.types.is_bool_dtype(dtype):
        return sa.Boolean
    if pd.api.types.is_integer_dtype(dtype):
        return sa.BigInteger
    if pd.api.types.is_float_dtype(dtype):
        return sa.Float
    return sa.Text


def prepare(conn: Connection, tables: Tables, config: dict[str, Any], resume: bool) -> None:
    """Create the tables, or check that a run with this config can resume into them.

    Without ``--resume`` an output table holding rows is refused (exit 2): replacing a
    table is not this command's decision.
    """
    inspector = sa.inspect(conn)
    existing = [t for t in (tables.output, tables.quarantine, tables.manifest)
                if inspector.has_table(t.name)]
    if existing and not resume:
        rows = sum(count_rows(conn, t) for t in existing if t is not tables.manifest)
        if rows or len(existing) < 3:
            raise BatchError(f"table(s) {[t.name for t in existing]} already exist "
                             f"({rows} rows); pass --resume to finish that run, or drop them")
    for table in (tables.output, tables.quarantine):
        if inspector.has_table(table.name):
            found = [c["name"] for c in inspector.get_columns(table.name)]
            if found != list(table.c.keys()):
                raise BatchError(f"table {table.name!r} has columns {found}, expected "
                                 f"{list(table.c.keys())}; drop it or choose another "
                                 "--output-table")
    tables.output.metadata.create_all(conn, tables=[tables.output, tables.quarantine,
                                                   tables.manifest])
    stored = conn.execute(sa.select(tables.manifest.c.value)
                          .where(tables.manifest.c.key == "config")).scalar()
    if stored is None:
        conn.execute(tables.manifest.insert(), {"key": "config", "value": json.dumps(config)})
    elif json.loads(stored) != config:
        raise BatchError(f"cannot resume: {tables.manifest.name} was written with "
                         f"{stored}, this run is {json.dumps(config)}")
    conn.commit()


def record(conn: Connection, tables: Tables, key: str, value: dict[str, Any]) -> None:
    """Keep ``value`` (JSON) under ``key`` in the run table: the last run's summary."""
    manifest = tables.manifest
    conn.execute(manifest.delete().where(manifest.c.key == key))
    conn.execute(manifest.insert(), {"key": key, "value": json.dumps(value, default=str)})
    conn.commit()


def count_rows(conn: Connection, table: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
