"""Reviewed corrections (``review import`` files) folded into a training run.

A corrections file has the annotation columns (``dataset,source_id,<heads>,skip``) plus
``origin`` (the weight key in ``[model] origin_weights``, ``review`` by default) and, for
rows of the user's own files only, ``text``. For the default model a row of a registered
dataset replaces the labels of the same corpus row (or is added, its text read through the
data registry, when the corpus does not hold it); a row with text is added as a training
row. The run's manifest and MLflow tags carry the files' sha256 (``fingerprint``), so a
model names the corrections it learnt from.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from interaction_classifier.config import PROJECT_ROOT

ID_COLUMNS = ("dataset", "source_id")


def correction_paths(patterns: list[str]) -> list[Path]:
    """Files matching the patterns (absolute, or relative to the working directory, then to
    the project); a pattern matching nothing is an error."""
    paths: set[Path] = set()
    for pattern in patterns:
        given = Path(pattern)
        if given.is_file():
            paths.add(given.resolve())
            continue
        base = Path(given.anchor) if given.is_absolute() else Path.cwd()
        rel = str(given.relative_to(given.anchor)) if given.is_absolute() else pattern
        found = set(base.glob(rel)) or (set() if given.is_absolute()
                                        else set(PROJECT_ROOT.glob(pattern)))
        if not found:
            raise FileNotFoundError(f"corrections: no file matches {pattern!r}")
        paths |= {p.resolve() for p in found}
    return sorted(paths)


def read_corrections(paths: list[Path], heads: list[str]) -> pd.DataFrame:
    """The rows of every file, labels as text (empty: the head stays unlabelled)."""
    if not paths:
        return pd.DataFrame(columns=[*ID_COLUMNS, *heads, "skip", "origin", "text"])
    frames = []
    for path in paths:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = [c for c in [*ID_COLUMNS, *heads] if c not in frame.columns]
        if missing:
            raise ValueError(f"corrections file {path}: missing column(s) {missing}")
        frames.append(frame.assign(origin=frame.get("origin", "review"),
                                   text=frame.get("text", ""), skip=frame.get("skip", "")))
    return pd.concat(frames, ignore_index=True)


def fingerprint(paths: list[Path]) -> dict[str, Any]:
    """sha256 per file and of them all (sorted by name): what the manifest records."""
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    joined = "\n".join(f"{name}:{digest}" for name, digest in sorted(files.items()))
    return {"files": files, "fingerprint": hashlib.sha256(joined.encode()).hexdigest()}


def _labels(row: pd.Series, heads: list[str]) -> dict[str, Any]:
    return {h: (row[h] or pd.NA) for h in heads}


def apply_to_corpus(corpus: pd.DataFrame, notes: pd.DataFrame, heads: list[str]
                    ) -> pd.DataFrame:
    """Corpus rows relabelled (or added to train) by the corrections; ``skip`` rows removed."""
    corpus = corpus.copy()
    where = {key: i for i, key in enumerate(zip(corpus["source"], corpus["source_id"],
                                                strict=True))}
    added, drop, loaded = [], [], {}
    for _, note in notes.iterrows():
        pos = where.get((note["dataset"], note["source_id"]))
        if note["skip"] == "1":
            drop += [] if pos is None else [corpus.index[pos]]
            continue
        if pos is None:
            added.append({"text": note["text"] or _registered_text(note, loaded),
                          "split": "train",
                          "source": note["dataset"] or "review", "source_id": note["source_id"],
                          "label_origin": note["origin"], **_labels(note, heads)})
            continue
        idx = corpus.index[pos]
        for head, label in _labels(note, heads).items():
            corpus.at[idx, head] = label
        corpus.at[idx, "label_origin"] = note["origin"]
        if "rule_ids" in corpus:
            corpus.at[idx, "rule_ids"] = pd.NA
    corpus = corpus.drop(index=drop)
    if added:
        corpus = pd.concat([corpus, pd.DataFrame(added).astype("string")], ignore_index=True)
    return corpus


def _registered_text(note: pd.Series, loaded: dict[str, dict[str, str]]) -> str:
    """The text of a registered dataset's row, read through the registry's loader (each
    dataset once per call of ``apply_to_corpus``: ``loaded``)."""
    if not note["dataset"]:
        raise ValueError(f"corrections: row {note['source_id']!r} has neither a registered "
                         "dataset nor a text")
    if note["dataset"] not in loaded:
        from interaction_classifier.data.loaders import load

        frame = load(note["dataset"])
        loaded[note["dataset"]] = dict(zip(frame["source_id"].astype(str), frame["text"],
                                           strict=True))
    text = loaded[note["dataset"]].get(note["source_id"])
    if text is None:
        raise ValueError(f"corrections: {note['dataset']} has no row {note['source_id']!r}")
    return str(text)


def apply_to_table(frame: pd.DataFrame, split: pd.Series, notes: pd.DataFrame,
                   heads: list[str]) -> tuple[pd.DataFrame, pd.Series]:
    """Your table with the corrections (their text kept) added as training rows."""
    rows = notes[(notes["skip"] != "1") & (notes["text"] != "")]
    if len(rows) < len(notes[notes["skip"] != "1"]):
        raise ValueError("corrections for a model on your own table need a text column")
    added = pd.DataFrame({"text": rows["text"].to_numpy(), "label_origin": rows["origin"]
                          .to_numpy(), **{h: rows[h].replace("", None).to_numpy()
                                          for h in heads}})
    base = frame.assign(label_origin=frame.get("label_origin", "table"))
    out = pd.concat([base, added], ignore_index=True)
    return out, pd.concat([split, pd.Series("train", index=range(len(added)))],
                          ignore_index=True)
