"""Scoring jobs: worker processes that share the loaded model, one committed chunk file per
job, a bounded number of jobs in flight, and progress on stderr."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from interaction_classifier.batch import triage
from interaction_classifier.batch.chunkfiles import (
    ROW,
    check_committed,
    chunk_path,
    write_chunk_file,
)
from interaction_classifier.batch.chunks import READ_STATUS
from interaction_classifier.batch.columns import INTERNAL_PREFIX, OutputColumns, score_added
from interaction_classifier.batch.readers import READ_LINES, ChunkReader
from interaction_classifier.batch.stats import chunk_stats
from interaction_classifier.text.redact import Redactor

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's largest on 64-bit
TRIM_THRESHOLD = 2**30
TIME = f"{INTERNAL_PREFIX}time"


@dataclass(frozen=True)
class JobConfig:
    """What a worker needs besides the model and the chunk itself."""

    text_column: str
    time_column: str | None
    work: str
    rule: triage.QueueRule
    label_columns: tuple[str, ...]
    columns: OutputColumns
    fingerprint: dict[str, Any]
    digest: str
    review: dict[str, float] | None = None
    priority: dict[str, float] | None = None
    redact: tuple[str, ...] = ()  # input columns whose text is masked in every output
    redact_patterns: tuple[tuple[str, str], ...] = ()


_WORKER: dict[str, Any] = {}


def init_worker(config: JobConfig, model: Any, parent: int | None = None) -> None:
    """Set the model and options of this (worker or main) process, once.

    A worker dies with its parent: after a ``kill -9`` of the main process, orphaned
    workers would otherwise wait forever on their task queue.
    """
    _WORKER["config"] = config
    _WORKER["model"] = model
    keep_freed_memory()
    if parent is not None:
        _die_with_parent(parent)


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for the next chunk instead of returning it to the
    system (False where that is not glibc).

    A chunk's feature arrays are tens of MB, allocated and freed once per chunk; by default
    glibc maps such blocks fresh and unmaps them on free, so every chunk faults its pages in
    again, which on this VM made the same chunk cost 130 to 330 us a row (the CSR stacking
    alone 3.5 to 58; docs/benchmarks.md). Memory stays at the largest chunk's peak, which
    the chunk size already bounds.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)
                    and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return False


def _die_with_parent(parent: int) -> None:
    """Ask Linux for SIGKILL when the parent exits (no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def process_chunk(index: int, start: int, frame: pd.DataFrame) -> dict[str, Any]:
    """Score one chunk, commit it as a chunk file and return its header.

    Statistics and queue keys are computed on the added columns under their own names
    (the time column under an internal one), whatever ``--output-prefix`` makes of them.
    """
    config: JobConfig = _WORKER["config"]
    frame = frame.reset_index(drop=True)
    inputs = frame.drop(columns=[READ_STATUS, READ_LINES], errors="ignore")
    config.columns.check(inputs.columns)
    added = score_added(_WORKER["model"], frame, config.text_column,
                        review=config.review, priority=config.priority)
    time = TIME if config.time_column in inputs.columns else None
    view = added.assign(**{TIME: inputs[config.time_column]}) if time else added
    rows = np.arange(start, start + len(frame), dtype=np.int64)
    keys = triage.sort_keys(view, config.rule, time, rows)
    order = triage.queue_order(keys["rank"], keys["time"], keys["row"])
    scored = pd.concat([masked(inputs, config), config.columns.prefixed(added)], axis=1)
    header = {
        "index": index, "start": start, "rows": len(scored),
        "input_columns": [str(c) for c in inputs.columns],
        "columns": [str(c) for c in scored.columns],
        "stats": chunk_stats(view, list(config.label_columns), time),
        "fingerprint": config.fingerprint, "config": config.digest,
    }
    scored[ROW] = rows
    if READ_LINES in frame.columns:
        scored[READ_LINES] = frame[READ_LINES]
    write_chunk_file(chunk_path(Path(config.work), index), header,
                     scored.iloc[order].reset_index(drop=True),
                     {name: values[order] for name, values in keys.items()})
    return {k: header[k] for k in ("index", "rows", "stats")}


def masked(inputs: pd.DataFrame, config: JobConfig) -> pd.DataFrame:
    """The input columns with personal data masked (``--redact``), after scoring on the raw
    text: chunk files, outputs, quarantine, queue and report then never hold it."""
    columns = [c for c in config.redact if c in inputs.columns]
    if not columns:
        return inputs
    redactor = Redactor(dict(config.redact_patterns))
    return inputs.assign(**{c: redactor.redact_all(inputs[c].tolist()) for c in columns})


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


def score_all(pool: ProcessPoolExecutor | None, workers: int, reader: ChunkReader,
              config: JobConfig, progress: Progress) -> tuple[int, int]:
    """Score every chunk not yet committed; returns (chunks, rows scored in this run).

    At most two chunks per worker are in flight, which bounds memory whatever the file
    size; results are taken in submission order.
    """
    work = Path(config.work)
    pending: deque[Future[dict[str, Any]]] = deque()
    read_rows = scored_now = chunks = 0
    for index, frame in enumerate(reader):
        chunks = index + 1
        start, read_rows = read_rows, read_rows + len(frame)
        if chunk_path(work, index).exists():
            check_committed(work, index, start, len(frame), config)
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
