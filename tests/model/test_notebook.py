"""notebooks/retraining.ipynb executes top to bottom (on a sample), so it cannot rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from interaction_classifier.config import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "notebooks" / "retraining.ipynb"


def test_retraining_notebook_executes(shared_data: None, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRAIN_NOTEBOOK_ROWS_PER_CLASS", "30")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum(1 for o in outputs if "image/png" in o.get("data", {})) >= 3
    text = "".join(o.get("text", "") for o in outputs)
    assert "accuracy" in text and "[model]" in text and "MLflow run" in text
    assert "test file rows 1155: accuracy" in text  # 77 intents x 15 rows of the test file
