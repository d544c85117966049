"""Batch scoring of large files: streaming, parallel, resumable, nothing lost.

The input is read in chunks of ``chunk_size`` rows. Each chunk is scored (by
``score.score_chunk``, in a worker process) and committed to the work directory
``<output>.parts/`` as one chunk file, written aside and renamed, so a chunk is either
fully there or absent whatever kills the run. ``--resume`` re-reads the input, skips
committed chunks and scores the rest. Once every chunk is committed the outputs
(scored rows, quarantine, queue, report, summary JSON) are written aside and renamed
into place, then the work directory is removed.

Chunk file layout (pickle, internal, never user-facing): a header dict (row range,
columns, statistics, queue sort keys), then the scored rows in queue order, as frames
of ``SUB_ROWS`` rows, each with the global input row number in ``ROW``. Input order is
restored by sorting on ``ROW``; the queue is an external merge of these sorted runs.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import ctypes.util
import gzip
import io
import json
import os
import pickle
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from interaction_classifier.batch import triage
from interaction_classifier.batch.chunks import (
    MALFORMED_JSON,
    MALFORMED_ROW,
    OK,
    READ_STATUS,
    STATUS_COLUMN,
    VERSION_COLUMN,
    score_chunk,
)
from interaction_classifier.io import atomic_path

ROW = "__row"
SUB_ROWS = 256
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet", ".pq": "parquet"}
URGENCY_BINS = 20
MANIFEST = "manifest.json"
PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


class BatchError(RuntimeError):
    """A problem the user can fix: bad option, unknown format, missing column."""


# ----------------------------------------------------------------------------- formats


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


# ----------------------------------------------------------------------------- reading


class ChunkReader:
    """Iterate an input file as DataFrames of at most ``chunk_size`` rows.

    Text formats are decoded as UTF-8 with U+FFFD for bad bytes (``score`` flags those
    texts ``undecodable``); CSV/TSV values stay strings exactly as written; malformed
    JSON lines and CSV records with too many fields become rows with a read status.
    """

    def __init__(self, path: Path, chunk_size: int, text_column: str) -> None:
        self.path = path
        self.format = detect_format(path)
        self.chunk_size = chunk_size
        self.text_column = text_column
        self.size = max(path.stat().st_size, 1)
        self.total_rows: int | None = None
        self._raw: IO[bytes] | None = None

    def fraction(self) -> float:
        """How far into the input the reader is (bytes, or rows for Parquet)."""
        if self._raw is None or self._raw.closed:
            return 0.0
        return min(self._raw.tell() / self.size, 1.0)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        if self.format.kind == "parquet":
            yield from self._parquet()
            return
        with self.path.open("rb") as raw:
            self._raw = raw
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if self.format.gzip else raw
            if self.format.kind == "jsonl":
                yield from self._jsonl(stream)
            else:
                yield from self._delimited(stream, "\t" if self.format.kind == "tsv" else ",")

    def _parquet(self) -> Iterator[pd.DataFrame]:
        parquet = pq.ParquetFile(self.path)
        self.total_rows = parquet.metadata.num_rows
        for batch in parquet.iter_batches(batch_size=self.chunk_size):
            yield batch.to_pandas(types_mapper=pd.ArrowDtype)

    def _delimited(self, stream: IO[bytes], delimiter: str) -> Iterator[pd.DataFrame]:
        csv.field_size_limit(2**31 - 1)  # long texts are flagged by score, not by csv
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        records = csv.reader(text, delimiter=delimiter)
        header = next(records, None)
        if header is None:
            raise BatchError(f"{self.path}: empty file, no header row")
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if duplicated:
            raise BatchError(f"{self.path}: duplicate column names {duplicated}")
        if self.text_column not in header:
            raise BatchError(f"{self.path}: no text column {self.text_column!r}; "
                             f"columns: {header}")
        rows: list[list[str | None]] = []
        bad: dict[int, str] = {}
        for record in records:
            if not record:
                continue  # a blank line is not a row
            rows.append(self._fit(record, header, delimiter, bad, len(rows)))
            if len(rows) == self.chunk_size:
                yield _frame(rows, header, bad)
                rows, bad = [], {}
        if rows:
            yield _frame(rows, header, bad)

    def _fit(self, record: list[str], header: list[str], delimiter: str,
             bad: dict[int, str], position: int) -> list[str | None]:
        """Pad short records. A record with extra fields is flagged: its other columns keep
        their fields by position (best effort, so an id usually survives) and the text
        column holds the whole raw record, so nothing is lost."""
        if len(record) <= len(header):
            return record + [None] * (len(header) - len(record))
        bad[position] = MALFORMED_ROW
        fitted: list[str | None] = list(record[: len(header)])
        fitted[header.index(self.text_column)] = delimiter.join(record)
        return fitted

    def _jsonl(self, stream: IO[bytes]) -> Iterator[pd.DataFrame]:
        records: list[dict[str, Any]] = []
        for line in stream:
            if not line.strip():
                continue  # a blank line is not a row
            records.append(self._parse_line(line))
            if len(records) == self.chunk_size:
                yield _records_frame(records, self.text_column)
                records = []
        if records:
            yield _records_frame(records, self.text_column)

    def _parse_line(self, line: bytes) -> dict[str, Any]:
        """One JSON object; anything else keeps its raw text, flagged ``malformed_json``."""
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict) and READ_STATUS not in value:
            return value
        return {self.text_column: text, READ_STATUS: MALFORMED_JSON}


def _frame(rows: list[list[str | None]], header: list[str], bad: dict[int, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    if bad:
        frame[READ_STATUS] = pd.Series(bad, dtype=object).reindex(range(len(rows)))
    return frame


def _records_frame(records: list[dict[str, Any]], text_column: str) -> pd.DataFrame:
    """Object dtype keeps JSON values as they were (ints stay ints next to nulls)."""
    frame = pd.DataFrame(records, dtype=object)
    if text_column not in frame.columns:
        frame[text_column] = None
    return frame


# ----------------------------------------------------------------------------- writing


def _json_cell(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _to_arrow_column(values: pd.Series) -> pa.Array:
    """Arrow array of a column; a column of mixed Python types becomes JSON text."""
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array([None if pd.isna(v) is True else _json_cell(v) for v in values],
                        type=pa.string())


def _cast_column(array: pa.Array, target: pa.DataType) -> pa.Array:
    if array.type == target:
        return array
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pa.array([None if v is None else _json_cell(v) for v in array.to_pylist()],
                        type=target)


def to_arrow(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    """Convert for Parquet; with ``schema``, missing columns are null and types cast."""
    if schema is None:
        arrays = [_to_arrow_column(frame[c]) for c in frame.columns]
        return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])
    arrays = []
    for f in schema:
        if f.name in frame.columns:
            arrays.append(_cast_column(_to_arrow_column(frame[f.name]), f.type))
        else:
            arrays.append(pa.nulls(len(frame), type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def unify_schemas(schemas: list[pa.Schema], names: list[str]) -> pa.Schema:
    """One schema for all chunks: nulls take the other type, conflicts become strings."""
    fields = []
    for name in names:
        types = {s.field(name).type for s in schemas if name in s.names}
        types.discard(pa.null())
        if len(types) <= 1:
            fields.append(pa.field(name, types.pop() if types else pa.null()))
            continue
        try:
            merged = pa.unify_schemas([pa.schema([(name, t)]) for t in types],
                                      promote_options="permissive")
            fields.append(merged.field(name))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            fields.append(pa.field(name, pa.string()))
    return pa.schema(fields)


class FrameWriter:
    """Append DataFrames with the same ``columns`` to one file of any supported format.

    The CSV header is written at once, so a file with no rows still names its columns.
    """

    def __init__(self, path: Path, fmt: FileFormat, columns: list[str],
                 schema: pa.Schema | None = None) -> None:
        self.format = fmt
        self.columns = columns
        self.schema = schema
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._binary: IO[bytes] | None = None
        if fmt.kind == "parquet":
            self._parquet = pq.ParquetWriter(path, schema)
            return
        # Closed by close(): the writer outlives any single with-block.
        self._binary = gzip.open(path, "wb") if fmt.gzip else path.open("wb")  # noqa: SIM115
        if fmt.kind != "jsonl":
            self._csv(pd.DataFrame(columns=columns), header=True)

    def _csv(self, frame: pd.DataFrame, header: bool) -> None:
        options = pacsv.WriteOptions(include_header=header, quoting_style="needed",
                                     delimiter="\t" if self.format.kind == "tsv" else ",")
        pacsv.write_csv(to_arrow(frame), self._binary, options)

    def write(self, frame: pd.DataFrame) -> None:
        frame = frame.reindex(columns=self.columns)
        if not len(frame):
            return
        if self._parquet is not None:
            self._parquet.write_table(to_arrow(frame, self.schema), row_group_size=65_536)
        elif self.format.kind == "jsonl":
            text = frame.to_json(orient="records", lines=True, date_format="iso",
                                 force_ascii=False, default_handler=str)
            self._binary.write(text.encode("utf-8"))
        else:
            self._csv(frame, header=False)
        self.rows += len(frame)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._binary is not None:
            self._binary.close()


# ----------------------------------------------------------------------------- chunk files


def chunk_path(work: Path, index: int) -> Path:
    return work / f"chunk-{index:07d}.pkl"


def write_chunk_file(path: Path, header: dict[str, Any], ordered: pd.DataFrame) -> None:
    """Write aside, fsync, rename: the rename is the commit of this chunk."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        pickle.dump(header, fh, protocol=pickle.HIGHEST_PROTOCOL)
        for start in range(0, len(ordered), SUB_ROWS):
            pickle.dump(ordered.iloc[start:start + SUB_ROWS], fh,
                        protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return pickle.load(fh)


def iter_sorted_rows(path: Path) -> Iterator[pd.DataFrame]:
    """The chunk's rows in queue order, one small frame at a time.

    The file is reopened for each frame so that a merge of thousands of chunks does not
    hold thousands of open files.
    """
    offset: int | None = None
    while True:
        with path.open("rb") as fh:
            if offset is None:
                pickle.load(fh)  # header
            else:
                fh.seek(offset)
            try:
                frame = pickle.load(fh)
            except EOFError:
                return
            offset = fh.tell()
        yield frame


def read_in_input_order(path: Path) -> pd.DataFrame:
    frame = pd.concat(list(iter_sorted_rows(path)), ignore_index=True)
    return frame.sort_values(ROW, kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- statistics


def merge_stats(a: Any, b: Any) -> Any:
    """Sum nested dicts of counts (and lists of equal length, for histograms)."""
    if isinstance(a, dict):
        out = dict(a)
        for key, value in b.items():
            out[key] = merge_stats(out[key], value) if key in out else value
        return out
    if isinstance(a, list):
        return [x + y for x, y in zip(a, b, strict=True)]
    return a + b


def _counts(values: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in values.dropna().value_counts().items()}


def label_columns(scored: pd.DataFrame, input_columns: list[str]) -> list[str]:
    """The model's categorical outputs (one per head, plus the priority tier), found by
    dtype so that a model trained on another taxonomy is summarised too."""
    skip = {*input_columns, STATUS_COLUMN, VERSION_COLUMN, ROW}
    return [c for c in scored.columns if c not in skip and not str(c).startswith("p_")
            and (pd.api.types.is_object_dtype(scored[c]) or
                 pd.api.types.is_string_dtype(scored[c]))]


def chunk_stats(scored: pd.DataFrame, input_columns: list[str],
                time_column: str | None) -> dict[str, Any]:
    """Counts for the summary and the report, cheap to merge across chunks."""
    ok = scored[scored[STATUS_COLUMN] == OK]
    urgency = pd.to_numeric(ok.get("urgency"), errors="coerce").dropna()
    histogram, _ = np.histogram(urgency.clip(0, 1), bins=URGENCY_BINS, range=(0, 1))
    stats: dict[str, Any] = {
        "rows": len(scored),
        "status": _counts(scored[STATUS_COLUMN]),
        "labels": {h: _counts(ok[h]) for h in label_columns(scored, input_columns)},
        "needs_review": int(ok["needs_review"].fillna(False).astype(bool).sum())
        if "needs_review" in ok.columns else 0,
        "urgency_histogram": [int(x) for x in histogram],
        "type_by_stage": {},
        "daily": {},
    }
    if {"interaction_type", "journey_stage"} <= set(ok.columns):
        pairs = ok["interaction_type"].astype(str) + "|" + ok["journey_stage"].astype(str)
        stats["type_by_stage"] = _counts(pairs)
    if time_column and time_column in ok.columns and "sentiment" in ok.columns:
        stats["daily"] = _daily_sentiment(ok, time_column)
    return stats


def _daily_sentiment(ok: pd.DataFrame, time_column: str) -> dict[str, dict[str, float]]:
    """Per UTC day: row count, sum of sentiment scores and count per sentiment label."""
    days = triage.parse_times(ok[time_column]).dt.strftime("%Y-%m-%d")
    frame = pd.DataFrame({"day": days, "sentiment": ok["sentiment"].astype(str),
                          "score": pd.to_numeric(ok.get("sentiment_score"), errors="coerce")})
    frame = frame.dropna(subset=["day"])
    out: dict[str, dict[str, float]] = {}
    for day, group in frame.groupby("day"):
        entry = {"n": len(group), "score_sum": float(group["score"].fillna(0).sum())}
        entry.update({str(k): int(v) for k, v in group["sentiment"].value_counts().items()})
        out[str(day)] = entry
    return out


# ----------------------------------------------------------------------------- scoring jobs


@dataclass(frozen=True)
class JobConfig:
    """What a worker needs besides the model and the chunk itself."""

    text_column: str
    time_column: str | None
    work: str


_WORKER: dict[str, Any] = {}


def load_scoring_model(path: str | None) -> Any:
    """The shipped model by default, or the one at ``path``."""
    from interaction_classifier import load_model

    return load_model(path)


def init_worker(config: JobConfig, model: Any, parent: int | None = None) -> None:
    """Set the model and options of this (worker or main) process, once.

    A worker dies with its parent: after a ``kill -9`` of the main process, orphaned
    workers would otherwise wait forever on their task queue.
    """
    _WORKER["config"] = config
    _WORKER["model"] = model
    if parent is not None:
        _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Ask Linux for SIGKILL when the parent exits (no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def process_chunk(index: int, start: int, frame: pd.DataFrame) -> dict[str, Any]:
    """Score one chunk, commit it as a chunk file and return its header."""
    config: JobConfig = _WORKER["config"]
    input_columns = [str(c) for c in frame.columns if c != READ_STATUS]
    scored = score_chunk(_WORKER["model"], frame.reset_index(drop=True), config.text_column)
    rows = np.arange(start, start + len(scored), dtype=np.int64)
    keys = triage.sort_keys(scored, config.time_column, rows)
    order = triage.queue_order(keys["neg_urgency"], keys["time"], keys["row"])
    scored[ROW] = rows
    header = {
        "index": index, "start": start, "rows": len(scored),
        "input_columns": input_columns,
        "columns": [str(c) for c in scored.columns if c != ROW],
        "stats": chunk_stats(scored, input_columns, config.time_column),
        "keys": {name: values[order] for name, values in keys.items()},
    }
    write_chunk_file(chunk_path(Path(config.work), index), header,
                     scored.iloc[order].reset_index(drop=True))
    return {k: header[k] for k in ("index", "rows", "stats")}


# ----------------------------------------------------------------------------- progress


class Progress:
    """A tqdm bar on a terminal, a line per minute otherwise, nothing when quiet."""

    def __init__(self, quiet: bool, reader: ChunkReader, interval: float = 60.0) -> None:
        self.reader = reader
        self.interval = interval
        self.started = time.monotonic()
        self.last_line = self.started
        self.done = 0
        self.mode = "quiet" if quiet else ("bar" if sys.stderr.isatty() else "lines")
        self.bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=None, unit="rows", unit_scale=True, file=sys.stderr,
                            dynamic_ncols=True, smoothing=0.1)

    def estimated_total(self, read_rows: int) -> int | None:
        """Exact for Parquet; for text formats, rows read scaled by the bytes read."""
        if self.reader.total_rows is not None:
            return self.reader.total_rows
        fraction = self.reader.fraction()
        return int(read_rows / fraction) if fraction > 0.01 else None

    def update(self, rows: int, read_rows: int) -> None:
        self.done += rows
        total = self.estimated_total(read_rows)
        if self.bar is not None:
            if total is not None:
                self.bar.total = max(total, self.done)
            self.bar.update(rows)
        elif self.mode == "lines" and time.monotonic() - self.last_line >= self.interval:
            self.last_line = time.monotonic()
            print(self.line(total), file=sys.stderr, flush=True)

    def line(self, total: int | None) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        if total:
            eta = max(total - self.done, 0) / rate if rate else float("nan")
            return (f"score: {self.done:,} of ~{total:,} rows ({self.done / total:.0%}), "
                    f"{rate:,.0f} rows/s, ETA {eta:,.0f} s")
        return f"score: {self.done:,} rows, {rate:,.0f} rows/s"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ----------------------------------------------------------------------------- the run


@dataclass
class ScoreOptions:
    """Everything ``score`` accepts; paths are resolved by ``run``."""

    input: Path
    output: Path | None = None
    text_column: str = "text"
    id_column: str | None = None
    time_column: str | None = None
    workers: int = 1
    chunk_size: int = 10_000
    resume: bool = False
    quiet: bool = False
    model: Path | None = None
    queue: Path | None = None
    report: Path | None = None

    def resolved_output(self) -> Path:
        if self.output is not None:
            return self.output
        fmt = detect_format(self.input)
        stem = self.input.name[: len(self.input.name) - len(fmt.suffix)]
        return self.input.with_name(f"{stem}.scored{fmt.suffix}")


def _manifest(options: ScoreOptions, version: str) -> dict[str, Any]:
    """What must not change between a run and its resume."""
    stat = options.input.stat()
    return {"input": str(options.input.resolve()), "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns, "text_column": options.text_column,
            "time_column": options.time_column, "chunk_size": options.chunk_size,
            "model_version": version}


def prepare_work_dir(work: Path, manifest: dict[str, Any], resume: bool,
                     say: Callable[[str], None]) -> None:
    """Reuse the work dir of an interrupted run (``resume``) or start a clean one."""
    path = work / MANIFEST
    if resume and path.is_file():
        previous = json.loads(path.read_text())
        changed = sorted(k for k in manifest if previous.get(k) != manifest[k])
        if changed:
            raise BatchError(f"cannot resume: {', '.join(changed)} changed since the "
                             f"interrupted run; run without --resume to start over")
        say(f"resuming from {work}")
        return
    if resume:
        say("nothing to resume; starting a new run")
    elif work.exists():
        say(f"discarding the unfinished run in {work} (use --resume to continue it)")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))


