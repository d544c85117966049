"""The data registry: which files each dataset has, where to find them, and their checksums.

Resolution order per dataset: ``$INTERACTION_DATA_DIR/<name>``, then ``../shared/datasets/<name>``
next to the repository, then a user cache filled by download. Every file is verified
against its sha256 before it is read; a mismatch is an error, never a warning.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from interaction_classifier.config import DATA_DIR, PROJECT_ROOT, read_toml

REGISTRY_FILE = DATA_DIR / "registry.toml"
ENV_DATA_DIR = "INTERACTION_DATA_DIR"


class DataError(RuntimeError):
    """A dataset is unknown, missing, unreadable or fails its checksum."""


@dataclass(frozen=True)
class DataFile:
    """One registered file of a dataset."""

    dataset: str
    key: str
    path: str
    format: str
    sha256: str
    url: str


@dataclass(frozen=True)
class Dataset:
    """One registered dataset with its provenance."""

    name: str
    description: str
    licence: str
    commercial_use: bool
    citation: str
    homepage: str
    files: dict[str, DataFile]


@cache
def registry(path: Path = REGISTRY_FILE) -> dict[str, Dataset]:
    """Parse the registry file once per process."""
    raw = read_toml(path).get("datasets", {})
    out: dict[str, Dataset] = {}
    for name, spec in raw.items():
        files = {
            key: DataFile(dataset=name, key=key, path=f["path"], format=f["format"],
                          sha256=f["sha256"].lower(), url=f.get("url", ""))
            for key, f in spec["files"].items()
        }
        out[name] = Dataset(
            name=name,
            description=spec.get("description", ""),
            licence=spec.get("licence", ""),
            commercial_use=bool(spec.get("commercial_use", False)),
            citation=spec.get("citation", ""),
            homepage=spec.get("homepage", ""),
            files=files,
        )
    return out


def dataset(name: str) -> Dataset:
    """Look up a dataset by name with an error that lists the known ones."""
    known = registry()
    if name not in known:
        raise DataError(f"unknown dataset {name!r}; registered: {sorted(known)}")
    return known[name]


def cache_dir() -> Path:
    """The per-user download cache (XDG_CACHE_HOME respected)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "interaction-classifier" / "datasets"


def search_dirs() -> list[tuple[str, Path]]:
    """Candidate roots in resolution order, each with a name for error messages."""
    dirs: list[tuple[str, Path]] = []
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        dirs.append((f"${ENV_DATA_DIR}", Path(env)))
    dirs.append(("../shared/datasets", PROJECT_ROOT.parent / "shared" / "datasets"))
    dirs.append(("user cache", cache_dir()))
    return dirs


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected: str) -> Path:
    """Return ``path`` if its sha256 matches, else raise naming both digests."""
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}. "
            "The file is corrupt or a different version; replace it with the registered one."
        )
    return path


def _download(entry: DataFile, target: Path) -> None:
    """Fetch a file into the cache, verify it, then move it into place atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(entry.url, timeout=30) as resp, partial.open("wb") as out:
            while block := resp.read(1 << 20):
                out.write(block)
        verify(partial, entry.sha256)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def resolve(name: str, key: str, download: bool = True) -> Path:
    """Find (or fetch) one registered file, verified against its checksum."""
    ds = dataset(name)
    if key not in ds.files:
        raise DataError(f"dataset {name!r} has no file {key!r}; files: {sorted(ds.files)}")
    entry = ds.files[key]
    for _, root in search_dirs():
        candidate = root / name / entry.path
        if candidate.is_file():
            return verify(candidate, entry.sha256)
    cached = cache_dir() / name / entry.path
    looked = ", ".join(f"{label} ({root / name})" for label, root in search_dirs())
    hint = (
        f"dataset file {name}/{entry.path} not found; looked in: {looked}. "
        f"Put the file (sha256 {entry.sha256}) at ${ENV_DATA_DIR}/{name}/{entry.path} "
        f"or ../shared/datasets/{name}/{entry.path}."
    )
    if not download or not entry.url:
        reason = "" if entry.url else " It is a derived copy with no public download address."
        raise DataError(hint + reason)
    try:
        _download(entry, cached)
    except DataError:
        raise
    except Exception as exc:  # network failures of any kind end up here
        raise DataError(f"{hint} Download from {entry.url} failed: {exc}") from exc
    return cached
