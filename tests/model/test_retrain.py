"""Retraining on your own labels, end to end on real subsets of BANKING77 and CLINC150."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from interaction_classifier import load_model
from interaction_classifier.cli.main import app
from interaction_classifier.training.retrain import RetrainError, read_table, resolve_config
from interaction_classifier.training.tune import SPACE

RUNNER = CliRunner()


def coarse(category: str) -> str:
    """A derived, coarser label: the first word of the intent name (card, top, ...)."""
    return category.split("_")[0]


@pytest.fixture(scope="module")
def banking_subset(shared_data: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 BANKING77 intents, 40 training rows each, plus their test rows; two label columns
    with gaps: every 3rd row lacks ``coarse`` and every 7th lacks ``category``."""
    from interaction_classifier.data.loaders import load

    df = load("banking77")
    keep = sorted(df["category"].unique())[:12]
    df = df[df["category"].isin(keep)]
    df = pd.concat([df[df["split"] == "train"].groupby("category").head(40),
                    df[df["split"] == "test"].groupby("category").head(15)])
    df = df.reset_index(drop=True)
    df["coarse"] = df["category"].map(coarse)
    df.loc[df.index % 3 == 0, "coarse"] = None
    df.loc[df.index % 7 == 0, "category"] = None
    path = tmp_path_factory.mktemp("data") / "tickets.csv"
    df[["text", "category", "coarse", "split"]].rename(columns={"text": "message"}).to_csv(
        path, index=False)
    return path


def train(*args: str) -> object:
    result = RUNNER.invoke(app, ["train", "--no-track", *args])
    return result


