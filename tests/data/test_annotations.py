"""Hand-annotation files, in and out of the default build: valid labels, rows that exist,
nothing from the gold set, no text."""

from __future__ import annotations

from pathlib import Path

import pytest

from interaction_classifier.config import HEADS, PROJECT_ROOT, load_taxonomy
from interaction_classifier.data.corpus import load_annotations
from interaction_classifier.data.gold import load_gold
from interaction_classifier.data.loaders import load

FILES = sorted((PROJECT_ROOT / "data" / "annotations").rglob("*.csv"))
COLUMNS = ["dataset", "source_id", *HEADS, "skip"]


def test_there_are_annotation_files_in_and_out_of_the_build() -> None:
    assert any(p.parent.name == "unused" for p in FILES)
    assert any(p.parent.name == "annotations" for p in FILES)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(PROJECT_ROOT).as_posix())
def test_annotation_file_is_valid_and_points_at_real_rows(shared_data, path: Path) -> None:
    frame = load_annotations([path.relative_to(PROJECT_ROOT).as_posix()], load_taxonomy())
    assert list(frame.columns) == COLUMNS  # ids and labels only, never message text
    assert set(frame["skip"]) <= {"0", "1"}
    kept = frame[frame["skip"] == "0"]
    assert (kept[list(HEADS)] != "").any(axis=1).all(), "a kept row needs at least one label"
    gold = load_gold(with_text=False)
    gold = set(zip(gold["dataset"], gold["source_id"].astype(str), strict=True))
    for dataset, rows in frame.groupby("dataset"):
        known = set(load(dataset)["source_id"].astype(str))
        missing = sorted(set(rows["source_id"]) - known)
        assert not missing, f"{dataset} ids not in the dataset: {missing[:5]}"
        keys = set(zip(rows["dataset"], rows["source_id"], strict=True))
        assert not gold & keys, f"gold rows annotated: {sorted(gold & keys)[:5]}"


def test_unused_files_are_outside_the_default_build_glob() -> None:
    import tomllib

    patterns = tomllib.loads((PROJECT_ROOT / "configs" / "corpus.toml").read_text())[
        "annotations"]
    built = {p for pattern in patterns for p in PROJECT_ROOT.glob(pattern)}
    assert built and all(p.parent.name != "unused" for p in built)
