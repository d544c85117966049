"""Model directories: data not pickles, written atomically, signed, verified before anything
is parsed, and a saved (or converted) model predicts exactly as the model in memory did."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
from pathlib import Path

import joblib
import numpy as np
import pytest
from typer.testing import CliRunner

from interaction_classifier import load_model
from interaction_classifier.cli.main import app
from interaction_classifier.models import artifact, codec, signing
from interaction_classifier.models.artifact import (
    MANIFEST,
    MODEL_FILES,
    MODEL_JSON,
    SIGNATURE,
    WEIGHTS,
    ArtifactError,
    save_artifact,
    verify_artifact,
)
from interaction_classifier.models.legacy import convert
from interaction_classifier.serving.predictor import DEFAULT_MODEL_DIR
from tests.helpers.tiny_model import build_tiny_model

TEXTS = ["my invoice was reversed", "the parcel came today", "hello", "",
         "why has my refund bounced back? café"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("artifact") / "model")


def _files(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*")
                  if p.is_file())


def _session_key() -> signing.Ed25519PrivateKey:
    return signing.load_private_key(signing.default_key_path())


def _assert_same_outputs(a: object, b: object) -> None:
    first, p1, r1 = a.predict_arrays(TEXTS)
    second, p2, r2 = b.predict_arrays(TEXTS)
    assert first.keys() == second.keys() and r1 == r2
    for column in first:
        assert np.array_equal(first[column], second[column]), column
    for head in p1:
        assert np.array_equal(p1[head], p2[head]), head


def test_manifest_lists_every_file_and_is_signed(saved: Path) -> None:
    manifest = verify_artifact(saved)
    assert sorted(manifest["files"]) == [f for f in _files(saved) if f not in
                                         (MANIFEST, SIGNATURE)]
    assert set(MODEL_FILES) <= set(manifest["files"])
    assert "patterns/urgency.jsonl" in manifest["files"]
    assert manifest["version"] == "tiny-test" and manifest["heads"] == ["topic", "intent"]
    assert manifest["format"] == codec.FORMAT
    assert manifest["signing_key_id"] == signing.key_id(_session_key().public_key())
    assert not [f for f in _files(saved) if ".tmp-" in f]


def test_model_files_are_json_and_arrays_without_objects(saved: Path) -> None:
    spec = json.loads((saved / MODEL_JSON).read_text(encoding="utf-8"))
    assert spec["format"] == codec.FORMAT and [h["name"] for h in spec["heads"]] == \
        ["topic", "intent"]
    with np.load(saved / WEIGHTS, allow_pickle=False) as npz:  # would raise on an object
        kinds = {npz[name].dtype.kind for name in npz.files}
    assert kinds <= {"f", "u", "i"}


def test_saved_model_predicts_as_the_model_in_memory(saved: Path, tmp_path: Path) -> None:
    model = load_model(saved).model
    copy = save_artifact(model, tmp_path / "copy", {"version": model.version},
                         signer=_session_key())
    again = load_model(copy)
    _assert_same_outputs(model, again.model)
    assert again.describe() == load_model(saved).describe()
    assert again.model.featurizer.word.vocabulary == model.featurizer.word.vocabulary


def test_a_failed_save_leaves_the_previous_artifact_loadable(
        saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model"
    model = load_model(saved).model
    save_artifact(model, target, {"version": "first"}, signer=_session_key())
    before = {f: (target / f).read_bytes() for f in _files(target)}

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(artifact.codec, "encode", crash)
    with pytest.raises(OSError, match="disk full"):
        save_artifact(model, target, {"version": "second"}, signer=_session_key())
    assert {f: (target / f).read_bytes() for f in _files(target)} == before
    assert load_model(target).manifest["version"] == "first"


def test_a_save_that_dies_between_files_is_refused_not_mixed(
        saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model"
    model = load_model(saved).model
    save_artifact(model, target, {"version": "first"}, signer=_session_key())
    model.heads["topic"].coef = model.heads["topic"].coef * 2
    real = artifact.write_bytes

    def die_on_model_json(path: Path, data: bytes) -> Path:
        if Path(path).name == MODEL_JSON:
            raise OSError("killed")
        return real(path, data)

    monkeypatch.setattr(artifact, "write_bytes", die_on_model_json)
    with pytest.raises(OSError, match="killed"):
        save_artifact(model, target, {"version": "second"}, signer=_session_key())
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(target)


def test_a_checksum_mismatch_is_refused_before_parsing(saved: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model"
    save_artifact(load_model(saved).model, target, {"version": "v"}, signer=_session_key())
    manifest = json.loads((target / MANIFEST).read_text())

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed an unverified file")

    monkeypatch.setattr(artifact.codec, "decode", never)
    manifest["files"][WEIGHTS] = "0" * 64
    artifact.write_manifest(target, manifest, signer=_session_key())
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["files"][WEIGHTS] = "0" * 64  # write_manifest re-hashed: forge it again
    text = json.dumps(manifest)
    (target / MANIFEST).write_text(text)
    (target / SIGNATURE).write_text(json.dumps(
        signing.signature_record(_session_key(), text.encode())))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(target)
    del manifest["files"][WEIGHTS]
    text = json.dumps(manifest)
    (target / MANIFEST).write_text(text)
    (target / SIGNATURE).write_text(json.dumps(
        signing.signature_record(_session_key(), text.encode())))
    with pytest.raises(ArtifactError, match=f"does not list {WEIGHTS}"):
        load_model(target)


def test_unsigned_model_loads_only_when_trusted_explicitly(tmp_path: Path) -> None:
    directory = build_tiny_model(tmp_path / "unsigned", signed=False)
    assert not (directory / SIGNATURE).exists()
    with pytest.raises(ArtifactError, match="unsigned model"):
        load_model(directory)
    assert load_model(directory, trust_unsigned=True).predict("my bill")["topic"]
    result = CliRunner().invoke(app, ["predict", "my bill", "--model", str(directory)])
    assert result.exit_code != 0 and "unsigned" in str(result.exception)
    result = CliRunner().invoke(app, ["predict", "my bill", "--json", "--model", str(directory),
                                      "--trust-unsigned"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["topic"] == "Billing & Payments"


def test_resaving_unsigned_removes_a_stale_signature(saved: Path, tmp_path: Path) -> None:
    target = tmp_path / "model"
    model = load_model(saved).model
    save_artifact(model, target, {"version": "v"}, signer=_session_key())
    save_artifact(model, target, {"version": "v2"}, signer=None)
    assert not (target / SIGNATURE).exists()
    with pytest.raises(ArtifactError, match="unsigned"):
        load_model(target)


# ---- the old pickle format ------------------------------------------------------------------

def _old_format(model_dir: Path, target: Path) -> Path:
    """What the previous release wrote: model.joblib, patterns, a manifest of sha256s."""
    from interaction_classifier.data.registry import sha256_of

    model = load_model(model_dir).model
    target.mkdir(parents=True)
    joblib.dump(model, target / "model.joblib", compress=3)
    (target / "patterns").mkdir()
    for path in (model_dir / "patterns").glob("*.jsonl"):
        (target / "patterns" / path.name).write_bytes(path.read_bytes())
    (target / "config.toml").write_text("# the run's config\n")
    (target / "evaluation.json").write_text(json.dumps({"topic": {"most_confused": [
        {"true": "a", "predicted": "b", "count": 1, "examples": ["call me at 555 0101"]}]}}))
    files = {p.relative_to(target).as_posix(): sha256_of(p) for p in sorted(target.rglob("*"))
             if p.is_file()}
    (target / MANIFEST).write_text(json.dumps({"version": model.version, "files": files,
                                               "heads": list(model.heads)}))
    return target


def test_old_format_is_refused_with_the_conversion_command(saved: Path, tmp_path: Path) -> None:
    old = _old_format(saved, tmp_path / "old")
    with pytest.raises(ArtifactError, match=r"interaction-classifier model convert .* "
                                            r"--trust-pickle"):
        load_model(old)


def test_conversion_gives_identical_outputs(saved: Path, tmp_path: Path) -> None:
    old = _old_format(saved, tmp_path / "old")
    done = convert(old, tmp_path / "new", trust_pickle=True, signer=_session_key())
    assert done.max_abs_difference == 0.0 and done.labels_equal
    new = load_model(tmp_path / "new")
    _assert_same_outputs(joblib.load(old / "model.joblib"), new.model)
    assert (tmp_path / "new" / "config.toml").read_text() == "# the run's config\n"
    assert "555 0101" not in (tmp_path / "new" / "evaluation.json").read_text()
    manifest = verify_artifact(tmp_path / "new")
    assert manifest["converted_from"]["format"] == "joblib"
    assert "model.joblib" not in manifest["files"]


def test_convert_command_needs_trust_pickle_and_a_key(saved: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    old = _old_format(saved, tmp_path / "old")
    runner = CliRunner()
    refused = runner.invoke(app, ["model", "convert", str(old), str(tmp_path / "a")])
    assert refused.exit_code == 2 and "--trust-pickle" in refused.output
    assert not (tmp_path / "a").exists()
    monkeypatch.setenv(signing.ENV_SIGNING_KEY, str(tmp_path / "no-key.pem"))
    nokey = runner.invoke(app, ["model", "convert", str(old), str(tmp_path / "b"),
                                "--trust-pickle"])
    assert nokey.exit_code == 2 and "keys generate" in nokey.output
    monkeypatch.delenv(signing.ENV_SIGNING_KEY)
    done = runner.invoke(app, ["model", "convert", str(old), str(tmp_path / "c"),
                               "--trust-pickle"])
    assert done.exit_code == 0, done.output
    assert "largest output difference is 0," in done.output
    assert load_model(tmp_path / "c").version == "tiny-test"


# ---- keys -----------------------------------------------------------------------------------

def test_keys_generate_trust_and_sign(saved: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(signing.ENV_HOME, str(tmp_path / "home"))
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "generate"])
    assert made.exit_code == 0, made.output
    key_path = tmp_path / "home" / "signing-key.pem"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    public = made.output.strip().rsplit(" ", 1)[-1]
    assert signing.public_text(signing.load_private_key(key_path).public_key()) == public
    assert runner.invoke(app, ["keys", "generate"]).exit_code == 2  # never overwritten
    # the test session's key is not trusted in this new home: its models are refused ...
    with pytest.raises(ArtifactError, match="not signed by a trusted key"):
        load_model(saved)
    # ... until its public key is trusted
    other = signing.public_text(_session_key_from_env().public_key())
    assert runner.invoke(app, ["keys", "trust", other]).exit_code == 0
    assert load_model(saved).version == "tiny-test"
    listed = runner.invoke(app, ["keys", "list"]).output
    assert signing.key_id(signing.load_private_key(key_path).public_key()) in listed
    assert "release-ed25519.pub" in listed
    unsigned = build_tiny_model(tmp_path / "mine", signed=False)
    assert runner.invoke(app, ["keys", "sign", str(unsigned)]).exit_code == 0
    assert load_model(unsigned).version == "tiny-test"


def test_signing_renders_the_model_card_again_naming_the_new_key(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL_DIR, copy)
    released = json.loads((copy / "manifest.json").read_text())["signing_key_id"]
    assert released in (copy / "MODEL_CARD.md").read_text()
    result = CliRunner().invoke(app, ["keys", "sign", str(copy)])  # the session's key
    assert result.exit_code == 0, result.output
    card = (copy / "MODEL_CARD.md").read_text()
    assert released not in card
    assert signing.key_id(_session_key_from_env().public_key()) in card
    assert load_model(copy).version == json.loads((copy / "manifest.json").read_text())["version"]


def _session_key_from_env() -> signing.Ed25519PrivateKey:
    """The test session's key, found through the session's home (conftest)."""
    return signing.load_private_key(Path(SESSION_HOME) / "signing-key.pem")


SESSION_HOME = os.environ[signing.ENV_HOME]


def test_a_readable_private_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    signing.generate_key(path)
    path.chmod(0o644)
    with pytest.raises(signing.SigningError, match="chmod 600"):
        signing.load_private_key(path)


def test_trusted_keys_from_the_environment(saved: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(signing.ENV_HOME, str(tmp_path / "empty-home"))
    with pytest.raises(ArtifactError, match="not signed by a trusted key"):
        load_model(saved)
    pub = tmp_path / "colleague.pub"
    pub.write_bytes(signing.public_pem(_session_key_from_env().public_key()))
    monkeypatch.setenv(signing.ENV_TRUSTED_KEYS, str(pub))
    assert load_model(saved).version == "tiny-test"


def test_train_without_a_key_stops_before_reading_data(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(signing.ENV_SIGNING_KEY, str(tmp_path / "missing.pem"))
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "no-such-table.csv"),
                                      "--label-column", "y", "--output", str(tmp_path / "m"),
                                      "--no-track"])
    assert result.exit_code == 2
    assert "keys generate" in result.output and "--unsigned" in result.output
    assert not (tmp_path / "m").exists()


def test_score_refuses_an_unsigned_model_with_one_line(tmp_path: Path) -> None:
    directory = build_tiny_model(tmp_path / "unsigned", signed=False)
    (tmp_path / "in.csv").write_text("text\nmy bill\n")
    result = CliRunner().invoke(app, ["score", str(tmp_path / "in.csv"), "-o",
                                      str(tmp_path / "out.csv"), "--model", str(directory)])
    assert result.exit_code == 2 and "keys sign" in result.output
    assert not (tmp_path / "out.csv").exists()


def test_weights_that_do_not_fit_are_refused_by_name(saved: Path) -> None:
    model_json, weights = codec.encode(load_model(saved).model)
    with np.load(io.BytesIO(weights), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["head0.coef"] = arrays["head0.coef"][:-1]
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with pytest.raises(codec.CodecError, match="head 'topic': weights"):
        codec.decode(model_json, buffer.getvalue())


def test_a_format_1_model_is_refused_with_the_retrain_command(saved: Path) -> None:
    # Format 1 models were featurized by the spaCy pipeline: their scores would change under
    # the batch featurizer (#20), so they are refused with the fix named, not scored.
    model_json, weights = codec.encode(load_model(saved).model)
    spec = json.loads(model_json)
    assert spec["format_version"] == 2 and spec["featurizer"]["tokenizer"] == "batch-1"
    old = json.dumps({**spec, "format_version": 1}).encode()
    with pytest.raises(codec.CodecError, match=r"version 1: .*spaCy.*Retrain it.*train "
                                               r"--config"):
        codec.decode(old, weights)
    other = json.dumps({**spec, "featurizer": {**spec["featurizer"], "tokenizer": "spacy"}})
    with pytest.raises(codec.CodecError, match=r"tokenizer 'spacy'.*retrain"):
        codec.decode(other.encode(), weights)


def test_an_old_pickled_featurizer_is_refused_when_used(saved: Path) -> None:
    from interaction_classifier.features.frozen import FeaturizerVersionError, FrozenFeaturizer

    featurizer = load_model(saved).model.featurizer
    old = FrozenFeaturizer.__new__(FrozenFeaturizer)
    old.__setstate__({k: v for k, v in featurizer.__getstate__().items() if k != "tokenizer"})
    with pytest.raises(FeaturizerVersionError, match=r"'spacy' tokenizer.*Retrain"):
        old.transform(["my bill"])