@pytest.fixture(scope="module")
def trained(banking_subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "m"
    result = train("--data", str(banking_subset), "--text-column", "message",
                   "--label-column", "category", "--label-column", "coarse",
                   "--split-column", "split", "--output", str(out))
    assert result.exit_code == 0, result.output
    return out


def test_two_heads_with_partial_labels_train_save_load_predict(trained: Path,
                                                               banking_subset: Path) -> None:
    manifest = json.loads((trained / "manifest.json").read_text())
    frame = pd.read_csv(banking_subset)
    train_rows = frame[frame["split"] == "train"]
    # Each head used exactly its labelled rows (train + the valid rows carved out of it).
    labelled = manifest["labelled_rows"]
    for head in ("category", "coarse"):
        assert labelled[head]["train"] + labelled[head]["valid"] == \
            train_rows[head].notna().sum()
        assert labelled[head]["test"] == frame.loc[frame["split"] == "test", head].notna().sum()
    assert manifest["heads"]["category"] == sorted(frame["category"].dropna().unique())
    assert manifest["heads"]["coarse"] == sorted(frame["coarse"].dropna().unique())
    assert len(manifest["data_fingerprint"]) == 16
    metrics = manifest["metrics"]
    # Twelve intents from 40 examples each: far above the 1/12 chance level.
    assert metrics["category"]["accuracy"] >= 0.75, metrics["category"]["accuracy"]
    assert metrics["coarse"]["accuracy"] >= metrics["category"]["accuracy"] - 0.05
    for head in ("category", "coarse"):
        m = metrics[head]
        assert set(m["per_class"]) == set(manifest["heads"][head])
        assert {"precision", "recall", "f1"} <= set(m["weighted"]) | set(m["macro"])
        coverage = [row["coverage"] for row in m["abstain"]]
        assert coverage[0] == 1.0 and coverage == sorted(coverage, reverse=True)
        assert (trained / "plots" / f"confusion_{head}.png").stat().st_size > 0
        assert (trained / "plots" / f"calibration_{head}.png").stat().st_size > 0
        assert (trained / "plots" / f"abstain_{head}.png").stat().st_size > 0
    pairs = json.loads((trained / "evaluation.json").read_text())["category"]["most_confused"]
    assert all(p["true"] != p["predicted"] and p["examples"] for p in pairs)

    model = load_model(trained)
    texts = ["My card still hasn't arrived, when will it come?", "How do I top up by card?"]
    out = model.predict_batch(texts)
    assert list(out.columns[:3]) == ["category", "coarse", "needs_review"]
    p_cols = [c for c in out.columns if c.startswith("p_category__")]
    assert len(p_cols) == 12 and (out[p_cols].sum(axis=1) - 1).abs().max() < 1e-5
    assert set(out["category"]) <= set(manifest["heads"]["category"])
    one = model.predict(texts[0])
    assert one["category"] == out.loc[0, "category"]
    assert one["coarse"] == out.loc[0, "coarse"]
    assert set(one["probabilities"]) == {"category", "coarse"}


def test_written_config_reproduces_the_metrics(trained: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    result = train("--config", str(trained / "config.toml"), "--output", str(again))
    assert result.exit_code == 0, result.output
    first = json.loads((trained / "evaluation.json").read_text())
    second = json.loads((again / "evaluation.json").read_text())
    assert first == second
    texts = ["I want to cancel a transfer", "why was my card declined"]
    pd.testing.assert_frame_equal(load_model(trained).predict_batch(texts),
                                  load_model(again).predict_batch(texts))


@pytest.mark.parametrize(("edit", "message"), [
    (lambda df: df.drop(columns=["coarse"]), r"column\(s\) \['coarse'\] not in"),
    (lambda df: df.assign(coarse="card"), r"'coarse' has 1 class\(es\)"),
    (lambda df: df.assign(coarse=["rare" if i < 2 else "common" for i in range(len(df))]),
     r"fewer than 5 labelled rows \('rare': 2\)"),
])
def test_bad_label_columns_give_clear_errors(banking_subset: Path, tmp_path: Path, edit,
                                             message: str) -> None:
    path = tmp_path / "bad.csv"
    edit(pd.read_csv(banking_subset)).to_csv(path, index=False)
    args = ["--data", str(path), "--text-column", "message", "--label-column", "category",
            "--label-column", "coarse", "--output", str(tmp_path / "m")]
    result = train(*args)
    assert result.exit_code == 2
    assert "error:" in result.output
    with pytest.raises(RetrainError, match=message):
        from interaction_classifier.training.retrain import prepare

        cfg = resolve_config({}, {"data": {"path": str(path), "text_column": "message",
                                           "label_columns": ["category", "coarse"]}})
        prepare(read_table(path), cfg)


@pytest.mark.parametrize(("name", "content", "message"), [
    ("tickets.parquet", b"not a parquet file", "cannot read .* as parquet"),
    ("tickets.jsonl", b'{"text": "a", "label": \n', "cannot read .* as jsonl"),
    ("tickets.xlsx", b"PK", "unknown file type"),
    ("missing.csv", None, "no such file"),
])
def test_unreadable_files_give_clear_errors(tmp_path: Path, name: str, content: bytes | None,
                                            message: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RetrainError, match=message):
        read_table(path)
    result = train("--data", str(path), "--label-column", "label", "--output",
                   str(tmp_path / "m"))
    assert result.exit_code == 2 and "cannot read" in result.output


def test_clinc_search_within_budget_writes_a_repeatable_choice(shared_data: None,
                                                               tmp_path: Path) -> None:
    """Successive halving on a CLINC150 subset (no split column: a seeded stratified split)."""
    from interaction_classifier.data.loaders import load

    df = load("clinc150")
    df = df[df["intent"].isin(sorted(df["intent"].unique())[:10])]
    df = df.groupby("intent").head(60)
    path = tmp_path / "clinc.jsonl"
    df[["text", "intent"]].to_json(path, orient="records", lines=True)
    out = tmp_path / "m"
    result = train("--data", str(path), "--label-column", "intent", "--budget", "0.2",
                   "--output", str(out))
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    search = manifest["search"]
    assert search["history"] and search["best"]["cv_accuracy"] > 0.5
    chosen = manifest["config"]
    for key, values in SPACE.items():
        section, name = key.split(".")
        assert chosen[section][name] in values
    assert chosen["search"]["budget_minutes"] == 0.0
    assert manifest["rows"] == {"train": 420, "valid": 60, "test": 120}
    again = tmp_path / "again"
    assert train("--config", str(out / "config.toml"), "--output", str(again)).exit_code == 0
    assert json.loads((again / "evaluation.json").read_text()) == \
        json.loads((out / "evaluation.json").read_text())


def test_runs_are_tracked_registered_and_compared(banking_subset: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = []
    for profile_args in ([], ["--budget", "0"]):
        out = tmp_path / f"m{len(runs)}"
        result = RUNNER.invoke(app, ["train", "--data", str(banking_subset), "--text-column",
                                     "message", "--label-column", "category",
                                     "--output", str(out), *profile_args])
        assert result.exit_code == 0, result.output
        runs.append(json.loads((out / "manifest.json").read_text())["mlflow"])
    assert [r["registered_version"] for r in runs] == ["1", "2"]
    assert runs[0]["champion"] is True
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    champion = client.get_model_version_by_alias(runs[0]["registered_model"], "champion")
    assert str(champion.version) == "1"  # the equal-scoring second run is not promoted
    served = load_model(f"models:/{runs[0]['registered_model']}@champion")
    assert served.predict("my card has not arrived")["category"] in served.model.heads[
        "category"].classes
    logged = client.get_run(runs[0]["run_id"]).data
    assert logged.params["data_fingerprint"]
    assert "category.accuracy" in logged.metrics and "category.weighted.f1" in logged.metrics
    result = RUNNER.invoke(app, ["compare", runs[0]["run_id"], runs[1]["run_id"]])
    assert result.exit_code == 0, result.output
    assert "category.accuracy" in result.output and "B - A" in result.output
