"""Your labelled table: read any supported file, validate it, split it, fingerprint it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from interaction_classifier.batch.formats import BatchError, detect_format
from interaction_classifier.data.corpus import fingerprint
from interaction_classifier.training.config import TableSource

RESERVED = frozenset({"needs_review", "reasons", "text", "model_version", "confidence",
                      "probabilities"})
SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "valid", "val": "valid",
                 "validation": "valid", "dev": "valid", "test": "test"}


class DataError(ValueError):
    """Unusable input for training; the message names the file, column or class."""


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV, TSV, Parquet or JSON Lines (optionally gzipped; the batch scorer's formats),
    labels as text."""
    path = Path(path)
    try:
        fmt = detect_format(path).kind
    except BatchError as exc:
        raise DataError(f"cannot read {exc}") from exc
    if not path.is_file():
        raise DataError(f"cannot read {path}: no such file")
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=str,
                               keep_default_na=False, na_values=[""])
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=True, orient="records", dtype=False)
    except Exception as exc:  # every reader has its own error types
        raise DataError(f"cannot read {path} as {fmt}: {exc}") from exc


def label_series(column: pd.Series) -> pd.Series:
    """Labels as strings with missing kept missing (2.0 read as a float becomes "2")."""
    if pd.api.types.is_float_dtype(column) and (column.dropna() % 1 == 0).all():
        column = column.astype("Int64")
    out = column.astype("string").str.strip().replace("", pd.NA)
    return out.astype(object).where(out.notna(), None)


def prepare(frame: pd.DataFrame, data: TableSource, origin: str) -> pd.DataFrame:
    """Validate the table against the config; returns ``text``, label and split columns."""
    text_col, heads = data.text_column, list(data.label_columns)
    split_col = data.split_column
    wanted = [text_col, *heads, *([split_col] if split_col else [])]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(f"column(s) {missing} not in {origin}; "
                           f"columns: {list(frame.columns)}")
    if len(set(heads)) != len(heads) or text_col in heads:
        raise DataError(f"label columns must be distinct and differ from the text column: "
                           f"{heads}")
    bad = [h for h in heads if h in RESERVED or "__" in h or h.startswith("p_")]
    if bad:
        raise DataError(f"label column name(s) {bad} clash with prediction columns; "
                           f"rename them (reserved: {sorted(RESERVED)}, no '__', no 'p_')")
    out = pd.DataFrame({"text": frame[text_col].astype("string").str.strip()})
    for h in heads:
        out[h] = label_series(frame[h])
    if split_col:
        given = frame[split_col].astype("string").str.strip().str.lower()
        out["split"] = given.map(SPLIT_ALIASES).fillna("train")  # unsplit rows: train
        unknown = given[given.notna() & ~given.isin(list(SPLIT_ALIASES))].unique()[:5]
        if len(unknown):
            raise DataError(f"split column {split_col!r} has values {list(unknown)}; "
                               f"use {sorted(set(SPLIT_ALIASES))}")
    out = out[out["text"].notna() & (out["text"] != "")].reset_index(drop=True)
    out["text"] = out["text"].astype(str)
    for h in heads:
        check_classes(out[h], h, data.min_examples_per_class)
    return out


def check_classes(labels: pd.Series, head: str, minimum: int) -> None:
    """At least two classes, and every class with enough rows to reach every split."""
    counts = labels.dropna().value_counts()
    if len(counts) < 2:
        raise DataError(f"label column {head!r} has {len(counts)} class(es) "
                           f"{list(counts.index)} among {int(counts.sum())} labelled rows; "
                           "a classifier needs at least 2")
    rare = counts[counts < minimum]
    if len(rare):
        shown = ", ".join(f"{k!r}: {v}" for k, v in rare.head(5).items())
        raise DataError(f"label column {head!r}: {len(rare)} class(es) have fewer than "
                           f"{minimum} labelled rows ({shown}), too few to split into "
                           "train/valid/test; merge or drop them, or lower "
                           "data.min_examples_per_class")


def assign_split(frame: pd.DataFrame, data: TableSource, seed: int) -> pd.Series:
    """train/valid/test per row: the given split column, with missing parts carved out of
    train, stratified on the first label column (seeded)."""
    split = frame["split"].copy() if "split" in frame else pd.Series("train", frame.index)
    strata = frame[data.label_columns[0]].fillna("<missing>")
    for part, size in (("test", data.test_size), ("valid", data.valid_size)):
        if (split == part).any():
            continue
        pool = split.index[split == "train"]
        share = float(size) / (1.0 - data.test_size) if part == "valid" and \
            "split" not in frame else float(size)
        try:
            _, taken = train_test_split(pool, test_size=share, random_state=seed,
                                        stratify=strata[pool])
        except ValueError as exc:
            raise DataError(f"cannot carve a stratified {part} split: {exc}; add rows "
                               "or give a split column") from exc
        split[taken] = part
    return split


def data_fingerprint(frame: pd.DataFrame, heads: list[str]) -> str:
    """Content hash of text and labels, the same whatever the file format."""
    canon = frame[["text", *heads]].astype(object).where(frame[["text", *heads]].notna(), "")
    return fingerprint(canon.astype(str))


def labelled_frame(path: Path, text_column: str, columns: dict[str, str]) -> pd.DataFrame:
    """A labelled file for evaluation: ``text`` plus one column per head (``columns``: head
    -> column in the file), labels as text, rows without text dropped."""
    frame = read_table(path)
    missing = [c for c in [text_column, *columns.values()] if c not in frame.columns]
    if missing:
        raise DataError(f"column(s) {missing} not in {path}; columns: {list(frame.columns)}")
    out = pd.DataFrame({"text": frame[text_column].astype("string").str.strip()})
    for head, column in columns.items():
        out[head] = label_series(frame[column])
    out = out[out["text"].notna() & (out["text"] != "")].reset_index(drop=True)
    out["text"] = out["text"].astype(str)
    return out
