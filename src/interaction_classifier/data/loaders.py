"""Loaders: each registered dataset as a tidy DataFrame.

Every loader returns ``text, source, source_id`` followed by the source's own label
columns. ``source_id`` is stable and is how the project points at a row (gold set,
error analysis) without copying its text. Rows without text are dropped here and the
count is part of the loader tests.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import re
from collections.abc import Callable

import pandas as pd

from interaction_classifier.data.registry import DataError, resolve

Loader = Callable[[], pd.DataFrame]
LOADERS: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    """Register a loader under its dataset name (spaCy-style registry by name)."""

    def wrap(fn: Loader) -> Loader:
        LOADERS[name] = fn
        return fn

    return wrap


def load(name: str) -> pd.DataFrame:
    """Load a dataset by registry name."""
    if name not in LOADERS:
        raise DataError(f"no loader for dataset {name!r}; loaders: {sorted(LOADERS)}")
    return LOADERS[name]()


def _tidy(df: pd.DataFrame, source: str, labels: list[str]) -> pd.DataFrame:
    """Order columns, normalise text to str and drop rows without text."""
    df = df.copy()
    df["source"] = source
    df["text"] = df["text"].astype("string").str.strip()
    df = df[df["text"].notna() & (df["text"] != "")]
    df["source_id"] = df["source_id"].astype(str)
    return df[["text", "source", "source_id", *labels]].reset_index(drop=True)


def _read_csv(name: str, key: str, **kwargs: object) -> pd.DataFrame:
    return pd.read_csv(resolve(name, key), dtype=str, keep_default_na=False,
                       na_values=[""], **kwargs)


def _row_ids(df: pd.DataFrame, prefix: str) -> pd.Series:
    """Ids for files without an id column: ``<prefix>:<0-based data row>``."""
    return pd.Series([f"{prefix}:{i}" for i in range(len(df))], index=df.index)


@register("banking77")
def load_banking77() -> pd.DataFrame:
    """BANKING77 train and test; ``split`` is the published split."""
    parts = []
    for split in ("train", "test"):
        df = _read_csv("banking77", split)
        df["source_id"] = _row_ids(df, split)
        df["split"] = split
        parts.append(df)
    return _tidy(pd.concat(parts), "banking77", ["category", "split"])


@register("clinc150")
def load_clinc150() -> pd.DataFrame:
    """CLINC150 full: every part (train/val/test and their oos_ variants)."""
    with resolve("clinc150", "full").open(encoding="utf-8") as fh:
        raw = json.load(fh)
    rows = [
        {"text": text, "source_id": f"{part}:{i}", "intent": intent,
         "split": part.removeprefix("oos_")}
        for part in ("train", "val", "test", "oos_train", "oos_val", "oos_test")
        for i, (text, intent) in enumerate(raw[part])
    ]
    return _tidy(pd.DataFrame(rows), "clinc150", ["intent", "split"])


@register("ijcnlp2017-feedback")
def load_ijcnlp() -> pd.DataFrame:
    """IJCNLP-2017 feedback (annotated training file); ``labels`` keeps multi-labels."""
    df = pd.read_csv(resolve("ijcnlp2017-feedback", "train"), sep="\t", header=None,
                     names=["source_id", "text", "labels"], dtype=str,
                     quoting=csv.QUOTE_NONE, keep_default_na=False)
    df["labels"] = df["labels"].str.replace(" ", "", regex=False)
    return _tidy(df, "ijcnlp2017-feedback", ["labels"])


@register("ijcnlp2017-unannotated")
def load_ijcnlp_unannotated() -> pd.DataFrame:
    """IJCNLP-2017 unannotated feedback sentences (no labels)."""
    df = pd.read_csv(resolve("ijcnlp2017-feedback", "unannotated"), sep="\t", header=None,
                     names=["source_id", "text"], dtype=str, quoting=csv.QUOTE_NONE,
                     keep_default_na=False)
    return _tidy(df, "ijcnlp2017-unannotated", [])


@register("reviews-amazon-alexa")
def load_alexa() -> pd.DataFrame:
    """Amazon Alexa reviews; ``rating`` 1-5."""
    df = pd.read_csv(resolve("reviews-amazon-alexa", "reviews"), sep="\t", dtype=str,
                     encoding="utf-8-sig", keep_default_na=False)
    df = df.rename(columns={"verified_reviews": "text"})
    df["source_id"] = _row_ids(df, "row")
    df["rating"] = df["rating"].astype(int)
    return _tidy(df, "reviews-amazon-alexa", ["rating"])


@register("reviews-yelp")
def load_yelp() -> pd.DataFrame:
    """Both Yelp subsets; ``stars`` 1-5, ids prefixed by file key."""
    parts = []
    for key in ("jtgetsin", "soumya"):
        df = _read_csv("reviews-yelp", key)
        df["source_id"] = _row_ids(df, key)
        parts.append(df)
    df = pd.concat(parts)
    df["stars"] = df["stars"].astype(int)
    return _tidy(df, "reviews-yelp", ["stars"])


@register("semeval2017-sentiment")
def load_semeval2017() -> pd.DataFrame:
    """SemEval 2013-2016 tweets; ``source_file`` names the original split file."""
    df = pd.read_csv(resolve("semeval2017-sentiment", "combined"), sep="\t", dtype=str,
                     quoting=csv.QUOTE_NONE, keep_default_na=False)
    df = df.rename(columns={"id": "source_id"})
    df["text"] = df["text"].str.replace(r"\\u([0-9a-fA-F]{4})",
                                        lambda m: chr(int(m.group(1), 16)), regex=True)
    df["text"] = df["text"].str.strip('"')
    return _tidy(df, "semeval2017-sentiment", ["label", "source_file"])


@register("semeval2019-suggestions")
def load_semeval2019() -> pd.DataFrame:
    """Suggestion mining train + trial; ``label`` 1 = suggestion."""
    parts = []
    # The training file has no header row and mixes UTF-8 with stray single bytes.
    for key, header in (("train", None), ("trial", 0)):
        df = _read_csv("semeval2019-suggestions", key, encoding_errors="replace",
                       header=header, names=["source_id", "text", "label"])
        # Upstream ids repeat (the training file holds some rows twice): use row ids.
        df["source_id"] = _row_ids(df, key)
        df["split"] = key
        parts.append(df)
    df = pd.concat(parts)
    df["text"] = df["text"].str.strip('"')
    df["label"] = df["label"].astype(int)
    return _tidy(df, "semeval2019-suggestions", ["label", "split"])


@register("twcs")
def load_twcs() -> pd.DataFrame:
    """Customer Support on Twitter; ``inbound`` True for customers."""
    df = _read_csv("twcs", "sample")
    df = df.rename(columns={"tweet_id": "source_id"})
    df["inbound"] = df["inbound"] == "True"
    return _tidy(df, "twcs", ["author_id", "inbound", "created_at", "response_tweet_id",
                              "in_response_to_tweet_id"])


@register("womens-clothing-reviews")
def load_womens_clothing() -> pd.DataFrame:
    """Clothing reviews; title and review joined; ``rating`` 1-5, ``recommended`` 0/1."""
    df = _read_csv("womens-clothing-reviews", "reviews")
    df = df.rename(columns={df.columns[0]: "source_id", "Rating": "rating",
                            "Recommended IND": "recommended"})
    df = df[df["Review Text"].notna()]
    title = df["Title"].fillna("")
    df["text"] = (title + ". ").where(title != "", "") + df["Review Text"]
    df["rating"] = df["rating"].astype(int)
    df["recommended"] = df["recommended"].astype(int)
    return _tidy(df, "womens-clothing-reviews", ["rating", "recommended"])


@register("bueck-tickets-synthetic")
def load_bueck() -> pd.DataFrame:
    """Synthetic tickets (three files); subject and body joined; type, queue, priority."""
    parts = []
    for key in ("v3", "v4", "v5"):
        df = _read_csv("bueck-tickets-synthetic", key)
        df["source_id"] = _row_ids(df, key)
        subject = df["subject"].fillna("")
        df["text"] = (subject + "\n").where(subject != "", "") + df["body"].fillna("")
        parts.append(df)
    return _tidy(pd.concat(parts), "bueck-tickets-synthetic", ["type", "queue", "priority"])


# A shopper who already has the product says so ("I bought", "mine", "stopped working"):
# those questions are often after the purchase, the rest almost always before it. On the
# hand-labelled training rows, 95% of questions without such a cue are `consideration`; with
# one, 41% are `experience` (data/mappings/README.md).
OWNER_CUE = re.compile(
    r"\b(?:i|we) (?:just )?(?:bought|purchased|received|got|ordered|own|have (?:this|it|one|"
    r"these|them|the same))\b|\b(?:mine|ours)\b|\b(?:my|our) (?:unit|machine|set|copy|game|"
    r"console) (?:is|was|has|keeps|won't|will not|doesn't|does not|stopped)\b|"
    r"\bstopped working\b|\bbroke\b|\bwarranty\b|\breturned\b", re.IGNORECASE)


@register("amazon-product-qa")
def load_amazon_product_qa() -> pd.DataFrame:
    """Shoppers' product-page questions, one row per distinct question of each slice (the
    source repeats a question once per answer). ``source_id`` is ``<slice>:<0-based row of
    the question's first occurrence>`` (CSV data row, or line of the gzipped file);
    ``slice`` is toys, video_games or appliances; ``question_type`` is the source's;
    ``owner_cue`` whether the asker says they have the product (:data:`OWNER_CUE`)."""
    toys = _read_csv("amazon-product-qa", "toys")
    parts = [pd.DataFrame({"source_id": _row_ids(toys, "toys"), "text": toys["questionText"],
                           "slice": "toys", "question_type": toys["questionType"]})]
    for key in ("video_games", "appliances"):
        with gzip.open(resolve("amazon-product-qa", key), "rt", encoding="utf-8") as fh:
            # One Python dict literal per line (not JSON): literal_eval parses, never runs.
            records = [ast.literal_eval(line) for line in fh]
        frame = pd.DataFrame({"text": [r.get("question") for r in records], "slice": key,
                              "question_type": [r.get("questionType") for r in records]})
        frame["source_id"] = _row_ids(frame, key)
        parts.append(frame)
    df = pd.concat(parts, ignore_index=True)
    df["text"] = df["text"].astype("string").str.strip()
    df = df[~df.duplicated(["slice", "text"])]
    df["owner_cue"] = df["text"].str.contains(OWNER_CUE).fillna(False).astype(bool)
    return _tidy(df, "amazon-product-qa", ["slice", "question_type", "owner_cue"])


@register("rsics-travel")
def load_rsics_travel() -> pd.DataFrame:
    """RSiCS requests: ``slice`` forum (airline travel forum) or train_assistant (a live
    booking assistant); ``source_id`` is the row in the original release. The text is
    ``MergedSelections`` with its square brackets removed: the brackets only mark what the
    RSiCS annotators judged unnecessary for the task, and the customer wrote all of it."""
    df = _read_csv("rsics-travel", "requests")
    df = df.rename(columns={"row": "source_id"})
    df["text"] = df["MergedSelections"].str.replace(r"[\[\]]", "", regex=True)
    df["slice"] = df["DatasetID"].map({"1": "forum", "2": "train_assistant"})
    return _tidy(df, "rsics-travel", ["slice"])
