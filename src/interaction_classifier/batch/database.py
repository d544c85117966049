"""Database connections for ``score URL --table ...``: which URLs are databases, the
driver behind them (``postgresql://`` means psycopg 3), connection errors as one line
without the password, and the lock that keeps two runs off one output table."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from interaction_classifier.batch.chunkfiles import locked
from interaction_classifier.batch.formats import BatchError

SCHEMES = ("postgresql", "postgres", "sqlite")


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refuses the work (connection refused or lost,
    wrong password, permission denied): exit code 3, like a disk error."""


def is_database_url(value: str) -> bool:
    """``postgresql://...``, ``postgresql+psycopg://...``, ``sqlite:///...``."""
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.split("+")[0].lower() in SCHEMES


def masked(url: str) -> str:
    """The URL with its password as ``***``, for every message and the summary."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<database URL>"


def engine_for(url: str) -> Engine:
    """An engine; ``postgresql://`` means psycopg 3 (SQLAlchemy would pick psycopg2)."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise BatchError(f"not a database URL: {masked(url)}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    on_disk = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "",
                                                                                ":memory:")
    if on_disk and not Path(parsed.database).is_file():
        raise BatchError(f"database file not found: {parsed.database}")
    try:
        return sa.create_engine(parsed)
    except ImportError as exc:
        raise BatchError(f"{exc}; install the driver: pip install "
                         "'interaction-classifier[db]'") from exc


def connect(engine: Engine, url: str) -> Connection:
    """A connection, or ``DatabaseUnavailable`` in one line without the password."""
    try:
        return engine.connect()
    except sa.exc.DBAPIError as exc:
        raise unavailable(exc, url) from exc


def unavailable(exc: sa.exc.DBAPIError, url: str) -> DatabaseUnavailable:
    """The driver's first line, the password masked wherever it appears."""
    detail = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    password = make_url(url).password
    if password:
        detail = detail.replace(str(password), "***")
    return DatabaseUnavailable(f"database {masked(url)}: {detail}")


@contextmanager
def connections(engine: Engine, url: str, output: str) -> Iterator[tuple[Connection, Connection]]:
    """(reader, writer) holding the run's lock on the output table. PostgreSQL: two
    connections (a server-side cursor dies at its connection's commit) and a session
    advisory lock, released when the connection ends, even after a kill -9. SQLite: one
    connection (a second one could not commit while the first reads) and a lock file
    beside the database."""
    writer = connect(engine, url)
    try:
        if engine.dialect.name == "sqlite":
            with locked(Path(f"{engine.url.database}.{output}"),
                        "choose another --output-table"):
                yield writer, writer
            return
        key = f"interaction-classifier:{output}"
        if not writer.execute(sa.select(sa.func.pg_try_advisory_lock(
                sa.func.hashtext(key)))).scalar():
            raise BatchError(f"another score run is writing table {output!r}; wait "
                             "for it to finish or choose another --output-table")
        writer.commit()
        reader = connect(engine, url)
        try:
            yield reader, writer
        finally:
            reader.close()
    finally:
        writer.close()
