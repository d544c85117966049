"""The spaCy text layer: no downloaded model, robust normalisation."""

from __future__ import annotations

import pytest

from interaction_classifier.text import pipeline as text
from interaction_classifier.text.cues import CueMatcher
from interaction_classifier.text.pipeline import (
    get_nlp,
    normalise,
    normalise_doc,
    parse,
    prepare_many,
    strip_negation,
    surface_doc,
)


def test_blank_pipeline_with_lookup_lemmatizer() -> None:
    nlp = get_nlp()
    assert nlp is get_nlp()
    assert nlp.pipe_names == ["lemmatizer"]
    assert nlp.get_pipe("lemmatizer").mode == "lookup"
    assert nlp.meta["name"] == "pipeline"  # spacy.blank, not a packaged model


def test_a_grown_pipeline_is_replaced_and_nothing_it_computes_changes(monkeypatch) -> None:
    """spaCy never frees the strings of words it has seen; past the bound the next call gets a
    fresh pipeline, and lemmas, features and cues stay what they were."""
    message = "My card was STOLEN yesterday, I need it blocked asap!!! not happy"
    matcher = CueMatcher()
    before = (normalise(message, mark_negation=True), surface_doc(parse(message)),
              [c.id for c in matcher.match(message)])
    old = get_nlp()
    monkeypatch.setattr(text, "MAX_NEW_STRINGS", 50)
    monkeypatch.setattr(text, "_PIPELINE", [])
    first = get_nlp()
    assert first is not old and get_nlp() is first
    parse(" ".join(f"novelword{i}x" for i in range(60)))  # 60 new strings > 50
    second = get_nlp()
    assert second is not first and get_nlp() is second
    assert len(second.vocab.strings) < len(first.vocab.strings)
    after = (normalise(message, mark_negation=True), surface_doc(parse(message)),
             [c.id for c in matcher.match(message)])
    assert after == before and before[2]  # the same cues fire on the new pipeline's Doc


def test_lemma_map_equals_spacys_own_lookup_table() -> None:
    """The table is read without spaCy's ``Lookups``; the map must not change because of it."""
    from spacy.lookups import load_lookups

    table = load_lookups("en", ["lemma_lookup"]).get_table("lemma_lookup")
    lemmatizer = get_nlp().get_pipe("lemmatizer")
    strings = get_nlp().vocab.strings
    assert len(table) > 40_000
    assert {k: strings[v] for k, v in lemmatizer._lemma_ids.items()} == {
        k: v.lower() for k, v in table.items()}
    doc = parse("Stolen number")
    assert [lemmatizer.lookup_lemmatize(t) for t in doc] == [[t.lemma_] for t in doc]


def test_lemmas_are_lower_case_and_case_insensitive() -> None:
    assert [t.lemma_ for t in parse("Stolen CARDS were Charged")] == [
        "steal",
        "card",
        "be",
        "charge",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See https://example.com/x?a=1 now", "see URL now"),
        ("@support_team why??", "@USER why ? ?"),
        ("Order 12345 cost £20.50", "order NUM cost £ NUM"),
        ("mail me at jo.smith@example.org", "mail me at EMAIL"),
        ("I love it 😍!", "i love it 😍 !"),
        ("  lots\n\tof   space ", "lot of space"),
        ("", ""),
        ("<p>Hello&nbsp;there</p>", "hello there"),
        ("bad\x00\x07 chars\u202e here", "bad char here"),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    "text", ["مرحبا بالعالم", "שלום", "👨‍👩‍👧‍👦", "\ufeff\u200f", "a" * 10_000, "�\udcff"]
)
def test_normalise_never_crashes(text: str) -> None:
    out = normalise(text)
    assert isinstance(out, str) and "  " not in out


def test_curly_apostrophe_is_straightened() -> None:
    assert normalise("It’s broken, don’t") == normalise("It's broken, don't")


def test_prepare_many_matches_normalise() -> None:
    texts = ["Cancel my order!", "", "What's the price?"]
    assert prepare_many(texts, batch_size=2) == ([normalise(t) for t in texts], None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I do not like it, but the screen is great",
         "i do not like_NEG it_NEG but the screen be great"),
        ("Don't buy this. Love it", "do not buy_NEG this_NEG love it"),
        ("never again!! fine", "never again_NEG ! ! fine"),
        ("dont call me @bob 123", "do not call_NEG me_NEG @USER NUM"),
        ("no", "no"),
    ],
)
def test_negation_scope_ends_at_clause_punctuation(text: str, expected: str) -> None:
    assert normalise(text, mark_negation=True) == expected


@pytest.mark.parametrize("text", ["Not bad, not bad at all!", "I can't log in", "", "😀 no 👍"])
def test_stripping_negation_marks_gives_the_plain_normalisation(text: str) -> None:
    marked = normalise(text, mark_negation=True)
    assert strip_negation(marked) == normalise(text)
    assert prepare_many([text], mark_negation=True) == ([marked], None)


def test_surface_forms_keep_what_lemmas_erase() -> None:
    doc = parse("@Acme I ORDERED the worst one, sooo sad :( http://x.co/1 on 12/03")
    assert surface_doc(doc) == "@USER i ordered the worst one sooo sad :( URL on NUM"
    lemmas = normalise_doc(doc).split()
    assert "ordered" not in lemmas and len(lemmas) == len(surface_doc(doc).split())
