"""Batch scoring under real processes: two runs on one output (the second refuses), and
``kill -9`` at random moments, resumed until done, giving the same bytes as a run that was
never interrupted (every id exactly once)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from interaction_classifier.batch.formats import sibling
from interaction_classifier.config import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples" / "messages.csv"
SCORE = [sys.executable, "-c", "from interaction_classifier.cli.main import app; app()", "score"]


def tickets(path: Path, rows: int) -> list[str]:
    """The example messages repeated with unique ids, a few of them empty; returns the ids."""
    base = pd.read_csv(EXAMPLES, dtype=str, keep_default_na=False)
    frame = pd.concat([base] * (rows // len(base) + 1), ignore_index=True).iloc[:rows]
    frame["ticket_id"] = [f"T-{i:06d}" for i in range(rows)]
    frame.loc[frame.index % 97 == 0, "text"] = ""
    frame.to_csv(path, index=False)
    return frame["ticket_id"].tolist()


def command(source: Path, output: Path, *extra: str) -> list[str]:
    return [*SCORE, str(source), "-o", str(output), "--chunk-size", "500", "--workers", "2",
            "--queue", str(output.with_name("queue.jsonl")), "--id-column", "ticket_id",
            "--quiet", *extra]


def outputs(output: Path) -> dict[str, bytes]:
    """Every file a run leaves, but the summary (it holds timings)."""
    files = [output, sibling(output, "quarantine"), output.with_name("queue.jsonl")]
    return {p.name: p.read_bytes() for p in files}


def test_a_second_run_on_the_same_output_refuses_and_the_first_finishes(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    ids = tickets(source, 40_000)
    output = tmp_path / "out.csv"
    first = subprocess.Popen(command(source, output), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (output.with_name("out.csv.parts") / "manifest.json").exists():
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
        time.sleep(0.05)
    second = subprocess.run(command(source, output), capture_output=True, text=True,
                            check=False, timeout=120)
    assert second.returncode == 2, second.stderr
    assert "another score run" in second.stderr and "out.csv.parts.lock" in second.stderr
    assert first.wait(timeout=300) == 0, first.stderr.read()
    scored = pd.read_csv(output, dtype=str, keep_default_na=False)
    assert scored["ticket_id"].tolist() == ids


def kill_at(cmd: list[str], seconds: float) -> int | None:
    """Run ``cmd``; SIGKILL it after ``seconds`` unless it ended first (its exit code)."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        time.sleep(0.3)  # the workers die with it (PR_SET_PDEATHSIG)
        return None


def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_bytes(
        tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    ids = tickets(source, 5000)
    reference = tmp_path / "reference" / "out.csv"
    reference.parent.mkdir()
    started = time.monotonic()
    subprocess.run(command(source, reference), check=True, timeout=600)
    uninterrupted = time.monotonic() - started
    expected = outputs(reference)
    rng = random.Random(19)
    kills = 0
    for attempt in range(4):
        output = tmp_path / f"run{attempt}" / "out.csv"
        output.parent.mkdir()
        code = kill_at(command(source, output), rng.uniform(0.2, 1.0) * uninterrupted)
        while code is None:  # resumed, and maybe killed again, until it finishes
            kills += 1
            code = kill_at(command(source, output, "--resume"),
                           rng.uniform(0.2, 1.5) * uninterrupted)
        assert code == 0
        assert outputs(output) == expected, f"attempt {attempt} differs from the reference"
        summary = json.loads(sibling(output, "summary", ".json").read_text())
        assert summary["rows_in"] == summary["rows_out"] == len(ids)
        assert not output.with_name("out.csv.parts").exists()
        assert not list(output.parent.glob(".*.tmp-*"))
    assert kills >= 4
    scored = pd.read_csv(reference, dtype=str, keep_default_na=False)
    assert scored["ticket_id"].tolist() == ids
