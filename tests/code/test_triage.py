"""The triage queue: urgency highest first, ties by time (oldest first), then input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from interaction_classifier.batch.run import ScoreOptions, run
from interaction_classifier.batch.triage import merge_sorted_runs, parse_times, queue_order
from interaction_classifier.config import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples" / "messages.csv"


def test_merge_of_sorted_runs_equals_a_full_sort() -> None:
    rng = np.random.default_rng(7)
    rows = np.arange(1000)
    urgency = rng.choice([0.1, 0.5, 0.9, np.nan], size=1000)
    times = rng.integers(0, 5, size=1000)
    frame = pd.DataFrame({"row": rows, "neg": np.where(np.isnan(urgency), np.inf, -urgency),
                          "time": times})
    expected = queue_order(frame["neg"].to_numpy(), times, rows)
    runs, sources = [], []
    for start in range(0, 1000, 128):
        part = frame.iloc[start:start + 128]
        local = part.iloc[queue_order(part["neg"].to_numpy(), part["time"].to_numpy(),
                                      part["row"].to_numpy())]
        runs.append([local.iloc[i:i + 10] for i in range(0, len(local), 10)])
        sources.append(local)
    keys = pd.concat([s.assign(run=i) for i, s in enumerate(sources)], ignore_index=True)
    order = queue_order(keys["neg"].to_numpy(), keys["time"].to_numpy(), keys["row"].to_numpy())
    merged = pd.concat(merge_sorted_runs(runs, keys["run"].to_numpy()[order], batch_rows=97))
    assert merged["row"].tolist() == expected.tolist()


def test_times_parse_iso_and_other_formats() -> None:
    parsed = parse_times(pd.Series(["2025-03-04T10:00:00Z", "2025-03-04 11:00:00+01:00",
                                    "4 March 2025 09:30", "not a time", None]))
    assert parsed.iloc[1] == parsed.iloc[0]
    assert parsed.iloc[2] < parsed.iloc[0]
    assert parsed.iloc[3:].isna().all()


def queue_file(tmp_path: Path, frame: pd.DataFrame, time_column: str | None) -> pd.DataFrame:
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    queue = tmp_path / "queue.csv"
    run(ScoreOptions(input=source, output=tmp_path / "out.csv", queue=queue, quiet=True,
                     time_column=time_column, chunk_size=13, workers=2))
    return pd.read_csv(queue, dtype=str, keep_default_na=False)


def tickets() -> pd.DataFrame:
    """The examples, each text three times with times out of order, plus a bad row."""
    base = pd.read_csv(EXAMPLES, dtype=str, keep_default_na=False)
    copies = []
    for k, hours in enumerate((5, 1, 3)):
        copy = base.copy()
        copy["ticket_id"] = copy["ticket_id"] + f"-{k}"
        copy["received_at"] = (pd.to_datetime(copy["received_at"])
                               + pd.Timedelta(hours=hours)).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        copies.append(copy)
    bad = pd.DataFrame([{"ticket_id": "bad", "received_at": "", "channel": "", "text": ""}])
    return pd.concat([bad, *copies], ignore_index=True)


def test_queue_is_sorted_by_urgency_then_oldest_first(tmp_path: Path) -> None:
    frame = tickets()
    queue = queue_file(tmp_path, frame, "received_at")
    assert sorted(queue["ticket_id"]) == sorted(frame["ticket_id"])
    assert queue["ticket_id"].iloc[-1] == "bad"  # unscored rows go last, never dropped
    scored = queue.iloc[:-1]
    urgency = scored["urgency"].astype(float).to_numpy()
    assert (np.diff(urgency) <= 0).all()
    times = pd.to_datetime(scored["received_at"])
    for _, group in scored.assign(t=times).groupby("urgency", sort=False):
        assert group["t"].is_monotonic_increasing
    same_text = scored[scored["text"] == frame["text"].iloc[1]]
    assert same_text["ticket_id"].str[-1].tolist() == ["1", "2", "0"]  # +1h, +3h, +5h


def test_queue_ties_without_time_column_keep_input_order(tmp_path: Path) -> None:
    frame = tickets()
    queue = queue_file(tmp_path, frame, None)
    position = {t: i for i, t in enumerate(frame["ticket_id"])}
    scored = queue.iloc[:-1]
    for _, group in scored.groupby("urgency", sort=False):
        assert group["ticket_id"].map(position).is_monotonic_increasing


def test_complaint_outranks_question_outranks_compliment(tmp_path: Path) -> None:
    frame = pd.DataFrame({"text": [
        "Thank you, lovely service as always.",
        "What time do you open on Saturday?",
        "I was charged twice and nobody answers my emails. This is unacceptable.",
    ]})
    queue = queue_file(tmp_path, frame, None)
    assert queue["text"].tolist() == frame["text"].iloc[::-1].tolist()