def start_pool(workers: int, config: JobConfig, model: Any) -> ProcessPoolExecutor | None:
    """Worker processes forked from this one, so they share the loaded model's memory
    (copy-on-write) instead of loading a copy each. Started before any progress thread
    exists, which is what makes forking safe; one worker means scoring in-process."""
    if workers == 1:
        init_worker(config, model)
        return None
    pool = ProcessPoolExecutor(workers, mp_context=get_context("fork"),
                               initializer=init_worker, initargs=(config, model, os.getpid()))
    pool.submit(int).result()  # forks every worker now
    return pool


def _score_all(pool: ProcessPoolExecutor | None, workers: int, reader: ChunkReader,
               work: Path, progress: Progress) -> tuple[int, int]:
    """Score every chunk not yet committed; returns (chunks, rows scored in this run).

    At most two chunks per worker are in flight, which bounds memory whatever the file
    size; results are taken in submission order.
    """
    pending: deque[Future[dict[str, Any]]] = deque()
    read_rows = scored_now = chunks = 0
    for index, frame in enumerate(reader):
        chunks = index + 1
        start, read_rows = read_rows, read_rows + len(frame)
        if chunk_path(work, index).exists():
            _check_committed(work, index, start, len(frame))
            progress.update(len(frame), read_rows)
            continue
        scored_now += len(frame)
        if pool is None:
            progress.update(process_chunk(index, start, frame)["rows"], read_rows)
            continue
        pending.append(pool.submit(process_chunk, index, start, frame))
        while len(pending) >= 2 * workers:
            progress.update(pending.popleft().result()["rows"], read_rows)
    while pending:
        progress.update(pending.popleft().result()["rows"], read_rows)
    return chunks, scored_now


