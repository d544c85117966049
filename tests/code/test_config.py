"""The taxonomy is configuration: loaded, validated, and errors are clear."""

from __future__ import annotations

import pytest

from interaction_classifier.config import HEADS, ConfigError, load_taxonomy, parse_taxonomy


def test_default_taxonomy_matches_shared_definition() -> None:
    tax = load_taxonomy()
    assert tuple(tax.heads) == HEADS
    assert tax.labels("interaction_type") == ("question", "request", "complaint", "compliment",
                                              "feedback")
    assert tax.labels("journey_stage") == ("awareness", "consideration", "acquisition",
                                           "experience", "loyalty")
    assert tax.labels("sentiment") == ("negative", "neutral", "positive")
    assert tax.labels("urgency") == ("critical", "high", "normal", "low")
    assert all(tax.heads["interaction_type"].definitions.values())


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"heads": {"x": {"labels": ["a", "a", "b"]}}}, "duplicate labels"),
        ({"heads": {"x": {"labels": ["a"]}}}, "at least two labels"),
        ({"heads": {"x": {"labels": ["a", " "]}}}, "empty label"),
        ({"heads": {"x": {"labels": ["a", "b"], "precedence": ["c"]}}}, "unknown labels"),
        ({"heads": {}}, "needs a"),
        ({"heads": {"x": {}}}, "labels table or list"),
    ],
)
def test_invalid_taxonomies_are_clear_errors(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_taxonomy(raw)


def test_unknown_label_and_head_are_errors() -> None:
    tax = load_taxonomy()
    with pytest.raises(ConfigError, match="not in head"):
        tax.check_label("sentiment", "furious")
    with pytest.raises(ConfigError, match="unknown head"):
        tax.labels("mood")


def test_custom_taxonomy_file(tmp_path) -> None:
    path = tmp_path / "tax.toml"
    path.write_text('[heads.topic]\nlabels = { billing = "money", tech = "it broke" }\n')
    assert load_taxonomy(path).labels("topic") == ("billing", "tech")
    path.write_text("[heads.topic\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_taxonomy(path)
