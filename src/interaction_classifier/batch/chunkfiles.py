"""The work directory of a run (``<output>.parts/``): its manifest and committed chunk files.

A chunk file is written aside and renamed (``io.atomic_path``), so a chunk is either fully
there or absent whatever kills the run; ``--resume`` skips committed chunks. The manifest
records what must not change between a run and its resume.

Chunk file layout (pickle, internal, never user-facing): a header dict (row range, columns,
statistics, queue sort keys), then the scored rows in queue order, as frames of
``SUB_ROWS`` rows, each with the global input row number in ``ROW``. Input order is
restored by sorting on ``ROW``; the queue is an external merge of these sorted runs.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from interaction_classifier.batch.formats import BatchError
from interaction_classifier.io import atomic_path, write_text

ROW = "__row"
SUB_ROWS = 256
MANIFEST = "manifest.json"


def chunk_path(work: Path, index: int) -> Path:
    return work / f"chunk-{index:07d}.pkl"


def write_chunk_file(path: Path, header: dict[str, Any], ordered: pd.DataFrame) -> None:
    """Write aside, fsync, rename: the rename is the commit of this chunk."""
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        pickle.dump(header, fh, protocol=pickle.HIGHEST_PROTOCOL)
        for start in range(0, len(ordered), SUB_ROWS):
            pickle.dump(ordered.iloc[start:start + SUB_ROWS], fh,
                        protocol=pickle.HIGHEST_PROTOCOL)


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


def check_committed(work: Path, index: int, start: int, rows: int) -> None:
    """A committed chunk must cover the same input rows as the chunk just read."""
    header = read_header(chunk_path(work, index))
    if (header["start"], header["rows"]) != (start, rows):
        raise BatchError(f"cannot resume: chunk {index} no longer matches the input")


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
    write_text(path, json.dumps(manifest, indent=2))
