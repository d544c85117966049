"""Hand-annotation files, in and out of the default build: valid labels, rows that exist,
nothing from the gold set, no text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
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


def test_new_sources_are_split_between_gold_and_training_by_the_id_hash() -> None:
    # Sources labelled after the gold set's first release: a fixed share of their labelled
    # rows is gold, chosen by a hash of the id (blind to the labels), the rest train.
    from interaction_classifier.data.gold import GOLD_SHARE, held_out_for_gold

    gold = load_gold(with_text=False)
    notes = load_annotations(["data/annotations/*.csv"], load_taxonomy())
    for dataset in GOLD_SHARE:
        in_gold = gold[gold["dataset"] == dataset]
        in_train = notes[notes["dataset"] == dataset]
        assert len(in_gold) >= 100 and len(in_train) >= 300, dataset
        assert all(held_out_for_gold(dataset, i) for i in in_gold["source_id"])
        assert not any(held_out_for_gold(dataset, i) for i in in_train["source_id"])
    share = np.mean([held_out_for_gold("rsics-travel", str(i)) for i in range(3064)])
    assert 0.27 < share < 0.33
    assert not held_out_for_gold("twcs", "1")  # the first release's sources are untouched


def test_second_annotator_agreement_is_what_the_files_say() -> None:
    # The blind second labelling of new-source rows, against the first annotator's labels
    # wherever they are (gold or training): the published agreement is recomputable.
    import json

    from sklearn.metrics import cohen_kappa_score

    folder = PROJECT_ROOT / "data" / "gold"
    second = pd.read_csv(folder / "second_annotator_new_sources.csv", dtype=str,
                         keep_default_na=False)
    assert list(second.columns) == COLUMNS and len(second) == 150
    gold = load_gold(with_text=False).assign(skip="0")
    notes = load_annotations(["data/annotations/*.csv"], load_taxonomy())
    first = pd.concat([gold[COLUMNS], notes[COLUMNS]])
    both = second.merge(first, on=["dataset", "source_id"], suffixes=("_2", "_1"))
    both = both[(both["skip_1"] == "0") & (both["skip_2"] == "0")]
    published = json.loads((folder / "agreement_new_sources.json").read_text())
    assert published["rows"] == len(both) >= 100
    for head in HEADS:
        a, b = both[f"{head}_1"], both[f"{head}_2"]
        assert published["heads"][head]["agreement"] == pytest.approx((a == b).mean(), abs=1e-4)
        assert published["heads"][head]["kappa"] == pytest.approx(cohen_kappa_score(a, b),
                                                                  abs=1e-4)
