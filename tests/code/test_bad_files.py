"""The bad-file corpus of issue #19: every hostile input or invocation through the ``score``
command, with its exit code, its message, and rows in / out / quarantined, and proof that
no id is silently lost (every input id is in the output, flagged rows in the quarantine too).

Exit codes: 0 done, 1 rows in != rows out, 2 usage or input error, 3 environment error.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from interaction_classifier.batch import chunkfiles, workers, writers
from interaction_classifier.batch.formats import sibling
from interaction_classifier.batch.outputs import Finaliser
from interaction_classifier.cli.score import score_command


def cli(*args: object) -> tuple[int, str]:
    app = typer.Typer()
    app.command()(score_command)
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def tickets(rows: int) -> list[dict[str, str]]:
    return [{"id": f"T-{i:04d}", "text": f"Where is my order number {i}? It has not arrived."}
            for i in range(rows)]


def write_csv(path: Path, rows: list[dict[str, str]], sep: str = ",") -> None:
    pd.DataFrame(rows).to_csv(path, index=False, sep=sep)


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, dtype=str, keep_default_na=False,
                       sep="\t" if path.suffix == ".tsv" else ",")


def summary_of(output: Path) -> dict:
    return json.loads(sibling(output, "summary", ".json").read_text())


def assert_nothing_lost(ids: list[str], output: Path) -> pd.DataFrame:
    """Every id once in the output; every flagged row in the quarantine; counts agree."""
    out = read_output(output)
    quarantine = read_output(sibling(output, "quarantine"))
    summary = summary_of(output)
    assert sorted(out["id"].astype(str)) == sorted(ids)
    assert summary["rows_in"] == summary["rows_out"] == len(ids)
    assert summary["rows_quarantined"] == len(quarantine) == int((out["status"] != "ok").sum())
    return quarantine


# ---- records that swallow records ---------------------------------------------------------

def test_an_unclosed_quote_that_runs_to_the_end_of_the_file_is_one_malformed_record(
        tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(20))
    lines = source.read_text().splitlines(keepends=True)
    lines[6] = lines[6].replace(",Where", ',"Where')  # row T-0005 opens a quote, never closed
    source.write_text("".join(lines))
    code, _ = cli(source, "-o", tmp_path / "out.csv", "--quiet")
    assert code == 0
    quarantine = assert_nothing_lost([r["id"] for r in tickets(20)], tmp_path / "out.csv")
    assert quarantine[["id", "status", "input_lines"]].to_dict("records") == [
        {"id": "T-0005", "status": "malformed_record", "input_lines": "7"}]
    assert quarantine["text"].iloc[0] == lines[6].rstrip("\n")
    assert summary_of(tmp_path / "out.csv")["input_lines"] == len(lines)


def test_an_unclosed_quote_closed_far_below_is_cut_at_max_record_lines(tmp_path: Path) -> None:
    rows = tickets(30)
    rows[3]["text"] = '"refund me now'  # opens a quote that the next quoted field closes
    rows[20]["text"] = '"quoted" word'
    source = tmp_path / "in.tsv"
    source.write_text("id\ttext\n" + "".join(f"{r['id']}\t{r['text']}\n" for r in rows))
    code, _ = cli(source, "-o", tmp_path / "out.tsv", "--quiet", "--max-record-lines", "5")
    assert code == 0
    quarantine = assert_nothing_lost([r["id"] for r in rows], tmp_path / "out.tsv")
    assert quarantine[["id", "status", "input_lines"]].to_dict("records") == [
        {"id": "T-0003", "status": "malformed_record", "input_lines": "5"}]
    scored = read_output(tmp_path / "out.tsv").set_index("id")
    assert scored.loc["T-0021", "text"] == rows[21]["text"]  # parsing resumed after the cut


def test_a_legitimate_multi_line_field_within_the_limit_is_kept_whole(tmp_path: Path) -> None:
    rows = tickets(5)
    rows[2]["text"] = "Hello,\n\nmy card was stolen.\nPlease block it."
    source = tmp_path / "in.csv"
    write_csv(source, rows)
    code, _ = cli(source, "-o", tmp_path / "out.csv", "--quiet")
    assert code == 0
    assert_nothing_lost([r["id"] for r in rows], tmp_path / "out.csv")
    out = read_output(tmp_path / "out.csv")
    assert out.loc[2, "text"] == rows[2]["text"] and (out["status"] == "ok").all()


# ---- text that cannot be written, columns the output would overwrite ------------------------

def test_a_json_lone_surrogate_is_quarantined_and_the_output_is_written(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "A", "text": "\\ud800 my card"}\n'
                      '{"id": "B", "text": "hello", "note": "\\udfff"}\n'
                      '{"id": "C", "text": "\\ud83d\\ude00 love it"}\n')
    code, _ = cli(source, "-o", tmp_path / "out.jsonl", "--quiet")
    assert code == 0
    quarantine = assert_nothing_lost(["A", "B", "C"], tmp_path / "out.jsonl")
    assert quarantine[["id", "status"]].to_dict("records") == [
        {"id": "A", "status": "undecodable"}]
    out = read_output(tmp_path / "out.jsonl").set_index("id")
    assert out.loc["B", "note"] == "\ufffd" and out.loc["C", "text"] == "\U0001f600 love it"


@pytest.mark.parametrize("column", ["input_row", "input_lines", "status", "p_sentiment__negative",
                                    "__ic_row"])
def test_every_added_column_is_reserved_and_the_prefix_avoids_the_clash(
        tmp_path: Path, column: str) -> None:
    rows = [{**r, column: "mine"} for r in tickets(8)]
    rows[1]["text"] = ""
    source = tmp_path / "in.csv"
    write_csv(source, rows)
    code, message = cli(source, "-o", tmp_path / "out.csv", "--quiet")
    assert code == 2 and f"['{column}']" in message and "--output-prefix" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    if column.startswith("__ic_"):
        return  # internal names stay reserved whatever the prefix
    code, _ = cli(source, "-o", tmp_path / "out.csv", "--quiet", "--output-prefix", "ic_")
    assert code == 0
    out = read_output(tmp_path / "out.csv")
    assert (out[column] == "mine").all() and list(out["ic_status"]) == ["ok", "empty_text"] + [
        "ok"] * 6
    quarantine = read_output(sibling(tmp_path / "out.csv", "quarantine"))
    assert quarantine[["ic_input_row", "ic_input_lines", column]].values.tolist() == [
        ["2", "3", "mine"]]


def test_a_clash_in_a_later_json_line_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = [json.dumps(r) for r in tickets(6)] + [json.dumps({"text": "x", "input_row": 1})]
    source.write_text("\n".join(lines) + "\n")
    code, message = cli(source, "-o", tmp_path / "out.csv", "--quiet", "--chunk-size", "3")
    assert code == 2 and "['input_row']" in message


# ---- paths ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "roles"), [
    (["-o", "{dir}/in.csv"], "-o and the input"),
    (["-o", "{dir}/out.csv", "--queue", "{dir}/out.csv"], "--queue and -o"),
    (["-o", "{dir}/out.csv", "--queue", "{dir}/out.quarantine.csv"],
     "--queue and the quarantine"),
    (["-o", "{dir}/out.csv", "--queue", "{dir}/in.csv"], "--queue and the input"),
    (["-o", "{dir}/./in.csv"], "-o and the input"),
])
def test_outputs_must_be_distinct_files(tmp_path: Path, args: list[str], roles: str) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(3))
    before = source.read_bytes()
    code, message = cli(source, *[a.format(dir=tmp_path) for a in args], "--quiet")
    assert code == 2 and roles in message and "same file" in message
    assert source.read_bytes() == before


@pytest.mark.parametrize("link", [os.link, os.symlink])
def test_an_output_that_is_a_link_to_the_input_is_refused(tmp_path: Path, link) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(3))
    before = source.read_bytes()
    link(source, tmp_path / "alias.csv")
    code, message = cli(source, "-o", tmp_path / "alias.csv", "--quiet")
    assert code == 2 and "-o and the input are the same file" in message
    assert source.read_bytes() == before


def test_a_collision_is_refused_before_the_report_is_written(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(3))
    report = tmp_path / "r.html"
    code, message = cli(source, "-o", tmp_path / "o.csv", "--report", report, "--queue",
                        tmp_path / "o.csv")
    assert code == 2 and "same file" in message and not report.exists()


# ---- damaged and empty inputs -----------------------------------------------------------------

def test_a_truncated_gzip_is_a_clear_error_not_aborted(tmp_path: Path) -> None:
    source = tmp_path / "in.csv.gz"
    data = gzip.compress(pd.DataFrame(tickets(3000)).to_csv(index=False).encode())
    source.write_bytes(data[: len(data) // 2])
    code, message = cli(source, "-o", tmp_path / "out.csv", "--quiet")
    assert code == 2 and "truncated or corrupt" in message and "Aborted" not in message
    assert not (tmp_path / "out.csv").exists()


def test_a_file_that_is_not_parquet_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    source.write_bytes(b"id,text\n1,hello\n")
    code, message = cli(source, "-o", tmp_path / "out.csv", "--quiet")
    assert code == 2 and "not a readable parquet file" in message


@pytest.mark.parametrize("target", ["out.csv", "out.tsv", "out.parquet"])
def test_a_header_only_input_gives_a_header_only_output(tmp_path: Path, target: str) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,text,channel\n")
    code, _ = cli(source, "-o", tmp_path / target, "--quiet")
    assert code == 0
    output = tmp_path / target
    if target.endswith("parquet"):
        columns = pq.read_schema(output).names
        assert pq.read_table(output).num_rows == 0
    else:
        header, *rest = output.read_text().splitlines()
        columns = header.replace('"', "").split("\t" if target.endswith("tsv") else ",")
        assert rest == []
    assert columns[:3] == ["id", "text", "channel"]
    assert {"interaction_type", "urgency", "status", "model_version"} <= set(columns)
    assert summary_of(output)["rows_in"] == summary_of(output)["rows_out"] == 0


def test_an_empty_parquet_keeps_its_schema(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    pd.DataFrame({"id": pd.Series([], dtype="int64"), "text": pd.Series([], dtype=str)}) \
        .to_parquet(source)
    code, _ = cli(source, "-o", tmp_path / "out.parquet", "--quiet")
    assert code == 0
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert str(schema.field("id").type) == "int64" and "status" in schema.names


# ---- exit 1 and exit 3 ----------------------------------------------------------------------

def test_rows_in_different_from_rows_out_exits_1(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(10))
    real = Finaliser.input_order

    def losing(self: Finaliser):
        for frame in real(self):
            yield frame.iloc[1:]

    monkeypatch.setattr(Finaliser, "input_order", losing)
    code, message = cli(source, "-o", tmp_path / "out.csv", "--quiet")
    assert code == 1 and "wrote 9 rows for 10 input rows" in message


def fail_with(code: int):
    def failing(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code), "/data/out.csv")
    return failing


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failing_disk_exits_3_in_one_line_and_resume_finishes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(40))
    out = tmp_path / "out.csv"
    real = chunkfiles.write_chunk_file
    written: list[Path] = []

    def third_chunk_fails(path: Path, *args: object) -> None:
        if len(written) == 2:
            fail_with(code)()
        written.append(path)
        real(path, *args)

    with monkeypatch.context() as patch:
        patch.setattr("interaction_classifier.batch.workers.write_chunk_file", third_chunk_fails)
        exit_code, message = cli(source, "-o", out, "--quiet", "--chunk-size", "10")
    assert exit_code == 3
    lines = [line for line in message.splitlines() if line.strip()]
    assert len(lines) == 1 and os.strerror(code) in lines[0]
    assert "--resume" in lines[0] and not out.exists()
    assert len(list((tmp_path / "out.csv.parts").glob("chunk-*.arrow"))) == 2
    with monkeypatch.context() as patch:  # the final write fails too: chunks stay
        patch.setattr(writers.FrameWriter, "write", fail_with(code))
        assert cli(source, "-o", out, "--quiet", "--chunk-size", "10", "--resume")[0] == 3
    assert not list(tmp_path.glob(".out*.tmp-*")) and not out.exists()
    assert cli(source, "-o", out, "--quiet", "--chunk-size", "10", "--resume")[0] == 0
    assert summary_of(out)["throughput"]["rows_scored_this_run"] == 0  # scored before
    assert_nothing_lost([r["id"] for r in tickets(40)], out)


def test_resume_removes_temporary_files_a_killed_write_left(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(20))
    with monkeypatch.context() as patch:
        patch.setattr(Finaliser, "load", fail_with(errno.ENOSPC))
        assert cli(source, "-o", tmp_path / "out.csv", "--quiet", "--chunk-size", "10")[0] == 3
    leftovers = [tmp_path / ".out.csv.tmp-4242", tmp_path / ".out.quarantine.csv.tmp-4242",
                 tmp_path / "out.csv.parts" / ".chunk-0000002.arrow.tmp-4242"]
    for path in leftovers:
        path.write_bytes(b"x" * 1000)
    assert cli(source, "-o", tmp_path / "out.csv", "--quiet", "--chunk-size", "10",
               "--resume")[0] == 0
    assert not any(p.exists() for p in leftovers)


# ---- one run at a time, and chunks that are not this run's ----------------------------------

def test_a_second_run_on_the_same_output_refuses_while_the_first_holds_the_lock(
        tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(5))
    lock = tmp_path / "out.csv.parts.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, sys, time; lock = filelock.FileLock("
         "sys.argv[1]); lock.acquire(); print('held', flush=True); time.sleep(120)", str(lock)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        code, message = cli(source, "-o", tmp_path / "out.csv", "--quiet")
        assert code == 2 and "another score run" in message and str(lock) in message
        assert not (tmp_path / "out.csv").exists()
    finally:
        holder.kill()
        holder.wait()
    assert cli(source, "-o", tmp_path / "out.csv", "--quiet")[0] == 0


def interrupted_run(source: Path, output: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Commit every chunk, then die before the outputs are written; returns the work dir."""
    with monkeypatch.context() as patch:
        patch.setattr(Finaliser, "load", fail_with(errno.ENOSPC))
        assert cli(source, "-o", output, "--quiet", "--chunk-size", "10")[0] == 3
    return output.with_name(output.name + ".parts")


