"""File formats of batch inputs and outputs, named by suffix, and the paths of side files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet", ".pq": "parquet"}


class BatchError(RuntimeError):
    """A problem the user can fix: bad option, unknown format, missing column."""


class CountMismatch(BatchError):
    """Rows in and rows out differ: never expected, so the run fails loudly (exit 1)."""


@dataclass(frozen=True)
class FileFormat:
    """How a file is encoded, from its suffixes: ``kind`` and gzip compression."""

    kind: str
    gzip: bool = False

    @property
    def suffix(self) -> str:
        return f".{self.kind}" + (".gz" if self.gzip else "")


def detect_format(path: Path) -> FileFormat:
    """``.csv``, ``.tsv``, ``.jsonl``/``.ndjson``, ``.parquet``/``.pq``, optionally ``.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    if compressed:
        suffixes = suffixes[:-1]
    kind = FORMATS.get(suffixes[-1]) if suffixes else None
    if kind is None:
        raise BatchError(f"{path}: unknown format; use one of {sorted(FORMATS)}, "
                         "optionally followed by .gz")
    if kind == "parquet" and compressed:
        raise BatchError(f"{path}: Parquet is compressed internally; drop the .gz suffix")
    return FileFormat(kind, compressed)


def sibling(output: Path, tag: str, suffix: str | None = None) -> Path:
    """``scored.csv.gz`` + ``quarantine`` -> ``scored.quarantine.csv.gz`` (same folder)."""
    fmt_suffix = detect_format(output).suffix
    stem = output.name[: len(output.name) - len(fmt_suffix)]
    return output.with_name(f"{stem}.{tag}{suffix or output.name[len(stem):]}")
