"""Reading inputs chunk by chunk: CSV/TSV/JSONL (optionally gzip) and Parquet, with bad
records kept as rows that carry a read status instead of stopping the run."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow.parquet as pq

from interaction_classifier.batch.chunks import MALFORMED_JSON, MALFORMED_ROW, READ_STATUS
from interaction_classifier.batch.formats import BatchError, detect_format


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
