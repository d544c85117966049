"""The worked examples of the cue patterns: every pattern fires on its positives and not on its
negatives, and every pattern has at least one positive (tests/data/fixtures/pattern_examples.jsonl).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from interaction_classifier.text.cues import CueMatcher, get_matcher

EXAMPLES_PATH = Path(__file__).parent / "fixtures" / "pattern_examples.jsonl"
EXAMPLES = [json.loads(line) for line in EXAMPLES_PATH.read_text(encoding="utf-8").splitlines()
            if line.strip()]


@pytest.fixture(scope="module")
def matcher() -> CueMatcher:
    return get_matcher()


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"{e['pattern_id']}|{e['fires']}|{e['text'][:30]}" for e in EXAMPLES]
)
def test_example(matcher: CueMatcher, example: dict) -> None:
    fired = {cue.id for cue in matcher.match(example["text"])}
    assert (example["pattern_id"] in fired) == example["fires"], fired


def test_every_pattern_has_a_positive_example(matcher: CueMatcher) -> None:
    positives = {e["pattern_id"] for e in EXAMPLES if e["fires"]}
    assert set(matcher.specs) - positives == set()


def test_examples_name_known_patterns(matcher: CueMatcher) -> None:
    assert {e["pattern_id"] for e in EXAMPLES} - set(matcher.specs) == set()


def test_every_pattern_file_has_negatives(matcher: CueMatcher) -> None:
    negatives: dict[str, int] = defaultdict(int)
    for example in EXAMPLES:
        if not example["fires"]:
            negatives[matcher.specs[example["pattern_id"]].head] += 1
    heads = {spec.head for spec in matcher.specs.values()}
    assert all(negatives[head] >= 5 for head in heads), dict(negatives)


def test_examples_are_not_shipped_as_patterns(matcher: CueMatcher) -> None:
    """The examples are test data: the package's pattern directory holds only pattern files."""
    assert not (matcher.pattern_dir / EXAMPLES_PATH.name).exists()
    assert not (matcher.pattern_dir / "examples.jsonl").exists()
