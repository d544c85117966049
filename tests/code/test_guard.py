"""The pre-tokenization guard: pathological text is bounded, ordinary text is untouched."""

from __future__ import annotations

import json
import re

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from interaction_classifier.config import PROJECT_ROOT
from interaction_classifier.text.guard import (
    MAX_SYMBOLS,
    MAX_TOKEN_CHARS,
    SUFFIX_WINDOW,
    guard,
    windowed_suffix_search,
)
from interaction_classifier.text.pipeline import build_nlp, clean, parse

FIXTURES = PROJECT_ROOT / "tests" / "data" / "fixtures"
ORDINARY = [json.loads(line)["text"] for line in
            (FIXTURES / "pattern_examples.jsonl").read_text(encoding="utf-8").splitlines()]
ORDINARY += (FIXTURES / "messages.txt").read_text(encoding="utf-8").splitlines()
PATHOLOGICAL = ["$" * 4999, "😀" * 4999, "$!" * 2499, "😀😁" * 2499, "'" * 4999,
                "(" * 4999, "a" * 4999, "a:)" * 1666, "http://a" * 600, "中" * 4999]


def test_ordinary_text_is_left_exactly_as_it_is() -> None:
    assert all(guard(text) == text for text in ORDINARY)


def test_ordinary_text_tokenises_exactly_as_spacy_does() -> None:
    """The windowed suffix search changes no token of ordinary text."""
    plain, ours = spacy.blank("en"), build_nlp()
    for text in ORDINARY:
        cleaned = clean(text)
        assert [t.text for t in ours.make_doc(cleaned)] == \
            [t.text for t in plain.make_doc(cleaned)], text


@pytest.mark.parametrize("text", PATHOLOGICAL, ids=lambda t: repr(t[:6]))
def test_pathological_runs_are_bounded(text: str) -> None:
    guarded = guard(text)
    assert max(len(word) for word in guarded.split()) <= MAX_TOKEN_CHARS
    symbols = [len(run) for run in re.findall(r"[^\w\s]+", guarded)]
    assert max(symbols, default=0) <= MAX_SYMBOLS
    # no more tokens than characters kept, and far fewer than the 5,000 of the raw run
    assert len(parse(text)) <= max(len(guarded) // 2, MAX_SYMBOLS + 1) + 1


def _subsequence(short: str, long: str) -> bool:
    chars = iter(long)
    return all(ch in chars for ch in short)


@given(st.text(max_size=400) | st.text(alphabet="$!😀a ", min_size=300, max_size=900))
@settings(max_examples=200, deadline=None)
def test_guard_only_drops_symbols_and_adds_spaces(text: str) -> None:
    guarded = guard(text)
    assert guard(guarded) == guarded
    assert all(len(word) <= MAX_TOKEN_CHARS for word in guarded.split())
    assert _subsequence("".join(guarded.split()), "".join(text.split()))


def test_guard_limits_are_configurable_and_checked() -> None:
    assert guard("abcdefgh", max_token_chars=3) == "abc def gh"
    assert guard("!?!?!?", max_symbols=2) == "!?"
    with pytest.raises(ValueError, match="at least 1"):
        guard("x", max_token_chars=0)


def test_batch_tokenizer_splits_pathological_text_as_spacy() -> None:
    from interaction_classifier.text.tokens import encode

    batch = encode(PATHOLOGICAL)
    for i, text in enumerate(PATHOLOGICAL):
        ours, spacy_tokens = batch.tokens_of(i), [t.text for t in parse(text)]
        if text[0] == "'":  # spaCy re-merges some "'" pairs into "''" in a phrase-matcher
            assert "".join(ours) == "".join(spacy_tokens)  # order the batch tokenizer does
            assert len(ours) <= len(spacy_tokens)  # not reproduce: same text, fewer tokens
            continue
        assert ours == spacy_tokens, text[:20]


def test_a_text_keeps_its_first_symbols_only() -> None:
    text = "a!" * 3000
    guarded = guard(text, max_total_symbols=1000)
    assert guarded.replace(" ", "") == "a!" * 1000 + "a" * 2000
    assert guard("a!b?", max_total_symbols=1) == "a!b"


@pytest.mark.parametrize("text", PATHOLOGICAL[:6], ids=lambda t: repr(t[:6]))
def test_the_suffix_search_reads_a_bounded_window(text: str) -> None:
    """spaCy's suffix regex scanned the whole remaining span at every step: 12 million
    characters for 4,999 "$". Through the window it reads at most 32 per step."""
    nlp = spacy.blank("en")
    search, scanned = nlp.tokenizer.suffix_search, []
    nlp.tokenizer.suffix_search = windowed_suffix_search(
        lambda span: scanned.append(len(span)) or search(span))
    doc = nlp.make_doc(clean(text))
    assert build_nlp().tokenizer.suffix_search.__qualname__.startswith("windowed_suffix_search")
    assert len(doc) and max(scanned) <= SUFFIX_WINDOW
    assert sum(scanned) <= 4 * SUFFIX_WINDOW * len(text)
