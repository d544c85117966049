"""The built wheel works outside the repository: the default model, taxonomy and patterns
ship as package data, and the console script predicts and builds the HTTP service.

The wheel is installed into a new virtual environment that reuses the installed dependencies
(``--system-site-packages``); the package itself must come from the wheel, which is asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{args} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_the_wheel_predicts_and_serves_from_outside_the_repository(tmp_path: Path) -> None:
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"),
         str(ROOT)], cwd=tmp_path)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("interaction_classifier-*.whl"))
    run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)], cwd=tmp_path)
    probe = ("import json, interaction_classifier; from interaction_classifier import predict;"
             "r = predict('Someone used my stolen card, block it now!');"
             "print(json.dumps({'file': interaction_classifier.__file__, **r}))")
    found = json.loads(run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path))
    assert found["file"].startswith(str(venv)), found["file"]
    assert found["priority"] in ("critical", "high"), found
    script = str(venv / "bin" / "interaction-classifier")
    parcel = json.loads(run([script, "predict", "--json", "Where is my parcel?"], cwd=tmp_path))
    assert parcel["interaction_type"] in ("question", "complaint"), parcel
    spec = json.loads(run([script, "serve", "--openapi"], cwd=tmp_path))
    assert "/v1/predict" in spec["paths"]
