"""The hand-labelled gold set: references (dataset, source_id) joined to text at load time.

No message text is stored in the repository; the gold file holds ids and labels only.
The gold set is the yardstick for every model and is never used for training or rules.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from interaction_classifier.config import DATA_DIR, HEADS, load_taxonomy
from interaction_classifier.data.loaders import load

GOLD_FILE = DATA_DIR / "gold" / "gold.csv"
# Sources hand-labelled after the gold set's first release: this percentage of their
# labelled rows is held out for gold, chosen by a hash of the row id (reproducible, and
# blind to the labels); the rest are training annotations.
GOLD_SHARE = {"amazon-product-qa": 30, "rsics-travel": 30}


def held_out_for_gold(dataset: str, source_id: str) -> bool:
    """Whether a labelled row of a ``GOLD_SHARE`` source belongs to the gold set."""
    share = GOLD_SHARE.get(dataset)
    if share is None:
        return False
    digest = hashlib.sha256(f"{dataset}:{source_id}".encode()).hexdigest()
    return int(digest[:8], 16) % 100 < share


def load_gold(path: Path = GOLD_FILE, with_text: bool = True) -> pd.DataFrame:
    """Gold rows with their labels validated, and their text joined from the loaders."""
    if not path.is_file():
        raise FileNotFoundError(f"gold set not found at {path}")
    gold = pd.read_csv(path, dtype=str, keep_default_na=False)
    taxonomy = load_taxonomy()
    for head in HEADS:
        bad = sorted(set(gold[head]) - set(taxonomy.labels(head)))
        if bad:
            raise ValueError(f"{path}: head {head!r} has labels outside the taxonomy: {bad}")
    if not with_text:
        return gold
    parts = []
    for dataset, rows in gold.groupby("dataset", sort=True):
        texts = load(dataset).set_index("source_id")["text"]
        missing = sorted(set(rows["source_id"]) - set(texts.index))
        if missing:
            raise ValueError(f"gold rows not found in {dataset}: {missing[:5]}")
        parts.append(rows.assign(text=texts.loc[rows["source_id"]].to_numpy()))
    return pd.concat(parts, ignore_index=True)
