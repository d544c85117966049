"""Reading inputs chunk by chunk: CSV/TSV/JSONL (optionally gzip) and Parquet, with bad
records kept as rows that carry a read status instead of stopping the run.

Text formats are read as numbered physical lines: every row carries the lines it came from
(``READ_LINES``), and a CSV/TSV record whose quoted field is not closed within
``max_record_lines`` lines, or before the end of the file, is not allowed to swallow the
records after it: its first line becomes a ``malformed_record`` row and parsing restarts
on the next line.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from interaction_classifier.batch.chunks import (
    MALFORMED_JSON,
    MALFORMED_RECORD,
    MALFORMED_ROW,
    READ_STATUS,
)
from interaction_classifier.batch.formats import BatchError, detect_format

# Optional column a reader sets: the physical lines of a row ("7" or "7-9"); kept in the
# work files for the quarantine's ``input_lines``, never written to the scored output.
READ_LINES = "_ic_read_lines"
MAX_RECORD_LINES = 1_000
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class ChunkReader:
    """Iterate an input file as DataFrames of at most ``chunk_size`` rows.

    Text formats are decoded as UTF-8 with U+FFFD for bad bytes (``score`` flags those
    texts ``undecodable``), and so are JSON lone surrogates; CSV/TSV values stay strings
    exactly as written; malformed JSON lines, CSV records with too many fields and quoted
    fields that never close become rows with a read status. An input without rows still
    gives one empty chunk, so that the outputs name their columns.
    """

    def __init__(self, path: Path, chunk_size: int, text_column: str,
                 max_record_lines: int = MAX_RECORD_LINES) -> None:
        self.path = path
        self.format = detect_format(path)
        self.chunk_size = chunk_size
        self.text_column = text_column
        self.max_record_lines = max_record_lines
        self.size = max(path.stat().st_size, 1)
        self.total_rows: int | None = None
        self.lines: int | None = None
        self._header: list[str] | None = None
        self._raw: IO[bytes] | None = None

    def fraction(self) -> float:
        """How far into the input the reader is (bytes, or rows for Parquet)."""
        if self._raw is None or self._raw.closed:
            return 0.0
        return min(self._raw.tell() / self.size, 1.0)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        empty = True
        try:
            for frame in self._chunks():
                empty = False
                yield frame
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise BatchError(f"{self.path}: the gzip file is truncated or corrupt ({exc}); "
                             "nothing after the damage can be read") from exc
        except (pa.ArrowInvalid, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # an environment error (disk, permissions), not a bad file
            raise BatchError(f"{self.path}: not a readable {self.format.kind} file "
                             f"({exc})") from exc
        if empty:
            yield self._empty()

    def _chunks(self) -> Iterator[pd.DataFrame]:
        if self.format.kind == "parquet":
            yield from self._parquet()
            return
        with self.path.open("rb") as raw:
            self._raw = raw
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if self.format.gzip else raw
            lines = self._lines(stream)
            if self.format.kind == "jsonl":
                yield from self._jsonl(lines)
            else:
                yield from self._delimited(lines, "\t" if self.format.kind == "tsv" else ",")
            self.lines = lines.number

    def _lines(self, stream: IO[bytes]) -> _Lines:
        """The stream's physical lines, decoded as UTF-8 (U+FFFD for bad bytes)."""
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        return _Lines(text, self.max_record_lines)

    def _empty(self) -> pd.DataFrame:
        """No rows, but the input's columns (a header-only CSV, a Parquet schema)."""
        if self.format.kind == "parquet":
            schema = pq.ParquetFile(self.path).schema_arrow
            return schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)
        return pd.DataFrame(columns=self._header or [self.text_column], dtype=object)

    def _parquet(self) -> Iterator[pd.DataFrame]:
        parquet = pq.ParquetFile(self.path)
        self.total_rows = parquet.metadata.num_rows
        for batch in parquet.iter_batches(batch_size=self.chunk_size):
            yield batch.to_pandas(types_mapper=pd.ArrowDtype)

    def _delimited(self, lines: _Lines, delimiter: str) -> Iterator[pd.DataFrame]:
        csv.field_size_limit(2**31 - 1)  # long texts are flagged by score, not by csv
        records = _records(lines, delimiter)
        first = next(records, None)
        if first is None:
            raise BatchError(f"{self.path}: empty file, no header row")
        if first[2] is not None:
            raise BatchError(f"{self.path}: the header row opens a quote it never closes")
        header = self._header = first[0]
        duplicated = sorted({c for c in header if header.count(c) > 1})
        if duplicated:
            raise BatchError(f"{self.path}: duplicate column names {duplicated}")
        if self.text_column not in header:
            raise BatchError(f"{self.path}: no text column {self.text_column!r}; "
                             f"columns: {header}")
        rows: list[list[str | None]] = []
        bad: dict[int, str] = {}
        spans: list[str] = []
        for record, span, status in records:
            if not record:
                continue  # a blank line is not a row
            if status is not None:
                bad[len(rows)] = status
                rows.append(self._raw_row(record[0], header, delimiter))
            else:
                rows.append(self._fit(record, header, delimiter, bad, len(rows)))
            spans.append(span)
            if len(rows) == self.chunk_size:
                yield _frame(rows, header, bad, spans)
                rows, bad, spans = [], {}, []
        if rows:
            yield _frame(rows, header, bad, spans)

    def _raw_row(self, line: str, header: list[str], delimiter: str) -> list[str | None]:
        """A malformed record: its raw first line in the text column; the other columns
        get the line's fields by position (best effort, so an id usually survives)."""
        fields = next(csv.reader([line], delimiter=delimiter), [])
        row: list[str | None] = [*fields[: len(header)], *[None] * (len(header) - len(fields))]
        row[header.index(self.text_column)] = line.rstrip("\r\n")
        return row

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

    def _jsonl(self, lines: _Lines) -> Iterator[pd.DataFrame]:
        records: list[dict[str, Any]] = []
        for line in lines:
            lines.buffer.clear()
            if not line.strip():
                continue  # a blank line is not a row
            record = self._parse_line(line)
            record[READ_LINES] = str(lines.number)
            records.append(record)
            if len(records) == self.chunk_size:
                yield _records_frame(records, self.text_column)
                records = []
        if records:
            yield _records_frame(records, self.text_column)

    def _parse_line(self, line: str) -> dict[str, Any]:
        """One JSON object; anything else keeps its raw text, flagged ``malformed_json``.
        Lone surrogates (``"\\ud800"``), which no output can encode, become U+FFFD."""
        text = line.rstrip("\r\n")
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict) and READ_STATUS not in value and READ_LINES not in value:
            return _replace_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value
        return {self.text_column: text, READ_STATUS: MALFORMED_JSON}


