"""Writing scored rows in any supported format: Arrow conversion that survives mixed JSON
types, one schema over all chunks for Parquet, and an appending ``FrameWriter``.

Writers write to the path they are given; callers pass an ``io.atomic_path`` so a reader
never sees a half-written output.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from interaction_classifier.batch.formats import FileFormat


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
