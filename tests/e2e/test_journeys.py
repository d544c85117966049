"""End-to-end journeys through the public CLI and API, each in a fresh temporary folder.

These are the paths users take: a newcomer runs the README's first command; a data scientist
retrains on BANKING77 with MLflow tracking on, evaluates on its test split, scores a file
with queue and report and compares two runs; a service loads the retrained model in-process;
a Spark job scores with it. Each step checks what the user would look at, not internals.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from interaction_classifier.data.registry import resolve

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "interaction_classifier.cli"]
pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        expect: int = 0) -> subprocess.CompletedProcess:
    """Run a command as a user would, failing with its output when the exit code is wrong."""
    proc = subprocess.run(args, cwd=cwd, env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == expect, f"{shlex.join(args)} -> {proc.returncode}\n" \
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


def readme_first_command() -> str:
    """The first line of the README's first bash block: install, then the main job."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README has no bash block"
    return block.group(1).strip().splitlines()[0]


def test_newcomer_runs_the_readme_first_command(tmp_path: Path) -> None:
    """The README's first command, minus the install CI has already done, from a copy of the
    examples: it must write every output it promises, with rows in = rows out."""
    install, sep, job = readme_first_command().partition(" && ")
    assert sep and install.startswith("pip install"), install
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    job = job.replace("interaction-classifier", shlex.join(CLI), 1)
    proc = run(["bash", "-c", job], cwd=tmp_path)
    outputs = re.findall(r"(?:-o|--queue|--report) (\S+)", job)
    assert len(outputs) == 3
    for out in outputs:
        assert (tmp_path / out).stat().st_size > 0, out
    rows_in = len(pd.read_csv(tmp_path / "examples" / "messages.csv"))
    scored = pd.read_csv(tmp_path / outputs[0])
    assert len(scored) == rows_in
    assert "rows in" in (proc.stdout + proc.stderr).lower()


@pytest.fixture(scope="module")
def lab(shared_data: None, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A data scientist's folder: BANKING77 retrained through the CLI with MLflow tracking on
    (a local SQLite store in the folder), then a second, smaller run to compare with."""
    folder = tmp_path_factory.mktemp("lab")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    train_file = resolve("banking77", "train", download=False)
    model = folder / "models" / "banking77"
    run([*CLI, "train", "--data", str(train_file), "--text-column", "text",
         "--label-column", "category", "--output", str(model)], cwd=folder, env=env)
    small = folder / "small.csv"
    pd.read_csv(train_file).groupby("category").head(30).to_csv(small, index=False)
    second = folder / "models" / "small"
    run([*CLI, "train", "--data", str(small), "--text-column", "text",
         "--label-column", "category", "--output", str(second)], cwd=folder, env=env)
    return {"folder": folder, "env": env, "model": model, "second": second}


def manifest(model: Path) -> dict:
    return json.loads((model / "manifest.json").read_text(encoding="utf-8"))


def test_data_scientist_retrains_evaluates_scores_and_compares(lab: dict) -> None:
    folder, env, model = lab["folder"], lab["env"], lab["model"]
    first, second = manifest(model), manifest(lab["second"])
    assert first["version"] != second["version"]
    assert first["mlflow"]["run_id"] != second["mlflow"]["run_id"]
    test_file = resolve("banking77", "test", download=False)
    proc = run([*CLI, "evaluate", "--model", str(model), "--data", str(test_file),
                "--text-column", "text", "--label-column", "category", "--json"],
               cwd=folder, env=env)
    report = json.loads(proc.stdout)
    accuracy = report["category"]["accuracy"]
    assert accuracy >= 0.925, accuracy  # the acceptance bar on the official test split
    tickets = folder / "tickets.csv"
    # New tickets as they arrive: an id and the message, no label.
    frame = pd.read_csv(test_file).head(300)[["text"]].rename(columns={"text": "body"})
    frame.insert(0, "ticket_id", [f"T{i}" for i in range(len(frame))])
    frame.to_csv(tickets, index=False)
    out = folder / "out"
    run([*CLI, "score", str(tickets), "-o", str(out / "scored.csv"), "--model", str(model),
         "--text-column", "body", "--id-column", "ticket_id", "--queue",
         str(out / "queue.csv"), "--report", str(out / "report.html")], cwd=folder, env=env)
    scored = pd.read_csv(out / "scored.csv")
    queue = pd.read_csv(out / "queue.csv")
    assert len(scored) == len(frame) == len(queue)
    assert set(scored["ticket_id"]) == set(queue["ticket_id"]) == set(frame["ticket_id"])
    assert scored["category"].isin(set(pd.read_csv(test_file)["category"])).all()
    assert "urgency" not in scored.columns  # a model without urgency does not invent one
    assert not list(out.glob("*.parts")) and not list(out.glob(".*"))
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "T0" in html or "T1" in html
    proc = run([*CLI, "compare", first["mlflow"]["run_id"], second["mlflow"]["run_id"]],
               cwd=folder, env=env)
    assert "category" in proc.stdout


def test_service_loads_the_retrained_model_in_process(lab: dict) -> None:
    from interaction_classifier import load_model

    model = load_model(lab["model"])
    result = model.predict("I still have not received my new card, it has been two weeks")
    assert result["category"] in model.describe()["heads"]["category"]
    assert 0.0 <= result["confidence"]["category"] <= 1.0
    assert "urgency" not in result and "priority" not in result
    assert model.predict("", review={"category": 0.5})["needs_review"] is True


@pytest.mark.spark
def test_spark_scores_with_the_retrained_model(lab: dict) -> None:
    folder = lab["folder"]
    test_file = resolve("banking77", "test", download=False)
    labelled = pd.read_csv(test_file).head(200)
    labelled.to_csv(folder / "labelled.csv", index=False)
    args = ["--model", str(lab["model"]), "--engine", "spark", "--spark-master", "local[2]"]
    # The gold column has the head's name: refused, not silently overwritten.
    proc = run([*CLI, "score", str(folder / "labelled.csv"), "-o",
                str(folder / "refused.parquet"), *args], cwd=folder, env=lab["env"], expect=2)
    assert "['category']" in proc.stderr and "would be overwritten" in proc.stderr
    assert not (folder / "refused.parquet").exists()
    frame = labelled[["text"]]
    frame.to_csv(folder / "spark_in.csv", index=False)
    run([*CLI, "score", str(folder / "spark_in.csv"), "-o", str(folder / "spark_out.parquet"),
         *args], cwd=folder, env=lab["env"])
    out = pd.read_parquet(folder / "spark_out.parquet")
    assert len(out) == len(frame)
    assert (out["status"] == "ok").all()
    from interaction_classifier import load_model

    local = load_model(lab["model"]).predict_batch(frame["text"].tolist())
    assert sorted(zip(out["text"], out["category"], strict=True)) == \
        sorted(zip(frame["text"], local["category"], strict=True))
