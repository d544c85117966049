"""``score URL --table ...``: database tables scored with the file guarantees, on SQLite and
on a real PostgreSQL server started for the session (``tests/helpers/postgres.py``; under
CI=true a missing PostgreSQL fails instead of skipping).

Every test checks the accounting the command promises: every non-null input id exactly once
in the output table or the quarantine, rows in = rows out + rows quarantined.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import filelock
import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from interaction_classifier import load_model
from interaction_classifier.batch import sql, sqltables
from interaction_classifier.batch.columns import OutputColumns
from interaction_classifier.cli.score import score_command
from interaction_classifier.text.validate import MAX_TEXT_CHARS
from tests.helpers import postgres

LONG = "word " * 3_000 + "my card was stolen, block it now"  # over max_chars: scored
DUMP = "x" * (MAX_TEXT_CHARS + 1)  # over the validator's ceiling: quarantined as too_large
TEXTS = ["Where is my parcel? It has not arrived yet.", "Thanks, the new card works great!",
         "I want to cancel my subscription today.", "Why was I charged twice this month?"]


def cli(*args: object) -> tuple[int, str]:
    app = typer.Typer()
    app.command()(score_command)
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def score(url: str, *extra: object, table: str = "tickets") -> tuple[int, str]:
    return cli(url, "--table", table, "--id-column", "id", "--text-column", "body",
               "--output-table", "labels", "--chunk-size", 7, *extra)


def good_rows(n: int) -> list[tuple[int, str]]:
    return [(i, f"{TEXTS[i % len(TEXTS)]} Ticket {i}.") for i in range(1, n + 1)]


def read(url: str, query: str) -> list[tuple]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(query)]
    finally:
        engine.dispose()


def assert_every_id_once(url: str, ids: list[object]) -> dict[object, str]:
    """Each non-null id once in output + quarantine (duplicates: once per input row);
    returns id -> status."""
    out = read(url, "SELECT id, status FROM labels")
    bad = read(url, "SELECT id, status FROM labels_quarantine WHERE id IS NOT NULL")
    assert Counter(i for i, _ in out + bad) == Counter(i for i in ids if i is not None)
    nulls = read(url, "SELECT count(*) FROM labels_quarantine WHERE id IS NULL")[0][0]
    assert nulls == sum(i is None for i in ids)
    return dict(out + bad)


# ---- SQLite ------------------------------------------------------------------------------

@pytest.fixture
def sqlite_db(tmp_path: Path) -> tuple[str, list[object]]:
    """A ticket table salted with every kind of bad row. The text column has no declared
    type, so SQLite keeps integers and bytes as they are."""
    path = tmp_path / "tickets.db"
    rows: list[tuple[object, object]] = [*good_rows(30),
                                         (101, None), (102, 42), (103, b"\xff\xfe"),
                                         (104, "   "), (105, "caf\xe9 card blocked".encode()),
                                         (106, "dup one"), (106, "dup two"), (None, "no id"),
                                         (107, LONG), (108, DUMP)]
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tickets (id INTEGER, body, channel TEXT)")
        conn.executemany("INSERT INTO tickets VALUES (?, ?, 'mail')", rows)
    return f"sqlite:///{path}", [r[0] for r in rows]


def test_sqlite_bad_rows_are_quarantined_with_reasons_and_nothing_is_lost(sqlite_db) -> None:
    url, ids = sqlite_db
    code, out = score(url)
    assert code == 0, out
    status = assert_every_id_once(url, ids)
    assert {i: status[i] for i in (101, 102, 103, 104, 106, 108)} == {
        101: "missing_text", 102: "non_text", 103: "undecodable", 104: "empty_text",
        106: "duplicate_id", 108: "too_large"}
    assert status[105] == status[107] == "ok"  # UTF-8 bytes are text; long text is scored
    reasons = dict(read(url, "SELECT status, reason FROM labels_quarantine"))
    assert reasons["missing_id"].startswith("missing_id:") and "not a string" in reasons[
        "non_text"]
    assert "rows in 40 | rows out 32 | quarantined 8" in out
    summary = json.loads(read(url, "SELECT value FROM labels_run WHERE key = 'summary'")[0][0])
    assert (summary["rows_in"], summary["rows_out"], summary["rows_quarantined"]) == (40, 32, 8)
    assert summary["flagged_by_reason"]["duplicate_id"] == 2
    urgent = read(url, "SELECT priority FROM labels WHERE id = 107")[0][0]
    assert urgent in ("high", "critical")  # the cue at the end of the long text counts


def test_the_output_table_has_the_file_output_columns_and_predictions(sqlite_db) -> None:
    url, _ = sqlite_db
    assert score(url)[0] == 0
    model = load_model()
    columns = [c[1] for c in read(url, "PRAGMA table_info(labels)")]
    assert columns == ["id", *OutputColumns.of(model).added]
    stored = read(url, "SELECT id, interaction_type, urgency FROM labels WHERE id <= 30 "
                       "ORDER BY id")
    expected = model.predict_batch([text for _, text in good_rows(30)])
    assert [r[1] for r in stored] == expected["interaction_type"].tolist()
    assert [r[2] for r in stored] == pytest.approx(expected["urgency"].tolist())


def test_an_integer_text_column_is_non_text_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "n.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tickets (id TEXT, body INTEGER)")
        conn.executemany("INSERT INTO tickets VALUES (?, ?)", [("a", 1), ("b", 2)])
    url = f"sqlite:///{path}"
    assert score(url)[0] == 0
    assert set(assert_every_id_once(url, ["a", "b"]).values()) == {"non_text"}


def test_missing_table_or_column_exits_2_naming_what_exists(sqlite_db) -> None:
    url, _ = sqlite_db
    code, out = score(url, table="tikets")
    assert code == 2 and "tables: ['tickets']" in out
    code, out = cli(url, "--table", "tickets", "--id-column", "ticket_id", "--text-column",
                    "body")
    assert code == 2 and "columns: ['id', 'body', 'channel']" in out
    code, out = cli(url, "--table", "tickets", "--text-column", "body")
    assert code == 2 and "--id-column" in out
    code, out = score(url, "--queue", "q.csv")
    assert code == 2 and "--queue not supported" in out


def test_an_unreachable_server_exits_3_in_one_line_without_the_password() -> None:
    code, out = cli("postgresql://alice:s3cr3t-pw@127.0.0.1:1/tickets", "--table", "t",
                    "--id-column", "id")
    assert code == 3, out
    assert "s3cr3t-pw" not in out and "alice:***@127.0.0.1:1" in out
    assert out.strip().count("\n") == 0
    code, out = cli("sqlite:////nonexistent/dir/x.db", "--table", "t", "--id-column", "id")
    assert code == 2 and "database file not found" in out


def test_a_rerun_needs_resume_and_resume_refuses_other_options(sqlite_db) -> None:
    url, _ = sqlite_db
    assert score(url)[0] == 0
    code, out = score(url)
    assert code == 2 and "--resume" in out
    code, out = score(url, "--resume", "--review-threshold", "sentiment=0.9")
    assert code == 2 and "cannot resume" in out
    code, out = score(url, "--resume")
    assert code == 0 and "rows read in" in out
    assert read(url, "SELECT count(*) FROM labels")[0][0] == 32


def test_an_interrupted_run_resumes_above_the_last_committed_id(sqlite_db, monkeypatch) -> None:
    url, ids = sqlite_db
    real, calls = sql.write_chunk, []

    def dies_on_the_third_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(*args, **kwargs)

    monkeypatch.setattr(sql, "write_chunk", dies_on_the_third_chunk)
    code, out = score(url)
    assert code == 3 and "--resume" in out
    assert read(url, "SELECT count(*) FROM labels")[0][0] == 14  # two chunks of 7
    monkeypatch.setattr(sql, "write_chunk", real)
    code, out = score(url, "--resume")
    assert code == 0, out
    assert_every_id_once(url, ids)


def test_a_chunk_never_splits_a_run_of_equal_ids() -> None:
    class Source:
        def execution_options(self, **_):
            return self

        def execute(self, _):
            return iter([(1, "a"), (2, "b"), (2, "c"), (2, "d"), (3, "e")])

    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("b", sa.Text))
    tables = sqltables.Tables(table, table, table, table)
    chunks = list(sql.read_chunks(Source(), tables, None, 2))
    assert [[r[0] for r in c] for c in chunks] == [[1, 2, 2, 2], [3]]


# ---- PostgreSQL --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg_server() -> str:
    binaries = postgres.bindir()
    if binaries is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true and PostgreSQL is not installed (.ci/run installs it)")
        pytest.skip("PostgreSQL is not installed")
    with postgres.server(binaries) as url:
        yield url


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh database on the session's server for each test."""
    return postgres.create_database(pg_server, f"t{time.monotonic_ns()}")