def _check_committed(work: Path, index: int, start: int, rows: int) -> None:
    header = read_header(chunk_path(work, index))
    if (header["start"], header["rows"]) != (start, rows):
        raise BatchError(f"cannot resume: chunk {index} no longer matches the input")


def _ordered_union(lists: list[list[str]]) -> list[str]:
    return list(dict.fromkeys(c for columns in lists for c in columns))


@dataclass
class Finaliser:
    """Turns the committed chunk files into the output files."""

    work: Path
    headers: list[dict[str, Any]]
    columns: list[str]

    @classmethod
    def load(cls, work: Path, chunks: int) -> Finaliser:
        headers = [read_header(chunk_path(work, i)) for i in range(chunks)]
        inputs = _ordered_union([h["input_columns"] for h in headers])
        rest = _ordered_union([[c for c in h["columns"] if c not in h["input_columns"]]
                               for h in headers])
        return cls(work, headers, inputs + [c for c in rest if c not in inputs])

    def paths(self) -> list[Path]:
        return [chunk_path(self.work, h["index"]) for h in self.headers]

    def schema(self, fmt: FileFormat) -> pa.Schema | None:
        """Parquet schema over all chunks (an extra pass, only for Parquet outputs)."""
        if fmt.kind != "parquet":
            return None
        return unify_schemas([to_arrow(f.reindex(columns=self.columns)).schema
                              for f in self.input_order()], self.columns)

    def write_scored(self, output: Path, quarantine: Path) -> tuple[int, int]:
        """Output and quarantine in one pass over the chunks; returns both row counts."""
        fmt = detect_format(output)
        schema = self.schema(fmt)
        quarantine_schema = None if schema is None else pa.schema(
            [pa.field("input_row", pa.int64()), *schema])
        with atomic_path(output) as out_tmp, atomic_path(quarantine) as bad_tmp:
            out = FrameWriter(out_tmp, fmt, self.columns, schema)
            bad = FrameWriter(bad_tmp, fmt, ["input_row", *self.columns], quarantine_schema)
            try:
                for frame in self.input_order():
                    flagged = frame[frame[STATUS_COLUMN] != OK]
                    out.write(frame)
                    bad.write(flagged.assign(input_row=flagged[ROW].to_numpy() + 1))
            finally:
                out.close()
                bad.close()
        return out.rows, bad.rows

    def write_queue(self, path: Path) -> int:
        fmt = detect_format(path)
        with atomic_path(path) as tmp:
            writer = FrameWriter(tmp, fmt, self.columns, self.schema(fmt))
            try:
                for frame in self.queue():
                    writer.write(frame)
            finally:
                writer.close()
        return writer.rows

    def input_order(self) -> Iterator[pd.DataFrame]:
        """Each chunk's rows in input order, with the global row number in ``ROW``."""
        for path in self.paths():
            yield read_in_input_order(path)

    def queue(self, batch_rows: int = 10_000) -> Iterator[pd.DataFrame]:
        sources = triage.global_sources([h["keys"] for h in self.headers])
        runs = [iter_sorted_rows(p) for p in self.paths()]
        for frame in triage.merge_sorted_runs(runs, sources, batch_rows):
            yield frame.drop(columns=[ROW])

    def top_of_queue(self, n: int) -> pd.DataFrame:
        first = next(self.queue(batch_rows=n), None)
        return first if first is not None else pd.DataFrame(columns=self.columns)


