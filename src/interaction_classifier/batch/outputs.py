"""From committed chunk files to output files: scored rows in input order, quarantine,
queue, each written aside and renamed into place (``io.atomic_path``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from interaction_classifier.batch import triage
from interaction_classifier.batch.chunkfiles import (
    ROW,
    chunk_path,
    iter_sorted_rows,
    read_header,
    read_in_input_order,
)
from interaction_classifier.batch.chunks import OK
from interaction_classifier.batch.columns import INPUT_LINES, INPUT_ROW, OutputColumns
from interaction_classifier.batch.formats import FileFormat, detect_format
from interaction_classifier.batch.readers import READ_LINES
from interaction_classifier.batch.writers import FrameWriter, to_arrow, unify_schemas
from interaction_classifier.io import atomic_path


def _ordered_union(lists: list[list[str]]) -> list[str]:
    return list(dict.fromkeys(c for columns in lists for c in columns))


@dataclass
class Finaliser:
    """Turns the committed chunk files into the output files."""

    work: Path
    headers: list[dict[str, Any]]
    columns: list[str]
    names: OutputColumns

    @classmethod
    def load(cls, work: Path, chunks: int, names: OutputColumns) -> Finaliser:
        headers = [read_header(chunk_path(work, i)) for i in range(chunks)]
        inputs = _ordered_union([h["input_columns"] for h in headers])
        rest = _ordered_union([[c for c in h["columns"] if c not in h["input_columns"]]
                               for h in headers])
        return cls(work, headers, inputs + [c for c in rest if c not in inputs], names)

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
        row, lines = self.names.name(INPUT_ROW), self.names.name(INPUT_LINES)
        quarantine_schema = None if schema is None else pa.schema(
            [pa.field(row, pa.int64()), pa.field(lines, pa.string()), *schema])
        with atomic_path(output) as out_tmp, atomic_path(quarantine) as bad_tmp:
            out = FrameWriter(out_tmp, fmt, self.columns, schema)
            bad = FrameWriter(bad_tmp, fmt, [row, lines, *self.columns], quarantine_schema)
            try:
                for frame in self.input_order():
                    out.write(frame)
                    bad.write(self._flagged(frame, row, lines))
            finally:
                out.close()
                bad.close()
        return out.rows, bad.rows

    def _flagged(self, frame: pd.DataFrame, row: str, lines: str) -> pd.DataFrame:
        """The rows not scored, with their 1-based data row and physical lines."""
        flagged = frame[frame[self.names.status] != OK]
        spans = flagged.get(READ_LINES, pd.Series(None, index=flagged.index, dtype=object))
        return flagged.assign(**{row: flagged[ROW].to_numpy() + 1, lines: spans})

    def write_queue(self, path: Path) -> int:
        """The queue file; returns its row count."""
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
        """Every row in queue order (the rule chosen when the chunks were scored)."""
        sources = triage.global_sources([h["keys"] for h in self.headers])
        runs = [iter_sorted_rows(p) for p in self.paths()]
        for frame in triage.merge_sorted_runs(runs, sources, batch_rows):
            yield frame.drop(columns=[ROW, READ_LINES], errors="ignore")

    def top_of_queue(self, n: int) -> pd.DataFrame:
        """The first ``n`` rows of the queue, for the report."""
        first = next(self.queue(batch_rows=n), None)
        return first if first is not None else pd.DataFrame(columns=self.columns)
