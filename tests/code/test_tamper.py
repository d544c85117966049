"""Forged model artifacts are refused before any code in them runs.

Each attack plants a pickle whose unpickling creates a marker file (``open(marker, "w")``);
the test proves the refusal and that the marker never appeared. The attacks: a malicious
pickle whose sha256 is written into the manifest, a two-file folder with its own manifest,
a manifest forged and re-signed by an unknown key, a modified weight file, a pickle planted
beside a signed model, the same forgeries fetched through an MLflow URI or wrapped in an
MLflow pyfunc, and (with ``trust_unsigned=True``) pickles in the data files themselves.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from interaction_classifier import load_model
from interaction_classifier.cli.main import app
from interaction_classifier.models import signing
from interaction_classifier.models.artifact import (
    MANIFEST,
    MODEL_JSON,
    SIGNATURE,
    WEIGHTS,
    ArtifactError,
)
from tests.helpers.pickles import Payload, is_pickle
from tests.helpers.tiny_model import build_tiny_model


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tamper") / "model")


@pytest.fixture()
def marker(tmp_path: Path) -> Path:
    path = tmp_path / "attack-ran"
    yield path
    assert not path.exists(), "code from a forged artifact ran"


def _copy(signed: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(signed, tmp_path / "copy"))


def _rehash(directory: Path) -> bytes:
    """A manifest whose sha256s match the directory's (forged) files, written; its bytes."""
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["files"] = {p.relative_to(directory).as_posix():
                         hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in sorted(directory.rglob("*"))
                         if p.is_file() and p.name not in (MANIFEST, SIGNATURE)}
    data = json.dumps(manifest).encode()
    (directory / MANIFEST).write_bytes(data)
    return data


def _forge_signed_by_attacker(signed: Path, tmp_path: Path, marker: Path) -> Path:
    """A copy of ``signed`` whose weights are a pickle payload, with a manifest that matches
    and a valid signature by a key nobody trusts: what an attacker with write access to a
    model store can produce."""
    forged = _copy(signed, tmp_path)
    (forged / WEIGHTS).write_bytes(pickle.dumps(Payload(marker)))
    manifest = _rehash(forged)
    attacker = signing.Ed25519PrivateKey.generate()
    (forged / SIGNATURE).write_text(json.dumps(signing.signature_record(attacker, manifest)))
    return forged


def test_the_payload_really_runs_when_unpickled(tmp_path: Path) -> None:
    # The control: without the checks below, loading the planted file would run the attack.
    path = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(path)))
    assert path.exists()
    assert is_pickle(pickle.dumps(Payload(path))) and not is_pickle(b'{"a": 1}')


def test_malicious_pickle_listed_in_the_manifest_is_refused(tmp_path: Path, marker: Path
                                                            ) -> None:
    folder = tmp_path / "old"
    (folder / "patterns").mkdir(parents=True)
    (folder / "model.joblib").write_bytes(pickle.dumps(Payload(marker)))
    files = {"model.joblib": hashlib.sha256((folder / "model.joblib").read_bytes()).hexdigest()}
    (folder / MANIFEST).write_text(json.dumps({"version": "evil", "files": files}))
    for trust in (False, True):
        with pytest.raises(ArtifactError, match="old pickle model format"):
            load_model(folder, trust_unsigned=trust)
    refused = CliRunner().invoke(app, ["model", "convert", str(folder), str(tmp_path / "new")])
    assert refused.exit_code == 2 and "--trust-pickle" in refused.output


def test_two_file_folder_with_its_own_manifest_is_refused(tmp_path: Path, marker: Path) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    (folder / WEIGHTS).write_bytes(pickle.dumps(Payload(marker)))
    (folder / MANIFEST).write_text(json.dumps({"files": {
        WEIGHTS: hashlib.sha256((folder / WEIGHTS).read_bytes()).hexdigest()}}))
    with pytest.raises(ArtifactError, match="unsigned model"):
        load_model(folder)
    with pytest.raises(ArtifactError, match=f"does not list {MODEL_JSON}"):
        load_model(folder, trust_unsigned=True)


def test_manifest_resigned_by_an_unknown_key_is_refused(signed: Path, tmp_path: Path,
                                                       marker: Path) -> None:
    forged = _forge_signed_by_attacker(signed, tmp_path, marker)
    with pytest.raises(ArtifactError, match="not signed by a trusted key"):
        load_model(forged)
    # the genuine signature does not cover the rewritten manifest either
    shutil.copy(signed / SIGNATURE, forged / SIGNATURE)
    with pytest.raises(ArtifactError, match="not signed by a trusted key"):
        load_model(forged)