def run(options: ScoreOptions, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score ``options.input`` end to end and return the summary (also written as JSON)."""
    say = say or (lambda message: None)
    started = time.monotonic()
    _validate(options)
    output = options.resolved_output()
    work = output.with_name(output.name + ".parts")
    model = load_scoring_model(str(options.model) if options.model else None)
    prepare_work_dir(work, _manifest(options, model.version), options.resume, say)
    reader = ChunkReader(options.input, options.chunk_size, options.text_column)
    config = JobConfig(options.text_column, options.time_column, str(work))
    pool = start_pool(options.workers, config, model)
    progress = Progress(options.quiet, reader)
    try:
        chunks, scored_now = _score_all(pool, options.workers, reader, work, progress)
    finally:
        progress.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    seconds = time.monotonic() - started
    throughput = {
        "rows_scored_this_run": scored_now, "scoring_seconds": round(seconds, 3),
        "rows_per_second": round(scored_now / seconds, 1) if seconds else 0.0,
        "workers": options.workers, "chunk_size": options.chunk_size,
    }
    finaliser = Finaliser.load(work, chunks)
    _check_columns(options, finaliser.columns)
    summary = _finalise(options, output, finaliser, model.version, throughput)
    summary["throughput"]["total_seconds"] = round(time.monotonic() - started, 3)
    with atomic_path(sibling(output, "summary", ".json")) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=str))
    shutil.rmtree(work)
    return summary


def _validate(options: ScoreOptions) -> None:
    if not options.input.is_file():
        raise BatchError(f"input file not found: {options.input}")
    if options.workers < 1 or options.chunk_size < 1:
        raise BatchError("--workers and --chunk-size must be at least 1")
    for path in (options.input, options.resolved_output(), options.queue):
        if path is not None:
            detect_format(path)
    if options.report is not None and options.report.suffix.lower() not in (".html", ".htm"):
        raise BatchError(f"{options.report}: the report is HTML; name it *.html")


def _check_columns(options: ScoreOptions, columns: list[str]) -> None:
    """Optional columns must exist: a typo would silently lose the queue's tie-break."""
    for flag, name in (("--id-column", options.id_column),
                       ("--time-column", options.time_column)):
        if name is not None and name not in columns:
            raise BatchError(f"{flag} {name!r} is not a column of {options.input}")


def _finalise(options: ScoreOptions, output: Path, fin: Finaliser, version: str,
              throughput: dict[str, Any]) -> dict[str, Any]:
    """Write output, quarantine, queue and report; return the summary."""
    stats: dict[str, Any] = {}
    for header in fin.headers:
        stats = merge_stats(stats, header["stats"]) if stats else header["stats"]
    rows_in = sum(h["rows"] for h in fin.headers)
    quarantine = sibling(output, "quarantine")
    rows_out, _ = fin.write_scored(output, quarantine)
    if options.queue is not None:
        queued = fin.write_queue(options.queue)
        if queued != rows_in:
            raise BatchError(f"queue has {queued} rows for {rows_in} input rows")
    if rows_out != rows_in:
        raise BatchError(f"wrote {rows_out} rows for {rows_in} input rows")
    summary = _summary(options, output, quarantine, version, rows_in, rows_out, stats)
    summary["throughput"] = throughput
    if options.report is not None:
        from interaction_classifier.batch.report import write_report

        write_report(options.report, summary, stats, fin.top_of_queue(50), options)
    return summary


def _summary(options: ScoreOptions, output: Path, quarantine: Path, version: str,
             rows_in: int, rows_out: int, stats: dict[str, Any]) -> dict[str, Any]:
    status = stats.get("status", {})
    scored = status.get(OK, 0)
    return {
        "input": str(options.input), "output": str(output), "quarantine": str(quarantine),
        "queue": str(options.queue) if options.queue else None,
        "report": str(options.report) if options.report else None,
        "model_version": version,
        "rows_in": rows_in, "rows_out": rows_out, "rows_in_equals_rows_out": rows_in == rows_out,
        "scored": scored, "flagged": rows_in - scored,
        "flagged_by_reason": {k: v for k, v in sorted(status.items()) if k != OK},
        "needs_review": stats.get("needs_review", 0),
        "labels": stats.get("labels", {}),
        "priority_tiers": stats.get("labels", {}).get("priority", {}),
        "options": {k: str(v) if isinstance(v, Path) else v
                    for k, v in asdict(options).items()},
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The human-readable summary printed at the end of a run."""
    t = summary.get("throughput", {})
    check = "yes" if summary["rows_in_equals_rows_out"] else "NO"
    lines = [
        f"rows in {summary['rows_in']:,} | rows out {summary['rows_out']:,} "
        f"(rows in = rows out: {check})",
        f"scored {summary['scored']:,} | flagged {summary['flagged']:,} "
        + (f"{summary['flagged_by_reason']}" if summary["flagged"] else ""),
        f"needs review {summary['needs_review']:,}",
    ]
    for head, counts in summary["labels"].items():
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda x: -x[1]))
        lines.append(f"{head}: {shown}")
    lines.append(f"throughput {t.get('rows_per_second', 0):,.0f} rows/s "
                 f"({t.get('rows_scored_this_run', 0):,} rows in {t.get('scoring_seconds', 0)} s, "
                 f"{t.get('workers', 1)} worker(s)); model {summary['model_version']}")
    lines.append(f"output {summary['output']}; quarantine {summary['quarantine']}")
    for key in ("queue", "report"):
        if summary.get(key):
            lines.append(f"{key} {summary[key]}")
    return "\n".join(lines)
