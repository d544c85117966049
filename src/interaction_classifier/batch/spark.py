"""Score on Spark with the local scorer's own code: same reader rules, same ``score_chunk``.

``score_dataframe`` adds the prediction columns, ``status`` and ``model_version`` to any
Spark DataFrame. The text column (and a reader's status column, if any) goes to a pandas
UDF that calls ``score.score_chunk`` on each Arrow batch, so labels, statuses and
quarantine reasons come from the one function the local scorer uses; the other columns
never leave the JVM, so their types survive untouched.

The model travels as the bytes of its verified directory in a broadcast variable. Each
Python worker writes them to a private folder once, loads them with ``load_model`` (which
checks every file against the manifest) and checks the manifest is the one the driver
verified; later batches and tasks in that process reuse the loaded model.

``run`` is the ``score --engine spark`` command: it reads Parquet natively and CSV/TSV/JSONL
with the local reader's parsing rules (Spark's own CSV and JSON readers turn empty fields
into nulls, drop extra fields and stringify numbers, which would change statuses), scores,
writes the rows as a directory of Parquet parts and the flagged rows next to it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark import Broadcast
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_classifier.batch.chunks import (
    NON_TEXT,
    OK,
    READ_STATUS,
    STATUS_COLUMN,
    score_chunk,
    text_status,
)
from interaction_classifier.batch.run import (
    BatchError,
    ChunkReader,
    FileFormat,
    atomic_path,
    detect_format,
)
from interaction_classifier.models.artifact import MANIFEST, verify_artifact
from interaction_classifier.serving.predictor import Predictor, load_model
from interaction_classifier.serving.predictor import _resolve_uri as resolve_model_dir

PROBE_TEXTS = ["Where is my order? It has not arrived.", None]
_LOADED: dict[str, Predictor] = {}


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ModelShipment:
    """A model directory as bytes, named by the sha256 of its manifest."""

    files: dict[str, bytes]
    digest: str

    @classmethod
    def of(cls, directory: Path) -> ModelShipment:
        """The manifest and every file it lists, read once so all workers get these bytes
        (checked first, so that a bad directory fails here with the local error)."""
        verify_artifact(directory)
        manifest = (directory / MANIFEST).read_bytes()
        listed = json.loads(manifest)["files"]
        files = {name: (directory / name).read_bytes() for name in listed}
        files[MANIFEST] = manifest
        return cls(files, hashlib.sha256(manifest).hexdigest())

    def load(self) -> Predictor:
        """Write the bytes to a private folder and load them: ``load_model`` checks every
        file against this manifest before unpickling anything."""
        folder = Path(tempfile.mkdtemp(prefix=f"ic-model-{self.digest[:12]}-"))
        try:
            for name, data in self.files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            return load_model(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def ship_model(model: str | os.PathLike | Predictor | None) -> tuple[Predictor, ModelShipment]:
    """Resolve and verify the model on the driver; the driver then uses the shipped bytes
    too, so driver and executors cannot see two versions of a directory being replaced."""
    directory = model.path if isinstance(model, Predictor) else resolve_model_dir(model)
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"model directory not found: {directory}")
    shipment = ModelShipment.of(Path(directory))
    shipped = cached_model(shipment)
    if isinstance(model, Predictor) and shipped.manifest != model.manifest:
        raise RuntimeError(f"{model.path} changed since this model was loaded")
    return shipped, shipment


def cached_model(shipment: ModelShipment) -> Predictor:
    """The model of ``shipment``, loaded at most once per Python process."""
    if shipment.digest not in _LOADED:
        _LOADED[shipment.digest] = shipment.load()
    return _LOADED[shipment.digest]


# ----------------------------------------------------------------------------- scoring


def _spark_type(dtype: Any) -> T.DataType:
    """Spark type of a prediction column from its pandas dtype."""
    if pd.api.types.is_bool_dtype(dtype):
        return T.BooleanType()
    if pd.api.types.is_integer_dtype(dtype):
        return T.LongType()
    if pd.api.types.is_float_dtype(dtype):
        return T.FloatType() if dtype == "float32" else T.DoubleType()
    return T.StringType()


def prediction_schema(model: Predictor, text_col: str) -> T.StructType:
    """Columns ``score_chunk`` adds (predictions, status, model_version), probed once."""
    probe = score_chunk(model, pd.DataFrame({text_col: PROBE_TEXTS}), text_col)
    added = [c for c in probe.columns if c != text_col]
    return T.StructType([T.StructField(c, _spark_type(probe[c].dtype)) for c in added])


def _scorer(shipment: Broadcast, text_col: str, schema: T.StructType) -> Any:
    """The pandas UDF: one Arrow batch of texts (and reader statuses) -> ``score_chunk``."""
    names = schema.fieldNames()

    @F.pandas_udf(schema)  # type: ignore[call-overload]
    def score(texts: pd.Series, read_status: pd.Series) -> pd.DataFrame:
        frame = pd.DataFrame({text_col: texts.to_numpy(dtype=object),
                              READ_STATUS: read_status.to_numpy(dtype=object)})
        scored = score_chunk(cached_model(shipment.value), frame, text_col)
        return scored[names].reset_index(drop=True)

    return score


def score_dataframe(df: DataFrame, text_col: str = "text",
                    model: str | os.PathLike | Predictor | None = None) -> DataFrame:
    """``df`` with the prediction columns, ``status`` and ``model_version`` added.

    ``model`` is a model directory, an MLflow model URI, a loaded model, or ``None`` for
    the shipped default. Rows are never dropped: bad texts get null predictions and a
    status. A column named ``_ic_read_status`` (set by readers for unparseable records) is
    honoured and removed, as in ``score_chunk``.
    """
    return _score(df, text_col, *ship_model(model))


def _score(df: DataFrame, text_col: str, loaded: Predictor,
           shipment: ModelShipment) -> DataFrame:
    if text_col not in df.columns:
        raise BatchError(f"no text column {text_col!r}; columns: {df.columns}")
    schema = prediction_schema(loaded, text_col)
    clashes = [c for c in schema.fieldNames() if c in df.columns]
    if clashes:
        raise ValueError(f"input columns clash with prediction columns: {clashes}")
    status: Column = (F.col(READ_STATUS).cast("string") if READ_STATUS in df.columns
                      else F.lit(None).cast("string"))
    scorer = _scorer(df.sparkSession.sparkContext.broadcast(shipment), text_col, schema)
    packed = "__ic_predictions"
    return (df.withColumn(packed, scorer(F.col(text_col), status))
            .select(*[F.col(f"`{c}`") for c in df.columns if c != READ_STATUS],
                    *[F.col(packed)[c].alias(c) for c in schema.fieldNames()]))


# ----------------------------------------------------------------------------- reading


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
        self.size = 1
        self.total_rows = None
        self._raw = None

    def frames(self, data: bytes) -> Iterator[pd.DataFrame]:
        stream = io.BytesIO(gzip.decompress(data) if self.format.gzip else data)
        yield from self._delimited(stream, "\t" if self.format.kind == "tsv" else ",")

    def parse(self, line: bytes) -> tuple[str | None, str | None]:
        """One JSONL line -> (text as carried, reader status).

        A Spark column has one type, so a number or list in the text field is carried as
        JSON text and flagged here, with ``text_status``, as ``score_chunk`` would flag it.
        """
        record = self._parse_line(line)
        value, status = record.get(self.text_column), record.get(READ_STATUS)
        if status is None and text_status(value, 1) == NON_TEXT:
            return json.dumps(value, default=str), NON_TEXT
        return value, status


def _header(path: Path, fmt: FileFormat) -> list[str]:
    """The header record of a CSV/TSV file, parsed like the local reader does."""
    import csv

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


# ----------------------------------------------------------------------------- the command


@dataclass
class SparkOptions:
    """What ``score --engine spark`` accepts."""

    input: Path
    output: Path | None = None
    text_column: str = "text"
    model: str | None = None
    master: str | None = None
    partitions: int | None = None
    chunk_size: int = 10_000

    def resolved_output(self) -> Path:
        """``-o`` (a Parquet directory), by default ``INPUT.scored.parquet`` beside the input."""
        if self.output is not None:
            if detect_format(self.output).kind != "parquet":
                raise BatchError(f"{self.output}: Spark writes a Parquet directory; "
                                 "name the output *.parquet")
            return self.output
        stem = self.input.name
        if not self.input.is_dir():
            stem = stem[: len(stem) - len(detect_format(self.input).suffix)]
        return self.input.with_name(f"{stem}.scored.parquet")


def quarantine_path(output: Path) -> Path:
    """``scored.parquet`` -> ``scored.quarantine.parquet`` (same folder)."""
    return output.with_name(f"{output.name.removesuffix('.parquet')}.quarantine.parquet")


def summary_path(output: Path) -> Path:
    """``scored.parquet`` -> ``scored.summary.json`` (same folder)."""
    return output.with_name(f"{output.name.removesuffix('.parquet')}.summary.json")


def _check_writable(path: Path) -> None:
    """Refuse to overwrite a non-empty folder that is not a finished Spark output."""
    if path.is_file() or (path.is_dir() and any(path.iterdir())
                          and not (path / "_SUCCESS").exists()):
        raise BatchError(f"{path} exists and is not a Spark output; remove it or choose "
                         "another --output")


def session(master: str | None) -> SparkSession:
    """The active session (spark-submit's), or a new one on ``master``."""
    builder = SparkSession.builder.appName("interaction-classifier score")
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()


def run(options: SparkOptions, spark: SparkSession | None = None) -> dict[str, Any]:
    """Read, score, write output and quarantine, check rows in = rows out; the summary."""
    started = time.monotonic()
    if options.partitions is not None and options.partitions < 1:
        raise BatchError("--partitions must be at least 1")
    output = options.resolved_output()
    quarantine = quarantine_path(output)
    for path in (output, quarantine):
        _check_writable(path)
    spark = spark or session(options.master)
    # The chunk of the local scorer is the Arrow batch here: rows per score_chunk call.
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(options.chunk_size))
    df = read_input(spark, options.input, options.text_column, options.chunk_size)
    target = options.partitions or max(spark.sparkContext.defaultParallelism,
                                       df.rdd.getNumPartitions())
    if target != df.rdd.getNumPartitions():
        df = df.repartition(target)
    model, shipment = ship_model(options.model)
    rows_in = df.count()
    _score(df, options.text_column, model, shipment).write.mode("overwrite").parquet(
        str(output))
    written = spark.read.parquet(str(output))
    written.where(F.col(STATUS_COLUMN) != OK).write.mode("overwrite").parquet(str(quarantine))
    statuses = {r[STATUS_COLUMN]: r["count"] for r in
                written.groupBy(STATUS_COLUMN).count().collect()}
    summary = _summary(options, output, quarantine, model.version, rows_in, statuses,
                       target, time.monotonic() - started, spark.sparkContext.master)
    with atomic_path(summary_path(output)) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return summary


