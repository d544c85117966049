"""The work directory of a run (``<output>.parts/``): its lock, manifest and chunk files.

A chunk file is written aside and renamed (``io.atomic_path``), so a chunk is either fully
there or absent whatever kills the run; ``--resume`` skips committed chunks. The manifest
and every chunk record the input's fingerprint and the run's config digest, so a resume
never mixes chunks of another input or config. One run at a time holds the lock.

Chunk file layout (Arrow IPC, never pickle: reading one cannot run code): the header (row
range, columns, statistics, fingerprint, config digest, column codecs) as JSON in the
schema metadata, then the scored rows in queue order in record batches of ``SUB_ROWS``
rows, with the global input row number in ``ROW`` and the queue sort keys in ``KEY_*``
columns. Input order is restored by sorting on ``ROW``; the queue is an external merge of
these sorted runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import pandas as pd
import pyarrow as pa

from interaction_classifier.batch.formats import BatchError
from interaction_classifier.io import atomic_path, write_text

ROW = "__ic_row"
KEY_PREFIX = "__ic_key_"
SUB_ROWS = 256
MANIFEST = "manifest.json"
HEADER_KEY = b"interaction_classifier.chunk"
HEAD_BYTES = 1 << 20


def chunk_path(work: Path, index: int) -> Path:
    return work / f"chunk-{index:07d}.arrow"


def lock_path(work: Path) -> Path:
    """Next to the work directory, which is removed and recreated under the lock."""
    return work.with_name(work.name + ".lock")


@contextlib.contextmanager
def locked(work: Path, other: str = "choose another -o") -> Iterator[None]:
    """Hold the run's exclusive lock; a second run on the same output refuses at once,
    with ``other`` saying how to point it elsewhere."""
    path = lock_path(work)
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout as exc:
        raise BatchError(f"another score run is writing this output (it holds {path}); "
                         f"wait for it to finish or {other}") from exc
    try:
        yield
    finally:
        lock.release()


def fingerprint(path: Path) -> dict[str, Any]:
    """What identifies an input file: path, size, mtime and a hash of its first MiB."""
    stat = path.stat()
    with path.open("rb") as fh:
        head = hashlib.sha256(fh.read(HEAD_BYTES)).hexdigest()
    return {"input": str(path.resolve()), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "head_sha256": head}


def digest(config: dict[str, Any]) -> str:
    """A stable digest of the run's config (JSON values)."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _encode(series: pd.Series) -> tuple[pa.Array, str]:
    """An Arrow array and the codec that restores the column exactly.

    Object columns of strings are strings; other object columns (JSON values of mixed
    types) are stored cell by cell as JSON text; Arrow-backed columns keep their Arrow
    type; other typed columns keep their dtype name.
    """
    if series.dtype == object:
        values = series.tolist()
        present = [v for v in values if not _is_null(v)]
        if all(isinstance(v, str) for v in present):
            return pa.array([None if _is_null(v) else v for v in values], pa.string()), "str"
        cells = [None if v is None else json.dumps(v, default=str) for v in values]
        return pa.array(cells, pa.string()), "json"
    if isinstance(series.dtype, pd.ArrowDtype):
        return pa.Array.from_pandas(series), "arrow"
    return pa.Array.from_pandas(series), f"native:{series.dtype}"


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _decode(array: pa.Array | pa.ChunkedArray, codec: str) -> pd.Series:
    if codec == "str":
        return pd.Series(array.to_numpy(zero_copy_only=False), dtype=object)
    if codec == "json":
        return pd.Series([None if v is None else json.loads(v) for v in array.to_pylist()],
                         dtype=object)
    if codec == "arrow":
        return array.to_pandas(types_mapper=pd.ArrowDtype)
    dtype = codec.removeprefix("native:")
    series = array.to_pandas()
    return series if str(series.dtype) == dtype else series.astype(dtype)


def write_chunk_file(path: Path, header: dict[str, Any], ordered: pd.DataFrame,
                     keys: dict[str, np.ndarray]) -> None:
    """Write aside, fsync, rename: the rename is the commit of this chunk.

    ``ordered`` holds the rows in queue order with ``ROW``; ``keys`` their sort keys.
    """
    arrays, names, codecs = [], [], {}
    for column in ordered.columns:
        array, codecs[str(column)] = _encode(ordered[column].reset_index(drop=True))
        arrays.append(array)
        names.append(str(column))
    for name, values in keys.items():
        matrix = np.asarray(values)
        matrix = matrix[:, None] if matrix.ndim == 1 else matrix
        for i in range(matrix.shape[1]):
            arrays.append(pa.array(matrix[:, i]))
            names.append(f"{KEY_PREFIX}{name}_{i}")
    meta = {**header, "codecs": codecs}
    table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(
        {HEADER_KEY: json.dumps(meta).encode()})
    with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink, \
            pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=SUB_ROWS)