def test_modified_weight_file_is_refused(signed: Path, tmp_path: Path, marker: Path) -> None:
    forged = _copy(signed, tmp_path)
    data = bytearray((forged / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (forged / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(forged)
    (forged / WEIGHTS).write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(forged)


def test_pickle_planted_beside_a_signed_model_is_refused(signed: Path, tmp_path: Path,
                                                        marker: Path) -> None:
    forged = _copy(signed, tmp_path)
    (forged / "model.joblib").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ArtifactError, match="not in the manifest"):
        load_model(forged)


def test_pickles_in_the_data_files_are_refused_even_when_trusting_unsigned(
        signed: Path, tmp_path: Path, marker: Path) -> None:
    # Defence in depth: a user who passes trust_unsigned=True still never unpickles.
    forged = _copy(signed, tmp_path)
    (forged / WEIGHTS).write_bytes(pickle.dumps(Payload(marker)))
    _rehash(forged)
    with pytest.raises(ArtifactError, match="unreadable model files"):
        load_model(forged, trust_unsigned=True)
    buffer = io.BytesIO()  # an object array inside a real npz
    np.savez(buffer, **{"head0.coef": np.array([Payload(marker)], dtype=object)})
    (forged / WEIGHTS).write_bytes(buffer.getvalue())
    _rehash(forged)
    with pytest.raises(ArtifactError, match="unreadable model files"):
        load_model(forged, trust_unsigned=True)
    (forged / MODEL_JSON).write_bytes(pickle.dumps(Payload(marker)))
    _rehash(forged)
    with pytest.raises(ArtifactError):
        load_model(forged, trust_unsigned=True)


def test_a_forged_model_fetched_by_uri_is_refused(signed: Path, tmp_path: Path,
                                                 marker: Path) -> None:
    # What load_model("models:/...") does: download, then verify by the local trusted keys,
    # not by whatever manifest the store holds.
    forged = _forge_signed_by_attacker(signed, tmp_path, marker)
    with pytest.raises(ArtifactError, match="not signed by a trusted key"):
        load_model(forged.as_uri())
    assert load_model(signed.as_uri()).version == "tiny-test"


def test_a_forged_model_inside_an_mlflow_pyfunc_is_refused(signed: Path, tmp_path: Path,
                                                          marker: Path) -> None:
    import mlflow.pyfunc

    from interaction_classifier.serving.pyfunc import save_pyfunc

    folder = save_pyfunc(signed, tmp_path / "pyfunc")
    inner = next(p.parent for p in folder.rglob(MANIFEST))
    (inner / WEIGHTS).write_bytes(pickle.dumps(Payload(marker)))
    _rehash(inner)
    with pytest.raises(ArtifactError, match="not signed by a trusted key"):
        mlflow.pyfunc.load_model(str(folder))


def test_no_file_of_a_model_or_its_mlflow_pyfunc_is_a_pickle(signed: Path,
                                                           tmp_path: Path) -> None:
    from interaction_classifier.config import DEFAULT_MODEL_DIR
    from interaction_classifier.serving.pyfunc import save_pyfunc

    folder = save_pyfunc(signed, tmp_path / "pyfunc")
    files = [p for d in (signed, DEFAULT_MODEL_DIR, folder) for p in d.rglob("*") if p.is_file()]
    assert any(p.name == WEIGHTS for p in files) and any(p.name == "MLmodel" for p in files)
    assert [str(p) for p in files if is_pickle(p.read_bytes())] == []


def test_a_forged_registered_model_is_refused(signed: Path, tmp_path: Path, marker: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # The case: the store holds the forged files and a manifest that matches them;
    # load_model("models:/...") still refuses, by the local trusted keys.
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # a fresh store keeps its artifacts under the cwd
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("tamper")
    forged = _forge_signed_by_attacker(signed, tmp_path, marker)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(forged), artifact_path="model")
    client = MlflowClient()
    client.create_registered_model("forged")
    client.create_model_version("forged", f"{run.info.artifact_uri}/model", run.info.run_id)
    with pytest.raises(ArtifactError, match="not signed by a trusted key"):
        load_model("models:/forged/1")