def _summary(options: SparkOptions, output: Path, quarantine: Path, version: str,
             rows_in: int, statuses: dict[str, int], partitions: int, seconds: float,
             master: str) -> dict[str, Any]:
    rows_out = sum(statuses.values())
    scored = statuses.get(OK, 0)
    return {
        "input": str(options.input), "output": str(output), "quarantine": str(quarantine),
        "engine": "spark", "master": master, "partitions": partitions,
        "model_version": version, "rows_in": rows_in, "rows_out": rows_out,
        "rows_in_equals_rows_out": rows_in == rows_out, "scored": scored,
        "flagged": rows_out - scored,
        "flagged_by_reason": {k: v for k, v in sorted(statuses.items()) if k != OK},
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows_out / seconds, 1) if seconds else 0.0,
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The lines printed at the end of a Spark run."""
    check = "yes" if summary["rows_in_equals_rows_out"] else "NO"
    return "\n".join([
        f"rows in {summary['rows_in']:,} | rows out {summary['rows_out']:,} "
        f"(rows in = rows out: {check})",
        f"scored {summary['scored']:,} | flagged {summary['flagged']:,} "
        + (f"{summary['flagged_by_reason']}" if summary["flagged"] else ""),
        f"spark {summary['master']}, {summary['partitions']} partitions: "
        f"{summary['rows_per_second']:,.0f} rows/s end to end ({summary['seconds']} s); "
        f"model {summary['model_version']}",
        f"output {summary['output']}; quarantine {summary['quarantine']}",
    ])
