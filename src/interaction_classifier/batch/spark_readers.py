"""Spark readers with the local reader's parsing rules, so both engines give the same rows
and statuses: Parquet natively, CSV/TSV one task per file through ``ChunkReader``'s
parser, JSONL split by line with the local JSON line parser.

Spark's own CSV and JSON readers turn empty fields into nulls, drop extra fields and
stringify numbers, which would change statuses; they are used only for JSONL type inference.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_classifier.batch.chunks import READ_STATUS
from interaction_classifier.batch.formats import BatchError, FileFormat, detect_format
from interaction_classifier.batch.readers import MAX_RECORD_LINES, ChunkReader
from interaction_classifier.text.validate import NON_TEXT, text_status


def input_format(path: Path) -> FileFormat:
    """The format of a file, or of the data files of a directory (one format for all)."""
    if not path.is_dir():
        return detect_format(path)
    formats = {detect_format(p) for p in data_files(path)}
    if len(formats) != 1:
        raise BatchError(f"{path}: expected data files of one format, found "
                         f"{sorted(f.suffix for f in formats) or 'none'}")
    return formats.pop()


def data_files(path: Path) -> list[Path]:
    """Data files of a directory, skipping Spark/Hadoop markers (``_SUCCESS``, ``.crc``)."""
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file()
                  and not p.name.startswith(("_", ".")) and p.suffix != ".crc")


class _BytesReader(ChunkReader):
    """The local reader's parsing rules over one file's bytes (a Spark task's input)."""

    def __init__(self, name: str, chunk_size: int, text_column: str) -> None:
        self.path = Path(name)
        self.format = detect_format(self.path)
        self.chunk_size = chunk_size
        self.text_column = text_column
        self.max_record_lines = MAX_RECORD_LINES
        self.size = 1
        self.total_rows = self.lines = self._header = None
        self._raw = None

    def frames(self, data: bytes) -> Iterator[pd.DataFrame]:
        stream = io.BytesIO(gzip.decompress(data) if self.format.gzip else data)
        yield from self._delimited(self._lines(stream),
                                   "\t" if self.format.kind == "tsv" else ",")

    def parse(self, line: bytes) -> tuple[str | None, str | None]:
        """One JSONL line -> (text as carried, reader status).

        A Spark column has one type, so a number or list in the text field is carried as
        JSON text and flagged here, with ``text_status``, as ``score_chunk`` would flag it.
        """
        record = self._parse_line(line.decode("utf-8", errors="replace"))
        value, status = record.get(self.text_column), record.get(READ_STATUS)
        if status is None and text_status(value) == NON_TEXT:
            return json.dumps(value, default=str), NON_TEXT
        return value, status


def _header(path: Path, fmt: FileFormat) -> list[str]:
    """The header record of a CSV/TSV file, parsed like the local reader does."""
    opener = gzip.open if fmt.gzip else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
        csv.field_size_limit(2**31 - 1)
        return next(csv.reader(fh, delimiter="\t" if fmt.kind == "tsv" else ","), [])


def _strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns with None for missing: pyspark cannot turn a NaN into a string."""
    return frame.astype(object).where(frame.notna(), None)


def read_delimited(spark: SparkSession, path: Path, fmt: FileFormat, text_col: str,
                   chunk_size: int) -> DataFrame:
    """CSV/TSV as strings, exactly as the local reader parses them: one task per file."""
    files = data_files(path)
    headers = {tuple(_header(p, fmt)) for p in files}
    if len(headers) != 1:
        raise BatchError(f"{path}: the files do not share one header: {sorted(headers)}")
    header = list(headers.pop())
    if text_col not in header:
        raise BatchError(f"{path}: no text column {text_col!r}; columns: {header}")
    columns = [*header, READ_STATUS]
    schema = T.StructType([T.StructField(c, T.StringType()) for c in columns])

    def parse(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            for name, data in zip(batch["path"], batch["content"], strict=True):
                for frame in _BytesReader(name, chunk_size, text_col).frames(data):
                    yield _strings(frame.reindex(columns=columns))

    raw = spark.read.format("binaryFile").load([str(p) for p in files])
    return raw.select("path", "content").mapInPandas(parse, schema)


def read_jsonl(spark: SparkSession, path: Path, text_col: str) -> DataFrame:
    """JSONL split by line: columns typed by Spark's JSON inference, and the text column
    and reader status by the local reader's parser (so statuses are the local ones)."""
    paths = [str(p) for p in data_files(path)]
    inferred = spark.read.json(paths).schema
    fields = [f for f in inferred.fields if f.name not in (text_col, "_corrupt_record")]
    schema = T.StructType(fields)

    @F.pandas_udf("text string, status string")  # type: ignore[call-overload]
    def parse(lines: pd.Series) -> pd.DataFrame:
        reader = _BytesReader("part.jsonl", 1, text_col)
        parsed = [reader.parse(line) for line in lines]
        return pd.DataFrame(parsed, columns=["text", "status"], dtype=object)

    lines = (spark.read.option("lineSep", "\n").text(paths)
             .where(~F.col("value").rlike(r"^\s*$")))
    head = parse(F.col("value").cast("binary")).alias("h")
    if not fields:
        return lines.select(head).select(F.col("h.text").alias(text_col),
                                         F.col("h.status").alias(READ_STATUS))
    parsed = lines.select(F.from_json(F.col("value"), schema).alias("j"), head)
    order = [f.name for f in inferred.fields if f.name != "_corrupt_record"]
    if text_col not in order:
        order.append(text_col)
    return parsed.select(*[F.col("h.text").alias(c) if c == text_col
                           else F.col("j")[c].alias(c) for c in order],
                         F.col("h.status").alias(READ_STATUS))


def read_input(spark: SparkSession, path: Path, text_col: str, chunk_size: int) -> DataFrame:
    """A file or a directory of parts, Parquet natively, text formats by local rules."""
    if not path.exists():
        raise BatchError(f"input not found: {path}")
    fmt = input_format(path)
    if fmt.kind == "parquet":
        df = spark.read.parquet(str(path))
        if text_col not in df.columns:
            raise BatchError(f"{path}: no text column {text_col!r}; columns: {df.columns}")
        return df
    if fmt.kind == "jsonl":
        return read_jsonl(spark, path, text_col)
    return read_delimited(spark, path, fmt, text_col, chunk_size)
