"""Batch scoring with the real shipped model on real files of every format.

Fixtures are written into ``tmp_path``: the example messages repeated with unique ids,
in CSV, TSV, JSONL and Parquet (plain and gzip), and files salted with bad rows.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from interaction_classifier import load_model
from interaction_classifier.batch.chunks import READ_STATUS, score_chunk
from interaction_classifier.batch.formats import BatchError, detect_format, sibling
from interaction_classifier.batch.outputs import Finaliser
from interaction_classifier.batch.readers import ChunkReader
from interaction_classifier.batch.run import ScoreOptions, run
from interaction_classifier.batch.workers import Progress
from interaction_classifier.cli.score import score_command
from interaction_classifier.config import PROJECT_ROOT
from tests.helpers.tiny_model import build_tiny_model, generate

EXAMPLES = PROJECT_ROOT / "examples" / "messages.csv"
ONE_MB = "a" * (1 << 20)  # over text.validate.MAX_TEXT_CHARS: read whole, flagged too_large


@pytest.fixture(scope="module")
def model():
    return load_model()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model without urgency (two heads with awkward label names), as a directory."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def messages(rows: int) -> pd.DataFrame:
    """The example messages repeated to ``rows`` rows, with unique ids and awkward values."""
    base = pd.read_csv(EXAMPLES, dtype=str, keep_default_na=False)
    frame = pd.concat([base] * (rows // len(base) + 1), ignore_index=True).iloc[:rows]
    frame["ticket_id"] = [f"T-{i:06d}" for i in range(rows)]
    frame["code"] = [f"{i % 50:03d}" for i in range(rows)]  # leading zeros must survive
    frame["note"] = ['say "hi", then\nnew line, ünïcødé' if i % 7 == 0 else "" for i in
                     range(rows)]
    return frame.reset_index(drop=True)


def write_text(frame: pd.DataFrame, path: Path) -> None:
    """CSV/TSV/JSONL (optionally .gz) with the standard library writers pandas uses."""
    fmt = detect_format(path)
    if fmt.kind == "jsonl":
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n"
                       for r in frame.to_dict("records"))
    else:
        body = frame.to_csv(index=False, sep="\t" if fmt.kind == "tsv" else ",")
    data = body.encode("utf-8")
    path.write_bytes(gzip.compress(data) if fmt.gzip else data)


def write_any(frame: pd.DataFrame, path: Path) -> None:
    if detect_format(path).kind == "parquet":
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    else:
        write_text(frame, path)


def read_any(path: Path) -> pd.DataFrame:
    """Read an output back with every CSV value as the exact string written."""
    fmt = detect_format(path)
    if fmt.kind == "parquet":
        return pq.read_table(path).to_pandas()
    if fmt.kind == "jsonl":
        return pd.read_json(path, lines=True, dtype=False, compression="infer")
    return pd.read_csv(path, sep="\t" if fmt.kind == "tsv" else ",", dtype=str,
                       keep_default_na=False, compression="infer")


def score(tmp_path: Path, source: Path, output_name: str, **kwargs) -> tuple[dict, Path]:
    output = tmp_path / output_name
    summary = run(ScoreOptions(input=source, output=output, quiet=True, **kwargs))
    return summary, output


FORMATS = ["csv", "tsv", "jsonl", "parquet", "csv.gz", "tsv.gz", "jsonl.gz"]


@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip_keeps_every_input_column(tmp_path: Path, suffix: str) -> None:
    frame = messages(150)
    source = tmp_path / f"in.{suffix}"
    write_any(frame, source)
    summary, output = score(tmp_path, source, f"out.{suffix}", chunk_size=40,
                            id_column="ticket_id", time_column="received_at")
    out = read_any(output)
    assert summary["rows_in"] == summary["rows_out"] == len(out) == 150
    assert list(out.columns[: len(frame.columns)]) == list(frame.columns)
    for column in frame.columns:
        assert out[column].fillna("").astype(str).tolist() == frame[column].tolist(), column
    assert list(out.columns[-2:]) == ["status", "model_version"]
    assert {"interaction_type", "journey_stage", "sentiment", "urgency", "priority"} <= set(
        out.columns)
    assert (out["status"] == "ok").all()


@pytest.mark.parametrize("target", ["csv", "jsonl", "parquet", "tsv.gz"])
def test_output_format_follows_output_suffix(tmp_path: Path, target: str) -> None:
    source = tmp_path / "in.parquet"
    write_any(messages(60), source)
    _, output = score(tmp_path, source, f"out.{target}")
    assert read_any(output)["ticket_id"].tolist() == messages(60)["ticket_id"].tolist()


def test_parquet_types_survive(tmp_path: Path) -> None:
    table = pa.table({
        "id": pa.array(range(50), pa.int64()),
        "amount": pa.array([None if i % 5 == 0 else i / 3 for i in range(50)], pa.float64()),
        "vip": pa.array([i % 2 == 0 for i in range(50)]),
        "at": pa.array(list(pd.date_range("2025-01-01", periods=50, freq="h", tz="UTC")),
                       pa.timestamp("ns", tz="UTC")),
        "text": pa.array([f"my order {i} has not arrived" for i in range(50)]),
    })
    source = tmp_path / "typed.parquet"
    pq.write_table(table, source)
    _, output = score(tmp_path, source, "typed.scored.parquet", chunk_size=16)
    out = pq.read_table(output)
    assert out.select(table.column_names).equals(table)


def test_order_is_input_order_with_several_workers(tmp_path: Path) -> None:
    frame = messages(900)
    source = tmp_path / "in.csv"
    write_any(frame, source)
    _, output = score(tmp_path, source, "out.csv", workers=2, chunk_size=37)
    assert read_any(output)["ticket_id"].tolist() == frame["ticket_id"].tolist()


def salted_csv(path: Path) -> dict[str, str]:
    """A CSV with bad rows; returns ticket id -> expected status."""
    lines = [b"ticket_id,text", b"ok-1,My parcel never arrived and I want a refund",
             b"empty-1,", b'blank-1,"   "', b"bytes-1,caf\xe9 au lait is cold \xff\xfe",
             b"long-1," + ONE_MB.encode(), b"ok-2,Thanks for the quick help!",
             b'extra-1,"too",many,fields', b"short-1"]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return {"ok-1": "ok", "empty-1": "empty_text", "blank-1": "empty_text",
            "bytes-1": "undecodable", "long-1": "too_large", "ok-2": "ok",
            "extra-1": "malformed_row", "short-1": "missing_text"}


def salted_jsonl(path: Path) -> dict[int, str]:
    """A JSONL file with nulls, numbers, objects, broken lines; returns line -> status."""
    lines = [
        (json.dumps({"n": 1, "text": "How do I reset my password?"}).encode(), "ok"),
        (json.dumps({"n": 2, "text": None}).encode(), "missing_text"),
        (json.dumps({"n": 3, "text": 42}).encode(), "non_text"),
        (json.dumps({"n": 4, "text": ["a", "list"]}).encode(), "non_text"),
        (json.dumps({"n": 5}).encode(), "missing_text"),
        (b'{"n": 6, "text": "unterminated', "malformed_json"),
        (b"not json at all", "malformed_json"),
        (b"[1, 2, 3]", "malformed_json"),
        (b'{"n": 9, "text": "bad byte \xff here"}', "undecodable"),
        (json.dumps({"n": 10, "text": ONE_MB}).encode(), "too_large"),
        (json.dumps({"n": 11, "text": ""}).encode(), "empty_text"),
        (json.dumps({"n": 12, "text": "Love the new app!"}).encode(), "ok"),
        (b'{"n": 13, "text": "\\ud800"}', "undecodable"),  # a lone surrogate
    ]
    path.write_bytes(b"\n".join(line for line, _ in lines) + b"\n")
    return {i: status for i, (_, status) in enumerate(lines, start=1)}


def test_salted_csv_never_stops_and_quarantines_with_reasons(tmp_path: Path) -> None:
    source = tmp_path / "salted.csv"
    expected = salted_csv(source)
    summary, output = score(tmp_path, source, "salted.out.csv", chunk_size=3, workers=2)
    out = read_any(output)
    assert summary["rows_in"] == summary["rows_out"] == len(out) == len(expected)
    assert dict(zip(out["ticket_id"], out["status"], strict=True)) == expected
    quarantine = read_any(sibling(output, "quarantine"))
    bad = {k: v for k, v in expected.items() if v != "ok"}
    assert dict(zip(quarantine["ticket_id"], quarantine["status"], strict=True)) == bad
    assert summary["flagged"] == len(bad) and summary["scored"] == 2
    assert out.loc[out["status"] != "ok", "interaction_type"].eq("").all()
    assert len(out.loc[out["ticket_id"] == "long-1", "text"].item()) == len(ONE_MB)


def test_salted_jsonl_keeps_broken_lines(tmp_path: Path) -> None:
    source = tmp_path / "salted.jsonl"
    expected = salted_jsonl(source)
    summary, output = score(tmp_path, source, "salted.out.jsonl", chunk_size=5)
    out = [json.loads(line) for line in output.read_text().splitlines()]
    assert summary["rows_in"] == summary["rows_out"] == len(out) == len(expected)
    assert [row["status"] for row in out] == list(expected.values())
    assert out[2]["text"] == 42 and out[3]["text"] == ["a", "list"]
    assert out[6]["text"] == "not json at all"
    quarantine = read_any(sibling(output, "quarantine"))
    bad = [line for line, status in expected.items() if status != "ok"]
    assert quarantine["input_row"].tolist() == bad
    assert quarantine["status"].tolist() == [expected[i] for i in bad]
    assert summary["flagged_by_reason"]["malformed_json"] == 3


def test_salted_jsonl_to_parquet_keeps_mixed_columns(tmp_path: Path) -> None:
    source = tmp_path / "salted.jsonl"
    expected = salted_jsonl(source)
    summary, output = score(tmp_path, source, "salted.out.parquet", chunk_size=4)
    out = pq.read_table(output).to_pandas()
    assert len(out) == summary["rows_out"] == len(expected)
    assert out["text"].iloc[2] == "42"  # mixed types are stored as JSON text


def test_parquet_nulls_are_flagged(tmp_path: Path) -> None:
    source = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["Where is my order?", None, "", ONE_MB]}), source)
    _, output = score(tmp_path, source, "nulls.out.parquet")
    statuses = pq.read_table(output).column("status").to_pylist()
    assert statuses == ["ok", "missing_text", "empty_text", "too_large"]


def test_score_chunk_is_pure_and_keeps_index(model) -> None:
    frame = pd.DataFrame({"text": ["Please cancel my order", None, 3.5, b"ok bytes", "  "],
                          "other": list("abcde")}, index=[10, 10, 11, 12, 13])
    before = frame.copy()
    out = score_chunk(model, frame, "text")
    pd.testing.assert_frame_equal(frame, before)
    assert list(out.index) == list(frame.index)
    assert out["status"].tolist() == ["ok", "missing_text", "non_text", "ok", "empty_text"]
    assert out["model_version"].eq(model.version).all()
    assert out["interaction_type"].notna().tolist() == [True, False, False, True, False]


def test_score_chunk_honours_reader_status(model) -> None:
    frame = pd.DataFrame({"text": ["fine text", "{broken"],
                          READ_STATUS: [None, "malformed_json"]})
    out = score_chunk(model, frame, "text")
    assert out["status"].tolist() == ["ok", "malformed_json"]
    assert READ_STATUS not in out.columns


def test_all_bad_chunk_still_has_prediction_columns(model) -> None:
    out = score_chunk(model, pd.DataFrame({"text": [None, ""]}), "text")
    assert {"interaction_type", "urgency", "priority"} <= set(out.columns)
    assert out["urgency"].isna().all()


def kill_after_chunks(cmd: list[str], work: Path, chunks: int) -> None:
    """Start the scorer, SIGKILL it once ``chunks`` chunk files are committed."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if work.is_dir() and len(list(work.glob("chunk-*.arrow"))) >= chunks:
            break
        time.sleep(0.05)
    assert process.poll() is None, f"scorer ended before it could be killed: {process.stderr}"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    time.sleep(1)
    assert not processes_mentioning(str(work).removesuffix(".parts")), \
        "workers must die with the killed scorer"


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (workers inherit the scorer's)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_sigkill_then_resume_gives_every_row_exactly_once(tmp_path: Path) -> None:
    frame = messages(30_000)
    source = tmp_path / "big.csv"
    write_any(frame, source)
    output = tmp_path / "big.scored.jsonl"
    cmd = [sys.executable, "-c",
           "import typer; from interaction_classifier.cli.score import score_command; "
           "typer.run(score_command)",
           str(source), "-o", str(output), "--chunk-size", "1000", "--workers", "2",
           "--queue", str(tmp_path / "queue.csv"), "--quiet"]
    kill_after_chunks(cmd, tmp_path / "big.scored.jsonl.parts", chunks=4)
    assert not output.exists(), "output must only appear once complete"
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    ids = [json.loads(line)["ticket_id"] for line in output.read_text().splitlines()]
    assert ids == frame["ticket_id"].tolist()
    summary = json.loads(sibling(output, "summary", ".json").read_text())
    assert summary["rows_in"] == summary["rows_out"] == len(frame)
    assert 0 < summary["throughput"]["rows_scored_this_run"] < len(frame)
    queued = read_any(tmp_path / "queue.csv")["ticket_id"]
    assert sorted(queued) == sorted(ids)
    assert not (tmp_path / "big.scored.jsonl.parts").exists()


def test_rerun_without_resume_starts_over(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_any(messages(30), source)
    work = tmp_path / "out.csv.parts"
    work.mkdir()
    (work / "chunk-0000000.pkl").write_bytes(b"left over from a crash")
    summary, _ = score(tmp_path, source, "out.csv")
    assert summary["rows_out"] == 30 and not work.exists()


def test_resume_refuses_a_changed_input(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_any(messages(30), source)
    work = tmp_path / "out.csv.parts"
    work.mkdir()
    (work / "manifest.json").write_text(json.dumps({"size": 1}))
    with pytest.raises(BatchError, match="cannot resume"):
        score(tmp_path, source, "out.csv", resume=True)


def test_missing_text_column_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_any(messages(5), source)
    with pytest.raises(BatchError, match="no text column 'body'"):
        score(tmp_path, source, "out.csv", text_column="body")


def test_unknown_format_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BatchError, match="unknown format"):
        detect_format(tmp_path / "in.xlsx")


def test_cli_prints_summary_and_writes_json(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(score_command)
    output = tmp_path / "scored.csv"
    result = CliRunner().invoke(app, [str(EXAMPLES), "-o", str(output), "--id-column",
                                      "ticket_id", "--time-column", "received_at"])
    assert result.exit_code == 0, result.output
    assert "rows in = rows out: yes" in result.output
    summary = json.loads((tmp_path / "scored.summary.json").read_text())
    assert summary["rows_in"] == summary["rows_out"] == summary["scored"] == 72
    assert set(summary["labels"]) == {"interaction_type", "journey_stage", "sentiment",
                                      "priority"}
    assert summary["throughput"]["rows_per_second"] > 0


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(score_command)
    result = CliRunner().invoke(app, [str(EXAMPLES), "-o", str(tmp_path / "s.csv"), "--quiet"])
    assert result.exit_code == 0 and result.output == ""


def test_progress_lines_when_not_a_terminal(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    write_any(messages(10), source)
    reader = ChunkReader(source, 5, "text")
    progress = Progress(quiet=False, reader=reader, interval=0)
    for frame in reader:
        progress.update(len(frame), len(frame))
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and "rows/s" in lines[-1]


# ----------------------------------------------------------------------------- any model


def tiny_tickets(rows: int) -> pd.DataFrame:
    """Generated messages for the tiny model, with ids and two bad rows."""
    frame = pd.DataFrame(generate(rows, seed=5))[["text"]]
    frame.insert(0, "ticket_id", [f"T-{i:04d}" for i in range(rows)])
    frame.loc[3, "text"] = ""
    frame.loc[rows - 2, "text"] = "   "
    return frame


def cli(*args: str) -> object:
    app = typer.Typer()
    app.command()(score_command)
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_model_without_urgency_scores_with_queue_and_report(tmp_path: Path, tiny: Path,
                                                            suffix: str) -> None:
    frame = tiny_tickets(80)
    source = tmp_path / f"in.{suffix}"
    write_any(frame, source)
    output, queue = tmp_path / f"out.{suffix}", tmp_path / f"queue.{suffix}"
    result = cli(source, "-o", output, "--model", tiny, "--queue", queue, "--report",
                 tmp_path / "report.html", "--id-column", "ticket_id", "--chunk-size", "30")
    assert result.exit_code == 0, result.output
    summary = json.loads(sibling(output, "summary", ".json").read_text())
    out, queued = read_any(output), read_any(queue)
    assert summary["rows_in"] == summary["rows_out"] == len(out) == len(queued) == 80
    assert out["ticket_id"].tolist() == frame["ticket_id"].tolist()
    assert sorted(queued["ticket_id"]) == sorted(frame["ticket_id"])
    assert {"topic", "intent", "needs_review"} <= set(out.columns)
    assert not {"urgency", "priority", "sentiment_score"} & set(out.columns)
    assert set(summary["labels"]) == {"topic", "intent"} and summary["queue_by"] == "review"
    assert summary["flagged"] == 2 and queued["status"].iloc[-2:].tolist() == ["empty_text"] * 2
    review = queued["needs_review"].iloc[:-2].astype(str).str.lower().eq("true")
    assert review.is_monotonic_decreasing  # flagged for review first
    assert (tmp_path / "report.html").stat().st_size > 0
    assert not list(tmp_path.glob("*.parts"))


def test_overrides_change_review_and_priority_counts(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    write_any(messages(72), source)
    base, _ = score(tmp_path, source, "base.csv")
    strict, output = score(tmp_path, source, "strict.csv",
                           review={"interaction_type": 1.0}, priority={"critical": 0.0})
    assert strict["needs_review"] == strict["scored"] > base["needs_review"]
    assert strict["priority_tiers"] == {"critical": strict["scored"]}
    assert base["priority_tiers"].get("critical", 0) < strict["scored"]
    assert strict["thresholds"]["review"]["interaction_type"] == 1.0
    assert read_any(output)["priority"].eq("critical").all()


def test_review_override_for_a_model_without_urgency(tmp_path: Path, tiny: Path) -> None:
    source = tmp_path / "in.csv"
    write_any(tiny_tickets(40), source)
    result = cli(source, "-o", tmp_path / "out.csv", "--model", tiny,
                 "--review-threshold", "topic=1", "--review-threshold", "intent=0")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["needs_review"] == summary["scored"] == 38
    assert summary["thresholds"] == {"review": {"topic": 1.0, "intent": 0.0}, "priority": {}}


@pytest.mark.parametrize(("args", "message"), [
    (["--queue-by", "urgency"], "this model has no urgency"),
    (["--queue-by", "colour=red"], "unknown head 'colour'"),
    (["--queue-by", "topic=Billing"], "unknown label 'Billing' of topic"),
    (["--review-threshold", "topic"], "expected NAME=NUMBER"),
    (["--review-threshold", "colour=0.5"], "unknown head 'colour'"),
    (["--review-threshold", "topic=1.5"], "must be between 0 and 1"),
    (["--priority-cutoff", "high=0.5"], "no urgency score, so no priority tiers"),
])
def test_bad_queue_rule_or_override_exits_2_before_scoring(tmp_path: Path, tiny: Path,
                                                           args: list[str],
                                                           message: str) -> None:
    source = tmp_path / "in.csv"
    write_any(tiny_tickets(10), source)
    result = cli(source, "-o", tmp_path / "out.csv", "--model", tiny, *args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_unknown_priority_tier_of_the_default_model_exits_2(tmp_path: Path) -> None:
    result = cli(EXAMPLES, "-o", tmp_path / "out.csv", "--priority-cutoff", "urgent=0.5")
    assert result.exit_code == 2 and "unknown tier 'urgent'" in result.output
    assert "critical" in result.output


def test_resume_refuses_changed_overrides(tmp_path: Path, tiny: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.csv"
    write_any(tiny_tickets(40), source)
    options = {"input": source, "output": tmp_path / "out.csv", "model": tiny, "quiet": True,
               "chunk_size": 10, "review": {"topic": 0.9}}

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # every chunk committed, then the run dies
        patch.setattr(Finaliser, "load", interrupted)
        with pytest.raises(KeyboardInterrupt):
            run(ScoreOptions(**options))
    assert len(list((tmp_path / "out.csv.parts").glob("chunk-*.arrow"))) == 4
    with pytest.raises(BatchError, match="cannot resume: review_thresholds changed"):
        run(ScoreOptions(**{**options, "review": {"topic": 0.5}, "resume": True}))
    with pytest.raises(BatchError, match="cannot resume: queue_by changed"):
        run(ScoreOptions(**options, queue_by="intent=card_arrived", resume=True))
    summary = run(ScoreOptions(**options, resume=True))
    assert summary["rows_out"] == 40 and summary["throughput"]["rows_scored_this_run"] == 0
    assert not (tmp_path / "out.csv.parts").exists()


@pytest.mark.parametrize(("suffix", "column"), [("csv", "sentiment"), ("parquet", "status"),
                                                ("jsonl", "model_version")])
def test_input_column_the_output_would_overwrite_exits_2_before_any_work(
        tmp_path: Path, suffix: str, column: str) -> None:
    frame = messages(30)
    frame[column] = "the user's own value"
    source = tmp_path / f"in.{suffix}"
    write_any(frame, source)
    result = cli(source, "-o", tmp_path / "out.csv", "--quiet")
    assert result.exit_code == 2
    assert f"['{column}']" in result.output and "would be overwritten" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_a_label_column_named_like_a_head_of_a_retrained_model_is_refused(
        tmp_path: Path, tiny: Path) -> None:
    frame = tiny_tickets(20)
    head = next(iter(load_model(tiny).describe()["heads"]))
    frame[head] = "gold label"
    write_any(frame, tmp_path / "in.csv")
    with pytest.raises(BatchError, match=f"\\['{head}'\\]"):
        score(tmp_path, tmp_path / "in.csv", "out.csv", model=tiny)


@pytest.mark.parametrize("flag", ["--id-column", "--time-column"])
def test_a_misspelt_id_or_time_column_exits_2_before_any_work(tmp_path: Path, flag: str) -> None:
    source = tmp_path / "in.csv"
    write_any(messages(30), source)
    result = cli(source, "-o", tmp_path / "out.csv", flag, "tiket_id", "--quiet")
    assert result.exit_code == 2
    assert f"{flag} 'tiket_id' is not a column" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_a_json_lines_key_missing_everywhere_is_still_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_any(messages(30), source)
    with pytest.raises(BatchError, match="--id-column 'tiket_id' is not a column"):
        score(tmp_path, source, "out.csv", id_column="tiket_id")


RSS_AFTER_FREE = """
import sys
import numpy as np
from interaction_classifier.batch.workers import keep_freed_memory
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
before = rss()
block = np.ones(24 * 2**20 // 8)  # a chunk's feature array: ~24 MB
del block
print(kept, (rss() - before) // 2**20)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc on Linux")
def test_workers_keep_freed_chunk_memory_instead_of_unmapping_it() -> None:
    """A worker asks glibc to keep a freed chunk's arrays (each chunk would otherwise fault
    its pages in again); a fresh process without the call gives the memory back."""
    def run_script(mode: str) -> tuple[str, int]:
        out = subprocess.run([sys.executable, "-c", RSS_AFTER_FREE, mode], check=True,
                             capture_output=True, text=True, cwd=PROJECT_ROOT,
                             env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")})
        kept, megabytes = out.stdout.split()
        return kept, int(megabytes)

    kept, still_held = run_script("keep")
    assert kept == "True" and still_held >= 23
    assert run_script("default") == ("None", 0)
