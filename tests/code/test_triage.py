"""The triage queue: rows ranked by a rule (urgency, review, or a label's probability), ties by
time (oldest first), then input order; for the default model and for a model without urgency."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from interaction_classifier import load_model
from interaction_classifier.batch.run import ScoreOptions, run
from interaction_classifier.batch.triage import (
    merge_sorted_runs,
    parse_rule,
    parse_times,
    queue_order,
)
from interaction_classifier.config import PROJECT_ROOT
from tests.helpers.tiny_model import build_tiny_model, generate

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


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model without urgency (heads ``topic`` and ``intent``), as a directory."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def queue_file(tmp_path: Path, frame: pd.DataFrame, time_column: str | None,
               **options: object) -> pd.DataFrame:
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    queue = tmp_path / "queue.csv"
    run(ScoreOptions(input=source, output=tmp_path / "out.csv", queue=queue, quiet=True,
                     time_column=time_column, chunk_size=13, workers=2, **options))
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


def test_rule_defaults_follow_the_model(tiny: Path) -> None:
    assert parse_rule(None, load_model().describe()).spec == "urgency"
    tiny_rule = parse_rule(None, load_model(tiny).describe())
    assert tiny_rule.spec == "review" and "needs_review first" in tiny_rule.describe()
    label = parse_rule("topic=Billing & Payments", load_model(tiny).describe())
    assert (label.head, label.label) == ("topic", "Billing & Payments")


@pytest.mark.parametrize(("spec", "message"), [
    ("urgency", "this model has no urgency score"),
    ("priority", "use one of review, HEAD=LABEL"),
    ("colour=red", "unknown head 'colour'"),
    ("intent=card", "unknown label 'card' of intent"),
])
def test_rule_errors_name_what_the_model_offers(tiny: Path, spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rule(spec, load_model(tiny).describe())


def tiny_tickets() -> pd.DataFrame:
    """Generated messages for the tiny model, each twice with a different time, plus a bad row."""
    texts = [r["text"] for r in generate(30, seed=9)]
    first = pd.DataFrame({"ticket_id": [f"a{i}" for i in range(30)], "text": texts,
                          "received_at": "2025-05-02T10:00:00Z"})
    second = first.assign(ticket_id=[f"b{i}" for i in range(30)],
                          received_at="2025-05-01T10:00:00Z")
    bad = pd.DataFrame([{"ticket_id": "bad", "text": "", "received_at": ""}])
    return pd.concat([first, bad, second], ignore_index=True)


def top_probability(queue: pd.DataFrame, heads: tuple[str, ...]) -> pd.Series:
    """The lowest, over heads, of each head's top probability."""
    tops = [queue[[c for c in queue.columns if c.startswith(f"p_{h}__")]].astype(float)
            .max(axis=1) for h in heads]
    return pd.concat(tops, axis=1).min(axis=1)


def test_review_queue_of_a_model_without_urgency(tmp_path: Path, tiny: Path) -> None:
    frame = tiny_tickets()
    queue = queue_file(tmp_path, frame, "received_at", model=tiny,
                       review={"topic": 0.75, "intent": 0.8})
    assert sorted(queue["ticket_id"]) == sorted(frame["ticket_id"])
    assert queue["ticket_id"].iloc[-1] == "bad"
    scored = queue.iloc[:-1]
    review = scored["needs_review"].str.lower().eq("true")
    assert 0 < review.sum() < len(scored) and review.is_monotonic_decreasing
    for _, group in scored.groupby(review, sort=False):
        assert top_probability(group, ("topic", "intent")).is_monotonic_increasing
    for text, group in scored.groupby("text", sort=False):
        assert group["ticket_id"].str[0].tolist() == ["b", "a"], text  # the older first


@pytest.mark.parametrize(("which", "spec"), [("default", "interaction_type=complaint"),
                                              ("tiny", "intent=card_arrived")])
def test_queue_by_a_label_probability(tmp_path: Path, tiny: Path, which: str,
                                      spec: str) -> None:
    frame = tiny_tickets() if which == "tiny" else tickets()
    model = tiny if which == "tiny" else None
    queue = queue_file(tmp_path, frame, None, model=model, queue_by=spec)
    head, _, label = spec.partition("=")
    scored = queue[queue["status"] == "ok"]
    assert len(scored) == len(queue) - 1 and queue["status"].iloc[-1] != "ok"
    probability = scored[f"p_{head}__{label}"].astype(float)
    assert probability.is_monotonic_decreasing and probability.iloc[0] > 0.5
    summary = (tmp_path / "out.summary.json").read_text()
    assert f'"queue_by": "{spec}"' in summary
