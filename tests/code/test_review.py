"""Review export (the rows that teach the model most) and import (corrections, checked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from interaction_classifier.cli.main import app
from interaction_classifier.loop.review import (
    ExportOptions,
    ReviewError,
    export_rows,
    import_rows,
)
from interaction_classifier.loop.select import (
    label_gaps,
    select_for_review,
    select_random,
    urgency_gaps,
)
from interaction_classifier.training.corrections import apply_to_table, fingerprint
from tests.helpers.tiny_model import VOCABULARY, build_tiny_model, generate

LABELS = {"topic": list(VOCABULARY["topic"]), "intent": list(VOCABULARY["intent"])}


def scored_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """A scored table like `score` writes for the tiny model: labels and probabilities."""
    rng = np.random.default_rng(seed)
    rows = generate(n, seed)
    out = pd.DataFrame(
        {
            "ticket": [f"T{i}" for i in range(n)],
            "text": [f"{r['text']} #{i}" for i, r in enumerate(rows)],
        }
    )
    for head, labels in LABELS.items():
        p = rng.dirichlet(np.ones(len(labels)) * 0.7, size=n)
        out[head] = np.asarray(labels, dtype=object)[p.argmax(axis=1)]
        for j, label in enumerate(labels):
            out[f"p_{head}__{label}"] = p[:, j]
    out["needs_review"] = False
    out["status"] = "ok"
    return out


def nearest_gap(scored: pd.DataFrame) -> pd.Series:
    """Per row, its smallest gap to any label's boundary over the tiny model's heads."""
    gaps = [
        label_gaps(scored[[c for c in scored if c.startswith(f"p_{h}__")]].to_numpy())
        for h in LABELS
    ]
    return pd.Series(np.hstack(gaps).min(axis=1), index=scored.index)


def test_export_prefers_rows_near_a_boundary_and_prefills_the_model_labels() -> None:
    scored = scored_frame()
    review = export_rows(scored, ExportOptions(n=20, id_column="ticket"))
    assert len(review) == 20 and review["input_row"].is_unique
    chosen = nearest_gap(scored.iloc[review["input_row"] - 1])
    assert chosen.mean() < nearest_gap(scored).quantile(0.4)  # rows near a boundary first
    for head in LABELS:
        source = scored.iloc[review["input_row"] - 1][head].to_numpy()
        assert (review[f"correct_{head}"].to_numpy() == source).all()
        assert (review[f"model_{head}"].to_numpy() == source).all()
    assert review["id"].tolist() == scored.iloc[review["input_row"] - 1]["ticket"].tolist()
    assert review["reasons"].str.contains("cluster").all()


def test_label_gaps_measure_each_labels_one_vs_rest_boundary() -> None:
    gaps = label_gaps(np.array([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2]]))
    assert np.allclose(gaps, [[0.2, 0.2, 0.3], [0.0, 0.0, 0.2]])


def two_heads(n: int = 200) -> tuple[pd.DataFrame, list[str]]:
    """Head ``a`` torn between two labels on every row; head ``b`` sure of ``common``
    except on rows 190-199, the only rows near its rare label's boundary."""
    near = np.arange(n) >= n - 10
    p_b = np.where(near, 0.45, 0.02)
    scored = pd.DataFrame(
        {"p_a__x": 0.5, "p_a__y": 0.5, "p_b__common": 1 - p_b, "p_b__rare": p_b}, index=range(n)
    )
    words = np.random.default_rng(0).integers(0, 500, size=(n, 6))
    texts = [" ".join(f"w{w}" for w in row) for row in words]  # unrelated texts
    return scored, texts


def test_every_head_and_label_gets_its_turn() -> None:
    scored, texts = two_heads()
    chosen = select_for_review(scored, texts, ["a", "b"], 12, seed=3)
    # an average of the heads' uncertainty would give all 12 rows to head a's ties
    assert chosen["reasons"].str.startswith("near b=").sum() >= 6
    assert (chosen["position"] >= 190).sum() >= 6
    assert chosen["reasons"].str.startswith("near a=").sum() >= 3
    assert chosen["position"].is_unique


def test_urgency_boundaries_are_the_priority_cut_offs_of_the_batch() -> None:
    scored = pd.DataFrame(
        {
            "urgency": [0.1, 0.3, 0.35, 0.62, 0.9, 0.2],
            "priority": ["low", "normal", "normal", "high", "critical", "low"],
        }
    )
    gaps = urgency_gaps(scored)
    assert list(gaps) == ["normal", "high", "critical"]  # every tier above the lowest
    assert np.allclose(gaps["normal"], [0.2, 0.0, 0.05, 0.32, 0.6, 0.1])
    assert gaps["critical"].argmin() == 4
    assert urgency_gaps(scored.drop(columns="priority")) == {}


def test_export_leaves_quarantined_rows_out() -> None:
    scored = scored_frame(40)
    scored.loc[:29, "status"] = "empty"
    review = export_rows(scored, ExportOptions(n=20))
    assert len(review) == 10 and review["input_row"].min() == 31


def test_diversity_takes_one_of_many_near_copies() -> None:
    copies = [f"my card payment was reverted again for order {i}" for i in range(60)]
    texts = copies + [f"question {i} about delivery number {i * 7}" for i in range(60)]
    p = np.r_[np.full(60, 0.5), np.linspace(0.3, 0.1, 60)]  # the copies are on the boundary
    scored = pd.DataFrame({"p_a__x": p, "p_a__y": 1 - p})
    chosen = select_for_review(scored, texts, ["a"], 10, seed=1)["position"]
    assert len(chosen) == 10 and (chosen < 60).sum() == 1