def _open(path: Path) -> pa.ipc.RecordBatchFileReader:
    """Open a chunk file; anything that is not one (e.g. a planted pickle) is refused."""
    try:
        reader = pa.ipc.open_file(pa.memory_map(str(path)))
        meta = reader.schema.metadata or {}
        if HEADER_KEY not in meta:
            raise ValueError("no chunk header")
    except (pa.ArrowInvalid, ValueError, OSError) as exc:
        raise BatchError(f"cannot resume: {path.name} is not a chunk file written by this "
                         "tool; run without --resume to start over") from exc
    return reader


def read_header(path: Path) -> dict[str, Any]:
    """The chunk's header, with its sort keys (``keys``) read from the key columns."""
    reader = _open(path)
    header = json.loads(reader.schema.metadata[HEADER_KEY])
    table = reader.read_all()
    keys: dict[str, Any] = {}
    for name in table.column_names:
        if name.startswith(KEY_PREFIX):
            key = name.removeprefix(KEY_PREFIX).rsplit("_", 1)[0]
            keys.setdefault(key, []).append(table.column(name).to_numpy())
    header["keys"] = {k: np.column_stack(v) if k == "rank" else v[0] for k, v in keys.items()}
    return header


def _frame(data: pa.RecordBatch | pa.Table, codecs: dict[str, str]) -> pd.DataFrame:
    """The rows as written: typed columns converted together (fast), the rest one by one."""
    frame = data.select(list(codecs)).to_pandas()
    for name, codec in codecs.items():
        if codec != f"native:{frame[name].dtype}":
            frame[name] = _decode(data.column(name), codec)
    return frame


def iter_sorted_rows(path: Path) -> Iterator[pd.DataFrame]:
    """The chunk's rows in queue order, one small frame at a time.

    The file is reopened for each frame so that a merge of thousands of chunks does not
    hold thousands of open files.
    """
    index = 0
    while True:
        reader = _open(path)
        if index >= reader.num_record_batches:
            return
        codecs = json.loads(reader.schema.metadata[HEADER_KEY])["codecs"]
        frame = _frame(reader.get_batch(index), codecs)
        index += 1
        yield frame


def read_in_input_order(path: Path) -> pd.DataFrame:
    reader = _open(path)
    codecs = json.loads(reader.schema.metadata[HEADER_KEY])["codecs"]
    frame = _frame(reader.read_all(), codecs)
    return frame.sort_values(ROW, kind="stable").reset_index(drop=True)


def check_committed(work: Path, index: int, start: int, rows: int, run: Any) -> None:
    """A committed chunk must come from this input and config (``run.fingerprint``,
    ``run.digest``) and cover the rows just read; anything else is refused rather than
    mixed into the output."""
    path = chunk_path(work, index)
    header = read_header(path)
    if header.get("fingerprint") != run.fingerprint:
        raise BatchError(f"cannot resume: {path.name} was written for another input "
                         f"({header.get('fingerprint', {}).get('input')}); run without "
                         "--resume to start over")
    if header.get("config") != run.digest:
        raise BatchError(f"cannot resume: {path.name} was written with other options or "
                         "another model; run without --resume to start over")
    if (header["start"], header["rows"]) != (start, rows):
        raise BatchError(f"cannot resume: chunk {index} no longer matches the input")


def prepare_work_dir(work: Path, manifest: dict[str, Any], resume: bool,
                     say: Callable[[str], None]) -> None:
    """Reuse the work dir of an interrupted run (``resume``) or start a clean one.

    Call with the lock held. Temporary files an interrupted write left in the work
    directory are removed (next to the outputs: ``remove_leftovers``).
    """
    path = work / MANIFEST
    if resume and path.is_file():
        previous = json.loads(path.read_text())
        changed = sorted("the input file" if k == "fingerprint" else k for k in manifest
                         if previous.get(k) != manifest[k] and k != "config_digest")
        if changed or previous.get("config_digest") != manifest["config_digest"]:
            raise BatchError(f"cannot resume: {', '.join(changed) or 'the config'} changed "
                             "since the interrupted run; run without --resume to start over")
        for tmp in work.glob(".*.tmp-*"):
            tmp.unlink()
        say(f"resuming from {work}")
        return
    if resume:
        say("nothing to resume; starting a new run")
    elif work.exists():
        say(f"discarding the unfinished run in {work} (use --resume to continue it)")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    write_text(path, json.dumps(manifest, indent=2))


def remove_leftovers(outputs: list[Path]) -> None:
    """Delete temporary files a killed final write left next to ``outputs``."""
    for output in outputs:
        for tmp in output.parent.glob(f".{output.name}.tmp-*"):
            tmp.unlink(missing_ok=True)
