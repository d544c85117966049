"""Score on Spark with the local scorer's own code: same ``score_chunk``, same model bytes.

``score_dataframe`` adds the prediction columns, ``status`` and ``model_version`` to any
Spark DataFrame. The text column (and a reader's status column, if any) goes to a pandas
UDF that calls ``chunks.score_chunk`` on each Arrow batch, so labels, statuses and
quarantine reasons come from the one function the local scorer uses; the other columns
never leave the JVM, so their types survive untouched. Which prediction columns there are
follows the model (``Predictor.output_columns``): they are probed once on the driver.

The model travels as the bytes of its verified directory in a broadcast variable. Each
Python worker writes them to a private folder once, loads them with ``load_model`` (which
checks every file against the manifest) and checks the manifest is the one the driver
verified; later batches and tasks in that process reuse the loaded model.

Reading files with the local reader's rules is in ``spark_readers``; the
``score --engine spark`` command is ``spark_run``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark import Broadcast
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from interaction_classifier.batch.chunks import READ_STATUS, check_clashes, score_chunk
from interaction_classifier.batch.formats import BatchError
from interaction_classifier.models.artifact import MANIFEST, SIGNATURE, verify_artifact
from interaction_classifier.serving.predictor import Predictor, load_model, resolve_model_dir

PROBE_TEXTS = ["Where is my order? It has not arrived.", None]
_LOADED: dict[str, Predictor] = {}
Overrides = dict[str, dict[str, float] | None]


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
        if (directory / SIGNATURE).is_file():
            files[SIGNATURE] = (directory / SIGNATURE).read_bytes()
        return cls(files, hashlib.sha256(manifest).hexdigest())

    def load(self) -> Predictor:
        """Write the bytes to a private folder and load them: ``load_model`` checks every
        file against this manifest (signed) before parsing anything."""
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



def _spark_type(dtype: Any) -> T.DataType:
    """Spark type of a prediction column from its pandas dtype."""
    if pd.api.types.is_bool_dtype(dtype):
        return T.BooleanType()
    if pd.api.types.is_integer_dtype(dtype):
        return T.LongType()
    if pd.api.types.is_float_dtype(dtype):
        return T.FloatType() if dtype == "float32" else T.DoubleType()
    return T.StringType()


def prediction_schema(model: Predictor, text_col: str,
                      overrides: Overrides | None = None) -> T.StructType:
    """Columns ``score_chunk`` adds (predictions, status, model_version), probed once (which
    also checks ``overrides`` against the model on the driver)."""
    probe = score_chunk(model, pd.DataFrame({text_col: PROBE_TEXTS}), text_col,
                        **(overrides or {}))
    added = [c for c in probe.columns if c != text_col]
    return T.StructType([T.StructField(c, _spark_type(probe[c].dtype)) for c in added])


def _scorer(shipment: Broadcast, text_col: str, schema: T.StructType,
            overrides: Overrides) -> Any:
    """The pandas UDF: one Arrow batch of texts (and reader statuses) -> ``score_chunk``."""
    names = schema.fieldNames()

    @F.pandas_udf(schema)  # type: ignore[call-overload]
    def score(texts: pd.Series, read_status: pd.Series) -> pd.DataFrame:
        frame = pd.DataFrame({text_col: texts.to_numpy(dtype=object),
                              READ_STATUS: read_status.to_numpy(dtype=object)})
        scored = score_chunk(cached_model(shipment.value), frame, text_col, **overrides)
        return scored[names].reset_index(drop=True)

    return score


def score_dataframe(df: DataFrame, text_col: str = "text",
                    model: str | os.PathLike | Predictor | None = None, *,
                    review: dict[str, float] | None = None,
                    priority: dict[str, float] | None = None) -> DataFrame:
    """``df`` with the prediction columns, ``status`` and ``model_version`` added.

    ``model`` is a model directory, an MLflow model URI, a loaded model, or ``None`` for
    the shipped default; ``review`` (head -> threshold) and ``priority`` (tier -> minimum
    urgency) override the model's defaults, as in ``predict_batch``. Rows are never
    dropped: bad texts get null predictions and a status. A column named
    ``_ic_read_status`` (set by readers for unparseable records) is honoured and removed,
    as in ``score_chunk``.
    """
    return score_shipped(df, text_col, *ship_model(model),
                         {"review": review, "priority": priority})


def score_shipped(df: DataFrame, text_col: str, loaded: Predictor, shipment: ModelShipment,
                  overrides: Overrides | None = None) -> DataFrame:
    """``score_dataframe`` with a model already shipped (``ship_model``)."""
    overrides = overrides or {}
    if text_col not in df.columns:
        raise BatchError(f"no text column {text_col!r}; columns: {df.columns}")
    schema = prediction_schema(loaded, text_col, overrides)
    check_clashes(df.columns, schema.fieldNames())
    status: Column = (F.col(READ_STATUS).cast("string") if READ_STATUS in df.columns
                      else F.lit(None).cast("string"))
    scorer = _scorer(df.sparkSession.sparkContext.broadcast(shipment), text_col, schema,
                     overrides)
    packed = "__ic_predictions"
    return (df.withColumn(packed, scorer(F.col(text_col), status))
            .select(*[F.col(f"`{c}`") for c in df.columns if c != READ_STATUS],
                    *[F.col(packed)[c].alias(c) for c in schema.fieldNames()]))


def session(master: str | None) -> SparkSession:
    """The active session (spark-submit's), or a new one on ``master``."""
    builder = SparkSession.builder.appName("interaction-classifier score")
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()
