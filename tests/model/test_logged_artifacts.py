"""What a tracked training run leaves behind: a signed model, no pickle anywhere in MLflow,
and no message text in ``evaluation.json``, the manifest or MLflow unless ``--log-examples``
(then masked)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from interaction_classifier import load_model
from interaction_classifier.cli.main import app
from interaction_classifier.evaluation import report as report_module
from tests.helpers.pickles import is_pickle
from tests.model.test_retrain import labelled_table

RUNNER = CliRunner()


@pytest.fixture()
def tracked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    table = labelled_table(rows_per_class=12)
    labels = sorted(set(table["queue"]))  # every third row mislabelled: confusions to show
    table.loc[::3, "queue"] = [labels[(labels.index(q) + 1) % len(labels)]
                               for q in table["queue"][::3]]
    table.to_csv(tmp_path / "tickets.csv", index=False)
    return tmp_path


def _train(root: Path, *extra: str) -> tuple[Path, list[Path], list[str]]:
    """Train with tracking; the model folder, every MLflow artifact file, the texts."""
    from mlflow.tracking import MlflowClient

    out = root / "model"
    result = RUNNER.invoke(app, ["train", "--data", str(root / "tickets.csv"), "--text-column",
                                 "message", "--label-column", "queue", "--output", str(out),
                                 *extra])
    assert result.exit_code == 0, result.output
    import mlflow.artifacts

    logged = json.loads((out / "manifest.json").read_text())["mlflow"]
    run_files = Path(MlflowClient().download_artifacts(logged["run_id"], "", str(root / "run")))
    model_files = Path(mlflow.artifacts.download_artifacts(logged["model_uri"],
                                                           dst_path=str(root / "logged")))
    files = [p for d in (run_files, model_files) for p in d.rglob("*") if p.is_file()]
    texts = pd.read_csv(root / "tickets.csv")["message"].tolist()
    return out, files, texts


def _texts_in(paths: list[Path], texts: list[str]) -> list[str]:
    return [str(p) for p in paths for t in texts if t in p.read_bytes().decode("utf-8", "replace")]


def test_a_tracked_run_logs_no_pickle_and_no_text(tracked: Path) -> None:
    out, logged, texts = _train(tracked)
    assert any(p.name == "weights.npz" for p in logged) and any(p.name == "MLmodel"
                                                                 for p in logged)
    assert [str(p) for p in logged if is_pickle(p.read_bytes())] == []
    model_files = [p for p in out.rglob("*") if p.is_file()]
    assert [str(p) for p in model_files if is_pickle(p.read_bytes())] == []
    assert _texts_in(logged + model_files, texts) == []
    confused = json.loads((out / "evaluation.json").read_text())["queue"]["most_confused"]
    assert all("examples" not in pair and pair["row_ids"] for pair in confused)
    assert load_model(out).manifest["signing_key_id"]


def test_log_examples_keeps_masked_texts_only(tracked: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "example_redactor", lambda: lambda t: "[masked]")
    out, logged, texts = _train(tracked, "--log-examples")
    assert _texts_in(logged + [p for p in out.rglob("*") if p.is_file()], texts) == []
    confused = json.loads((out / "evaluation.json").read_text())["queue"]["most_confused"]
    shown = [t for pair in confused for t in pair["examples"]]
    assert shown and set(shown) == {"[masked]"}
