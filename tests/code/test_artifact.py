"""Model directories: written atomically, verified before anything is unpickled, and a saved
model predicts exactly as the model in memory did."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest

from interaction_classifier import load_model
from interaction_classifier.models import artifact
from interaction_classifier.models.artifact import (
    MANIFEST,
    MODEL_FILE,
    ArtifactError,
    save_artifact,
    verify_artifact,
)
from tests.helpers.tiny_model import build_tiny_model

TEXTS = ["my invoice was reversed", "the parcel came today", "hello", ""]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("artifact") / "model")


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                  if p.is_file())


def test_manifest_lists_every_file_and_no_temporary_file_is_left(saved: Path) -> None:
    manifest = verify_artifact(saved)
    assert sorted(manifest["files"]) == [f for f in _files(saved) if f != MANIFEST]
    assert MODEL_FILE in manifest["files"] and "patterns/urgency.jsonl" in manifest["files"]
    assert manifest["version"] == "tiny-test" and manifest["heads"] == ["topic", "intent"]
    assert not [f for f in _files(saved) if ".tmp-" in f]


def test_saved_model_predicts_as_the_model_in_memory(saved: Path, tmp_path: Path) -> None:
    model = load_model(saved).model
    copy = save_artifact(model, tmp_path / "copy", {"version": model.version})
    again = load_model(copy)
    first, _, _ = model.predict_arrays(TEXTS)
    second, _, _ = again.model.predict_arrays(TEXTS)
    for column in model.output_columns:
        assert np.array_equal(first[column], second[column])
    assert again.describe() == load_model(saved).describe()


def test_a_failed_save_leaves_the_previous_artifact_whole(saved: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    target = tmp_path / "model"
    model = load_model(saved).model
    save_artifact(model, target, {"version": "first"})
    before = {f: (target / f).read_bytes() for f in _files(target)}

    def crash(obj: object, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"half a pickle")
        raise OSError("disk full")

    monkeypatch.setattr(artifact.joblib, "dump", crash)
    with pytest.raises(OSError, match="disk full"):
        save_artifact(model, target, {"version": "second"})
    assert {f: (target / f).read_bytes() for f in _files(target)} == before
    assert verify_artifact(target)["version"] == "first"


def test_a_checksum_mismatch_is_refused_before_unpickling(saved: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    target = tmp_path / "model"
    save_artifact(load_model(saved).model, target, {"version": "v"})
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["files"][MODEL_FILE] = "0" * 64
    (target / MANIFEST).write_text(json.dumps(manifest))

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("unpickled an unverified file")

    monkeypatch.setattr(joblib, "load", never)
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(target)
    del manifest["files"][MODEL_FILE]
    (target / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=f"does not list {MODEL_FILE}"):
        load_model(target)