def load_pg(url: str, rows: list[tuple[object, object]], body: str = "text") -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE tickets (id integer, body {body})")
        conn.execute(sa.text("INSERT INTO tickets VALUES (:i, :b)"),
                     [{"i": i, "b": b} for i, b in rows])
    engine.dispose()


def test_postgres_bad_rows_are_quarantined_and_every_id_is_there_once(pg_url: str) -> None:
    rows = [*good_rows(40), (101, None), (102, ""), (103, "dup"), (103, "dup"),
            (None, "x"), (104, LONG), (105, DUMP)]
    load_pg(pg_url, rows)
    code, out = score(pg_url)
    assert code == 0, out
    status = assert_every_id_once(pg_url, [i for i, _ in rows])
    assert (status[101], status[102], status[103], status[104], status[105]) == (
        "missing_text", "empty_text", "duplicate_id", "ok", "too_large")
    assert "rows in 47 | rows out 41 | quarantined 6" in out
    kinds = dict(read(pg_url, "SELECT column_name, data_type FROM information_schema.columns "
                              "WHERE table_name = 'labels'"))
    assert kinds["urgency"] == "double precision" and kinds["needs_review"] == "boolean"


def test_postgres_bytea_text_is_decoded_or_flagged_undecodable(pg_url: str) -> None:
    load_pg(pg_url, [(1, b"my card is blocked"), (2, b"\xff\xfe")], body="bytea")
    assert score(pg_url)[0] == 0
    assert assert_every_id_once(pg_url, [1, 2]) == {1: "ok", 2: "undecodable"}


