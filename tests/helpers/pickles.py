"""A pickle that leaves a marker file when unpickled, and a check that bytes hold a pickle.

Tamper tests plant :class:`Payload` in model files and assert the marker never appears;
artifact tests scan every file a model, an MLflow run or a pyfunc folder holds with
:func:`is_pickle` (plain, compressed, or inside a zip/npz member).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickletools
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

DECOMPRESSORS: tuple[Callable[[bytes], bytes], ...] = (
    zlib.decompress, gzip.decompress, bz2.decompress, lzma.decompress)


class Payload:
    """Unpickling this creates ``marker`` (it stands for any code an attacker would run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def _parses_as_pickle(data: bytes) -> bool:
    """A whole, valid pickle stream (protocol 0 and 1 have no header)."""
    try:
        with warnings.catch_warnings():  # text files parse as odd escape sequences
            warnings.simplefilter("ignore", DeprecationWarning)
            ops = list(pickletools.genops(data))
    except Exception:  # any parse failure means: not a pickle
        return False
    return bool(ops) and ops[-1][0].name == "STOP" and ops[-1][2] == len(data) - 1


def is_pickle(data: bytes, depth: int = 0) -> bool:
    """Whether ``data`` is a pickle: protocol 2+ header, a full protocol 0/1 stream, or one of
    those compressed (zlib, gzip, bz2, xz) or inside a zip member (npz); ``.npy`` members with
    object dtype count too."""
    if data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return True
    if _parses_as_pickle(data):
        return True
    if depth > 2:
        return False
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [archive.read(name) for name in archive.namelist()]
        return any(_npy_object(m) or is_pickle(m, depth + 1) for m in members)
    for decompress in DECOMPRESSORS:
        try:
            inner = decompress(data)
        except Exception:  # not this compression
            continue
        return is_pickle(inner, depth + 1)
    return False


def _npy_object(member: bytes) -> bool:
    """An ``.npy`` array whose dtype is object (numpy stores those as pickles)."""
    if not member.startswith(b"\x93NUMPY"):
        return False
    header = member[10: 10 + int.from_bytes(member[8:10], "little")]
    return b"'descr': '|O'" in header