class _Lines:
    """Physical lines of a text stream, numbered from 1, with the lines of the record
    being parsed kept in ``buffer`` (at most ``limit``: ``overflow`` then stops the
    parser) and a push-back for parsing them again."""

    def __init__(self, text: IO[str], limit: int) -> None:
        self.text = text
        self.limit = limit
        self.number = 0
        self.buffer: list[str] = []
        self.pushed: list[str] = []
        self.overflow = self.exhausted = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if len(self.buffer) >= self.limit:
            self.overflow = True
            raise StopIteration
        line = self.pushed.pop() if self.pushed else self.text.readline()
        if not line:
            self.exhausted = True
            raise StopIteration
        self.number += 1
        self.buffer.append(line)
        return line

    def restart_after_first(self) -> None:
        """Give back every buffered line but the first, to be parsed again."""
        self.pushed.extend(reversed(self.buffer[1:]))
        self.number -= len(self.buffer) - 1
        self.buffer.clear()
        self.overflow = self.exhausted = False


def _records(lines: _Lines, delimiter: str) -> Iterator[tuple[list[str], str, str | None]]:
    """CSV records with their line span and a read status (``None`` when well formed).

    A record the parser only ended because the line limit or the end of the file was
    reached holds an unclosed quote: its first line is returned as ``[raw line]`` with
    ``malformed_record``, and parsing restarts with a fresh parser on the next line.
    """
    while True:
        for record in csv.reader(lines, delimiter=delimiter):
            first = lines.number - len(lines.buffer) + 1
            if lines.overflow or lines.exhausted:
                raw = lines.buffer[0]
                lines.restart_after_first()
                yield [raw], str(first), MALFORMED_RECORD
                break
            span = str(first) if first == lines.number else f"{first}-{lines.number}"
            lines.buffer.clear()
            yield record, span, None
        else:
            return


def _replace_surrogates(value: Any) -> Any:
    """The JSON value with every lone surrogate in its strings (keys too) as U+FFFD."""
    if isinstance(value, str):
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def _frame(rows: list[list[str | None]], header: list[str], bad: dict[int, str],
           spans: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    if bad:
        frame[READ_STATUS] = pd.Series(bad, dtype=object).reindex(range(len(rows)))
    frame[READ_LINES] = spans
    return frame


def _records_frame(records: list[dict[str, Any]], text_column: str) -> pd.DataFrame:
    """Object dtype keeps JSON values as they were (ints stay ints next to nulls)."""
    frame = pd.DataFrame(records, dtype=object)
    if text_column not in frame.columns:
        frame[text_column] = None
    return frame
