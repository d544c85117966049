"""Each loader on the real files: row counts, columns and id uniqueness."""

from __future__ import annotations

import pytest

from interaction_classifier.data.loaders import LOADERS, load

EXPECTED = {
    # name: (rows, label columns)
    "banking77": (13083, ["category", "split"]),
    "clinc150": (23700, ["intent", "split"]),
    "ijcnlp2017-feedback": (3049, ["labels"]),
    "ijcnlp2017-unannotated": (12808, []),
    "reviews-amazon-alexa": (3071, ["rating"]),
    "reviews-yelp": (4186, ["stars"]),
    "semeval2017-sentiment": (49570, ["label", "source_file"]),
    "semeval2019-suggestions": (9092, ["label", "split"]),
    "twcs": (9965, ["author_id", "inbound", "created_at", "response_tweet_id",
                    "in_response_to_tweet_id"]),
    "womens-clothing-reviews": (22641, ["rating", "recommended"]),
    "bueck-tickets-synthetic": (3085, ["type", "queue", "priority"]),
    "amazon-product-qa": (25804, ["slice", "question_type", "owner_cue"]),
    "rsics-travel": (3064, ["slice"]),
}


def test_every_loader_is_covered() -> None:
    assert set(LOADERS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_loader_shape(shared_data, name: str) -> None:
    rows, labels = EXPECTED[name]
    df = load(name)
    assert list(df.columns) == ["text", "source", "source_id", *labels]
    assert len(df) == rows
    assert df["source_id"].is_unique
    assert df["text"].str.strip().str.len().gt(0).all()
    assert (df["source"] == name).all()


def test_label_values(shared_data) -> None:
    assert load("banking77")["category"].nunique() == 77
    clinc = load("clinc150")
    assert clinc["intent"].nunique() == 151 and (clinc["intent"] == "oos").sum() == 1200
    assert set(load("semeval2017-sentiment")["label"]) == {"negative", "neutral", "positive"}
    assert set(load("reviews-yelp")["stars"]) == {1, 2, 3, 4, 5}
    assert set(load("semeval2019-suggestions")["label"]) == {0, 1}
    assert load("twcs")["inbound"].sum() == 5467
    assert set(load("bueck-tickets-synthetic")["priority"]) == {"low", "medium", "high"}
    amazon = load("amazon-product-qa")
    assert amazon["slice"].value_counts().to_dict() == {"video_games": 9661,
                                                         "appliances": 8736, "toys": 7407}
    assert not amazon.duplicated(["slice", "text"]).any()
    rsics = load("rsics-travel")
    assert rsics["slice"].value_counts().to_dict() == {"train_assistant": 1799, "forum": 1265}
    assert not rsics["text"].str.contains(r"[\[\]]").any()


def test_semeval_escapes_are_decoded(shared_data) -> None:
    text = load("semeval2017-sentiment")["text"]
    assert not text.str.contains(r"\\u002c", regex=False).any()
