"""The learning loop through the CLI: score -> review export -> (simulated) correction ->
review import -> train with the corrections -> compare; the retrained model's manifest and
its MLflow registered version carry the corrections' sha256."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from interaction_classifier.cli.main import app

RUNNER = CliRunner()
WORDS = {"Billing & Payments": "invoice bill charged twice fee statement refund",
         "Delivery (late)": "parcel courier shipping late package tracking",
         "Account access": "password login locked username reset sign"}
FILLER = ["please", "hello", "my", "the", "today", "again", "help", "thanks", "order", "why"]
TINY = """seed = 13
[data]
path = "{path}"
text_column = "message"
label_columns = ["queue"]
[features]
word_ngram_range = [1, 2]
word_min_df = 1
char_ngram_range = [2, 4]
char_min_df = 1
use_cues = false
embedding_weight = 0.0
[model]
classifier = "logreg"
C = 3.0
class_weight = "none"
origin_weights = {{ review = 2.0 }}
[mlflow]
experiment = "loop-test"
"""


def tickets(n_per_class: int, seed: int, mixed: float) -> pd.DataFrame:
    """Generated messages; a ``mixed`` share borrows two words of another class."""
    rng = random.Random(seed)
    rows = []
    for label, words in WORDS.items():
        others = [w for lab, ws in WORDS.items() if lab != label for w in ws.split()]
        for _ in range(n_per_class):
            text = rng.sample(words.split(), 2) + rng.sample(FILLER, 3)
            if rng.random() < mixed:
                text += rng.sample(others, 2)
            rng.shuffle(text)
            rows.append({"message": " ".join(text), "queue": label})
    frame = pd.DataFrame(rows).sample(frac=1, random_state=seed).reset_index(drop=True)
    return frame.assign(ticket=[f"T{seed}-{i}" for i in range(len(frame))])


def invoke(*args: str) -> str:
    result = RUNNER.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def manifest(model: Path) -> dict:
    return json.loads((model / "manifest.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_export_correct_import_retrain_compare(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    tickets(25, 0, 0.2).to_csv(tmp_path / "train.csv", index=False)
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(path=tmp_path / "train.csv"), encoding="utf-8")
    invoke("train", "--config", str(config), "--output", "m1")
    batch = tickets(40, 1, 0.6)
    batch.drop(columns="queue").to_csv(tmp_path / "batch.csv", index=False)
    invoke("score", "batch.csv", "-o", "scored.csv", "--model", "m1", "--text-column",
           "message", "--id-column", "ticket", "--quiet")
    invoke("review", "export", "scored.csv", "--n", "30", "-o", "review.csv",
           "--text-column", "message", "--id-column", "ticket")
    review = pd.read_csv(tmp_path / "review.csv", dtype=str, keep_default_na=False)
    assert len(review) == 30 and review["id"].is_unique
    truth = batch.set_index("ticket")["queue"]
    review["correct_queue"] = truth.loc[review["id"]].to_numpy()  # the reviewer's labels
    review.to_csv(tmp_path / "review.csv", index=False)
    invoke("review", "import", "review.csv", "-o", "corrections.csv", "--model", "m1")
    invoke("train", "--config", str(config), "--corrections", "corrections.csv",
           "--set", "model.C=2.5", "--output", "m2")
    first, second = manifest(tmp_path / "m1"), manifest(tmp_path / "m2")
    assert (first["config"]["model"]["C"], second["config"]["model"]["C"]) == (3.0, 2.5)
    digest = hashlib.sha256((tmp_path / "corrections.csv").read_bytes()).hexdigest()
    assert second["corrections"]["files"] == {"corrections.csv": digest}
    assert second["corrections"]["rows"] == 30 and "corrections" not in first
    assert second["rows"]["train"] == first["rows"]["train"] + 30
    assert second["data_fingerprint"] != first["data_fingerprint"]
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    registered = second["mlflow"]
    version = client.get_model_version(registered["registered_model"],
                                       registered["registered_version"])
    assert version.tags["corrections_fingerprint"] == second["corrections"]["fingerprint"]
    assert client.get_run(registered["run_id"]).data.tags["corrections_fingerprint"] == \
        second["corrections"]["fingerprint"]
    out = invoke("compare", first["mlflow"]["run_id"], registered["run_id"])
    assert "queue.macro_f1" in out
    drift = json.loads(invoke("drift", "scored.csv", "--model", "m1", "--text-column",
                              "message", "--json"))  # against m1's training profile
    assert drift["heads"]["queue"]["labels"]["verdict"] in ("stable", "watch", "act")
    assert drift["rows"] == {"current": 120, "reference": first["rows"]["test"]}