def test_resume_refuses_a_chunk_of_another_input(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    mine, other = tmp_path / "mine.csv", tmp_path / "other.csv"
    write_csv(mine, tickets(30))
    write_csv(other, [{**r, "id": "X" + r["id"]} for r in tickets(30)])
    work = interrupted_run(mine, tmp_path / "mine.out.csv", monkeypatch)
    foreign = interrupted_run(other, tmp_path / "other.out.csv", monkeypatch)
    (foreign / "chunk-0000001.arrow").replace(work / "chunk-0000001.arrow")
    code, message = cli(mine, "-o", tmp_path / "mine.out.csv", "--quiet", "--chunk-size", "10",
                        "--resume")
    assert code == 2 and "chunk-0000001.arrow was written for another input" in message
    assert str(other.resolve()) in message and not (tmp_path / "mine.out.csv").exists()


def test_resume_refuses_a_chunk_written_with_other_options(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(30))
    work = interrupted_run(source, tmp_path / "a.csv", monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(Finaliser, "load", fail_with(errno.ENOSPC))
        assert cli(source, "-o", tmp_path / "b.csv", "--quiet", "--chunk-size", "10",
                   "--output-prefix", "x_")[0] == 3
    (tmp_path / "b.csv.parts" / "chunk-0000000.arrow").replace(work / "chunk-0000000.arrow")
    code, message = cli(source, "-o", tmp_path / "a.csv", "--quiet", "--chunk-size", "10",
                        "--resume")
    assert code == 2 and "written with other options" in message


class Bomb:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(30))
    output = tmp_path / "out.csv"
    work = interrupted_run(source, output, monkeypatch)
    assert (work / "chunk-0000001.arrow").read_bytes()[:6] == b"ARROW1"  # Arrow IPC, no pickle
    marker = tmp_path / "marker"
    bomb = pickle.dumps(Bomb(marker))
    (work / "chunk-0000003.pkl").write_bytes(bomb)  # the old chunk name: never opened
    (work / "chunk-0000001.arrow").write_bytes(bomb)
    code, message = cli(source, "-o", output, "--quiet", "--chunk-size", "10", "--resume")
    assert code == 2 and "chunk-0000001.arrow is not a chunk file" in message
    assert not marker.exists()
    assert cli(source, "-o", output, "--quiet", "--chunk-size", "10")[0] == 0
    assert not marker.exists()
    assert_nothing_lost([r["id"] for r in tickets(30)], output)


def test_an_input_that_changes_during_the_run_is_refused(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(30))
    real = workers.process_chunk

    def appending(index: int, *args: object) -> dict:
        if index == 1:
            with source.open("a") as fh:
                fh.write("T-9999,a row written by another program\n")
        return real(index, *args)

    monkeypatch.setattr(workers, "process_chunk", appending)
    code, message = cli(source, "-o", tmp_path / "out.csv", "--quiet", "--chunk-size", "10")
    assert code == 2 and "changed while it was being scored" in message
    assert not (tmp_path / "out.csv").exists()


def test_max_record_lines_below_one_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_csv(source, tickets(3))
    code, message = cli(source, "-o", tmp_path / "out.csv", "--max-record-lines", "0")
    assert code == 2 and "--max-record-lines must be at least 1" in message