def test_postgres_second_run_on_the_same_output_table_refuses(pg_url: str) -> None:
    load_pg(pg_url, good_rows(5))
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as holder:
        holder.execute(sa.select(sa.func.pg_advisory_lock(
            sa.func.hashtext("interaction-classifier:labels"))))
        code, out = score(pg_url)
    engine.dispose()
    assert code == 2 and "another score run" in out


@pytest.mark.slow
def test_postgres_kill_9_then_resume_gives_every_id_exactly_once(pg_url: str) -> None:
    rows = [*good_rows(6_000), (7_000, None), (7_001, "dup"), (7_001, "dup")]
    load_pg(pg_url, rows)
    command = [sys.executable, "-c", "import typer; from interaction_classifier.cli.score "
               "import score_command; typer.run(score_command)", pg_url, "--table", "tickets",
               "--id-column", "id", "--text-column", "body", "--output-table", "labels",
               "--chunk-size", "250", "--quiet"]
    process = subprocess.Popen(command)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        written = _count_if_exists(pg_url)
        if written >= 1_000:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    written = _count_if_exists(pg_url)
    assert 0 < written < 6_000, "the kill must land mid-run"
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    status = assert_every_id_once(pg_url, [i for i, _ in rows])
    assert Counter(status.values()) == {"ok": 6_000, "missing_text": 1, "duplicate_id": 1}


def _count_if_exists(url: str) -> int:
    try:
        return read(url, "SELECT count(*) FROM labels")[0][0]
    except sa.exc.ProgrammingError:
        return 0


def test_rows_in_different_from_rows_out_plus_quarantined_exits_1(sqlite_db,
                                                                  monkeypatch) -> None:
    url, _ = sqlite_db
    real = sql.write_chunk
    monkeypatch.setattr(sql, "write_chunk",
                        lambda conn, tables, good, bad: real(conn, tables, good[1:], bad))
    code, out = score(url)
    assert code == 1 and "has 40 rows but" in out


def test_postgres_permission_denied_is_an_environment_error(pg_url: str) -> None:
    load_pg(pg_url, good_rows(3))
    read_only = pg_url.replace("postgresql://postgres@", "postgresql://visitor:pw-42@")
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql("DO $$ BEGIN CREATE ROLE visitor LOGIN; "
                             "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    engine.dispose()
    code, out = score(read_only)
    assert code == 3 and "permission denied" in out and "pw-42" not in out


def test_sqlite_second_run_on_the_same_output_table_refuses(sqlite_db) -> None:
    url, _ = sqlite_db
    database = Path(url.removeprefix("sqlite:///"))
    with filelock.FileLock(str(database) + ".labels.lock", timeout=0):
        code, out = score(url)
    assert code == 2 and "another score run" in out and "--output-table" in out
    assert score(url)[0] == 0  # the lock is gone with its holder


def test_sqlite_ids_without_a_declared_type_keep_their_values_and_resume(tmp_path) -> None:
    path = tmp_path / "u.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tickets (id, body TEXT)")
        conn.executemany("INSERT INTO tickets VALUES (?, ?)",
                         [(i, text) for i, text in good_rows(9)] + [("T-1", "hello"),
                                                                    ("T-2", "refund")])
    url = f"sqlite:///{path}"
    assert score(url)[0] == 0
    assert score(url, "--resume")[0] == 0
    assert set(assert_every_id_once(url, [*range(1, 10), "T-1", "T-2"]).values()) == {"ok"}
