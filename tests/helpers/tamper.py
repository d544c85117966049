"""Corrupt one byte of a file in place, as a disk error or a careless edit would."""

from __future__ import annotations

from pathlib import Path


def flip_byte(path: Path, offset: int) -> None:
    """Invert every bit of the byte at ``offset``: the file keeps its size, its hash changes."""
    with path.open("r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))
