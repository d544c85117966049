"""Hand-reviewed mapping tables from source labels (intents, ratings, classes) to our heads.

Each CSV in ``data/mappings`` has the columns in :data:`COLUMNS`, one row per source label
value. An empty head cell means "no defensible mapping": the row stays unlabelled for that
head. Unmapped source labels are an error, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from interaction_classifier.config import DATA_DIR, HEADS, ConfigError, load_taxonomy

MAPPINGS_DIR: Path = DATA_DIR / "mappings"
COLUMNS = ("source", "source_label", *HEADS, "rationale")
ORIGIN = "mapping"


def _read_all() -> pd.DataFrame:
    """Read every mapping CSV; empty cells become <NA>; the exact schema is enforced."""
    files = sorted(MAPPINGS_DIR.glob("*.csv"))
    if not files:
        raise ValueError(f"no mapping files in {MAPPINGS_DIR}")
    parts = []
    for path in files:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        if tuple(df.columns) != COLUMNS:
            raise ValueError(f"{path.name}: columns {list(df.columns)}, expected {list(COLUMNS)}")
        df = df.apply(lambda col: col.str.strip()).replace("", pd.NA).astype("string")
        parts.append(df.assign(file=path.name))
    return pd.concat(parts, ignore_index=True)


def load_mapping(source: str) -> pd.DataFrame:
    """Mapping rows of ``source``, validated against the taxonomy; raises ValueError if bad."""
    all_rows = _read_all()
    df = all_rows[all_rows["source"] == source].reset_index(drop=True)
    if df.empty:
        known = sorted(all_rows["source"].dropna().unique())
        raise ValueError(f"no mapping rows for source {source!r}; known sources: {known}")
    if df["source_label"].isna().any():
        raise ValueError(f"{source}: a mapping row has an empty source_label")
    dupes = sorted(df.loc[df["source_label"].duplicated(), "source_label"])
    if dupes:
        raise ValueError(f"{source}: duplicate mapping rows for {dupes}")
    no_reason = df.loc[df["rationale"].isna(), "source_label"].tolist()
    if no_reason:
        raise ValueError(f"{source}: rows without a rationale: {no_reason}")
    taxonomy = load_taxonomy()
    for head in HEADS:
        for label, value in zip(df["source_label"], df[head], strict=True):
            if pd.isna(value):
                continue
            try:
                taxonomy.check_label(head, value)
            except ConfigError as exc:
                raise ValueError(f"{source} mapping, source label {label!r}: {exc}") from exc
    return df.drop(columns="file")


def apply_mapping(df: pd.DataFrame, source: str, label_column: str) -> pd.DataFrame:
    """Copy of ``df`` with the four heads filled from the mapping of ``source``.

    Heads are pandas ``string`` columns (<NA> where not mapped); ``label_origin`` is
    ``"mapping"`` where any head was filled. Source labels compare as strings; a value
    without a mapping row (or a missing value) raises ValueError naming it.
    """
    if label_column not in df.columns:
        raise ValueError(f"column {label_column!r} not in data; columns: {list(df.columns)}")
    mapping = load_mapping(source).set_index("source_label")
    keys = df[label_column].astype("string")
    if keys.isna().any():
        raise ValueError(f"{source}: {int(keys.isna().sum())} rows have no {label_column!r} value")
    unmapped = sorted(set(keys) - set(mapping.index))
    if unmapped:
        raise ValueError(f"{source}: source labels without a mapping row: {unmapped}")
    out = df.copy()
    for head in HEADS:
        out[head] = keys.map(mapping[head]).astype("string")
    filled = out[list(HEADS)].notna().any(axis=1)
    out["label_origin"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[filled, "label_origin"] = ORIGIN
    return out