def test_random_baseline_is_seeded_and_without_repeats() -> None:
    a, b = select_random(100, 30, 5), select_random(100, 30, 5)
    assert (a == b).all() and len(set(a.tolist())) == 30


def review_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "input_row": ["1", "2", "3"],
            "id": ["T1", "T2", "T3"],
            "dataset": ["", "", ""],
            "text": ["a", "b", "c"],
            "correct_topic": ["Billing & Payments", "Delivery (late)", ""],
            "correct_intent": ["card_arrived", "card_arrived", "card_arrived"],
            "skip": ["", "", "1"],
        }
    )


def test_import_names_every_bad_line() -> None:
    bad = review_table()
    bad.loc[0, "correct_topic"] = "Billing"
    bad.loc[1, "id"] = ""
    bad.loc[2, "id"] = "T1"
    with pytest.raises(ReviewError) as err:
        import_rows(bad, LABELS)
    message = str(err.value)
    assert "line 2: correct_topic 'Billing' is not a label" in message
    assert "line 3: missing id" in message
    assert "lines 2, 4: duplicate id 'T1'" in message


def test_import_keeps_text_only_for_the_users_own_rows() -> None:
    own = import_rows(review_table(), LABELS)
    assert own["text"].tolist() == ["a", "b", "c"] and set(own["origin"]) == {"review"}
    assert own["skip"].tolist() == ["", "", "1"] and own["topic"].tolist()[2] == ""
    registered = review_table().assign(dataset="twcs")
    ids_only = import_rows(registered, LABELS)
    assert "text" not in ids_only.columns
    assert ids_only["source_id"].tolist() == ["T1", "T2", "T3"]


def test_corrections_join_a_table_as_weighted_training_rows(tmp_path: Path) -> None:
    notes = import_rows(review_table(), LABELS).astype(str)
    table = pd.DataFrame(
        {
            "text": ["x", "y"],
            "topic": ["Delivery (late)", None],
            "intent": ["card_arrived", "card_arrived"],
        }
    )
    frame, split = apply_to_table(table, pd.Series(["train", "test"]), notes, list(LABELS))
    assert len(frame) == 4 and split.tolist() == ["train", "test", "train", "train"]
    assert frame["label_origin"].tolist() == ["table", "table", "review", "review"]
    path = tmp_path / "c.csv"
    notes.to_csv(path, index=False)
    before = fingerprint([path])["fingerprint"]
    path.write_text(path.read_text().replace("card_arrived", "reverted_card_payment?", 1))
    assert fingerprint([path])["fingerprint"] != before


def test_cli_export_then_import(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "model")
    scored = tmp_path / "scored.csv"
    scored_frame(60).to_csv(scored, index=False)
    review = tmp_path / "review.csv"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["review", "export", str(scored), "--n", "15", "-o", str(review), "--id-column", "ticket"],
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(review, dtype=str, keep_default_na=False)
    table.loc[0, "correct_topic"] = "Not a topic"
    table.to_csv(review, index=False)
    out = tmp_path / "corrections.csv"
    args = ["review", "import", str(review), "-o", str(out), "--model", str(model)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "line 2: correct_topic 'Not a topic'" in result.output
    table.loc[0, "correct_topic"] = LABELS["topic"][0]
    table.to_csv(review, index=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert len(written) == 15 and written.loc[0, "topic"] == LABELS["topic"][0]


def test_corrections_relabel_corpus_rows_skip_them_or_add_own_texts() -> None:
    from interaction_classifier.config import HEADS
    from interaction_classifier.training.corrections import apply_to_corpus

    corpus = pd.DataFrame(
        {
            "text": ["t1", "t2", "t3"],
            "source": ["twcs"] * 3,
            "source_id": ["1", "2", "3"],
            "split": ["train", "test", "train"],
            "interaction_type": ["question", pd.NA, "complaint"],
            "journey_stage": pd.NA,
            "sentiment": "neutral",
            "urgency": pd.NA,
            "label_origin": ["hand", pd.NA, "mapping"],
            "rule_ids": [pd.NA, pd.NA, "x"],
        }
    ).astype("string")
    notes = pd.DataFrame(
        {
            "dataset": ["twcs", "twcs", ""],
            "source_id": ["2", "3", "T9"],
            "interaction_type": ["request", "", "compliment"],
            "journey_stage": ["experience", "", ""],
            "sentiment": ["negative", "", "positive"],
            "urgency": ["high", "", ""],
            "skip": ["", "1", ""],
            "origin": "review",
            "text": ["", "", "mine"],
        }
    )
    out = apply_to_corpus(corpus, notes, list(HEADS)).set_index("source_id")
    assert list(out.index) == ["1", "2", "T9"]  # row 3 skipped
    assert out.loc["2", "interaction_type"] == "request" and out.loc["2", "split"] == "test"
    assert out.loc["2", "label_origin"] == "review" and out.loc["1", "label_origin"] == "hand"
    assert out.loc["T9", "text"] == "mine" and out.loc["T9", "split"] == "train"
    assert pd.isna(out.loc["T9", "journey_stage"]) and out.loc["T9", "source"] == "review"
