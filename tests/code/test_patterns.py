"""The cue matcher and pattern validation; the worked examples are in tests/data."""

from __future__ import annotations

import json

import pytest
from spacy.matcher import Matcher

from interaction_classifier.text.cues import Cue, CueMatcher, doc_rows, get_matcher
from interaction_classifier.text.patterns import EXAMPLES_FILE, PatternError
from interaction_classifier.text.pipeline import get_nlp, parse


@pytest.fixture(scope="module")
def matcher() -> CueMatcher:
    return get_matcher()


def _ids(matcher: CueMatcher, text: str) -> set[str]:
    return {cue.id for cue in matcher.match(text)}


def test_engine_agrees_with_spacy_matcher(matcher: CueMatcher, messages: list[str]) -> None:
    """The fast engine must fire exactly the token patterns spaCy's own Matcher fires, on the
    worked examples and on generated messages (never on dataset text, so this never skips)."""
    reference = Matcher(get_nlp().vocab)
    for spec in matcher.specs.values():
        if spec.pattern is not None:
            reference.add(spec.id, [spec.pattern])
    strings = get_nlp().vocab.strings
    token_ids = {s.id for s in matcher.specs.values() if s.pattern is not None}
    fired: set[str] = set()
    for text in messages:
        doc = parse(text)
        expected = {strings[m] for m, _, _ in reference(doc)}
        ours = {pid for pid, _, _ in matcher._raw_matches(doc_rows(doc)[0], None)
                if pid in token_ids}
        assert ours == expected, text
        fired |= ours
    assert len(fired) > 0.8 * len(token_ids)  # the texts exercise most patterns


def test_batch_tokens_fire_the_cues_the_spacy_doc_fires(matcher: CueMatcher,
                                                         messages: list[str]) -> None:
    """The inference path (``text.tokens`` batches, the requirement prefilter) fires the same
    cues, with the same matched text, as the engine on the reference spaCy ``Doc``."""
    from interaction_classifier.text.tokens import encode

    batch = matcher.match_batch(encode(messages))
    same = [[(c.id, c.text) for c in ours] == [(c.id, c.text) for c in matcher.match(parse(t))]
            for t, ours in zip(messages, batch, strict=True)]
    print(f"cue agreement with the spaCy Doc path: {sum(same)}/{len(same)}")
    assert sum(same) == len(same)


def _pairs(cue_lists: list[list[Cue]]) -> list[list[tuple[str, str]]]:
    return [[(c.id, c.text) for c in cues] for cues in cue_lists]


@pytest.fixture
def batch_path(monkeypatch) -> None:
    """Every batch of two or more texts takes ``cue_batch`` (the threshold is a speed choice)."""
    monkeypatch.setattr("interaction_classifier.text.cues.BATCH_MATCH_MIN", 2)


def test_batch_matching_fires_what_text_by_text_matching_fires(matcher: CueMatcher,
                                                                messages: list[str],
                                                                batch_path: None) -> None:
    """``cue_batch`` (a whole batch with numpy) gives every text the cues, matched texts and
    order of the engine run text by text; ties on one span go in pattern-file order."""
    from interaction_classifier.text.cues import BATCH_MATCH_MIN
    from interaction_classifier.text.tokens import encode

    batch = encode(messages)
    assert len(batch) >= BATCH_MATCH_MIN
    together, alone = _pairs(matcher.match_batch(batch)), _pairs(matcher._match_each(batch))
    assert together == alone
    assert sum(map(bool, together)) > len(messages) / 2


EVERY_OPERATOR = [  # (pattern, texts): each token test and repeat operator the engine knows
    ([{"LOWER": "card"}, {"IS_ALPHA": True, "OP": "*"}, {"LEMMA": {"IN": ["steal", "lose"]}}],
     ["my card was stolen", "card card lost", "the card, lost", "card stolen"]),
    ([{"LIKE_NUM": True}, {"LOWER": {"IN": ["days", "weeks"]}}],
     ["waited 3 days", "for two weeks now", "days and days"]),
    ([{"LOWER": "not"}, {"LOWER": {"NOT_IN": ["bad", "sure"]}}],
     ["not good", "not bad", "not sure", "not"]),
    ([{"LOWER": {"REGEX": "^refund"}}, {"IS_PUNCT": True, "OP": "?"}, {"ORTH": "!"}],
     ["refunds!", "refund now!", "refunded, !", "Refund!"]),
    ([{"LOWER": "why"}, {"OP": "!", "LOWER": "not"}, {"LOWER": "me", "OP": "{,3}"}],
     ["why me me me me", "why not", "why you", "why"]),
    ([{"LOWER": {"IN": ["so", "very"]}, "OP": "+"}, {"LOWER": "slow"}],
     ["so so very slow", "slow", "very slow slow", "so"]),
    ([{"LOWER": "call"}, {}, {"LOWER": "back"}, {"OP": "{,2}"}, {"ORTH": "?"}],
     ["call me back?", "call back?", "call me back now please ?", "call him back"]),
    ([{"LOWER": "no", "OP": "?"}, {"LOWER": "refund", "OP": "*"}],
     ["no refund refund", "refund", "no", "yes"]),
]


@pytest.mark.parametrize(("pattern", "texts"), EVERY_OPERATOR)
def test_batch_matching_equals_the_engine_for_every_operator(tmp_path, pattern, texts,
                                                            batch_path: None) -> None:
    """One custom pattern per test, on its texts repeated into a batch: the same cues and
    matched texts as the engine text by text (which the spaCy Matcher test backs)."""
    rule = {**GOOD, "id": "interaction_type.question.custom", "pattern": pattern}
    custom = CueMatcher(_write(tmp_path, rule))
    from interaction_classifier.text.tokens import encode

    batch = encode(texts * 8)
    together, alone = _pairs(custom.match_batch(batch)), _pairs(custom._match_each(batch))
    assert together == alone
    assert any(together) and not all(together)


def test_shipped_model_scores_the_example_tickets_alike_in_a_batch_and_alone(
        batch_path: None) -> None:
    """The shipped model's outputs on examples/messages.csv (reasons included) are the same
    from one batch (cues by ``cue_batch``) as one message at a time (the engine)."""
    import pandas as pd

    from interaction_classifier import load_model
    from interaction_classifier.config import PROJECT_ROOT

    texts = pd.read_csv(PROJECT_ROOT / "examples" / "messages.csv")["text"].tolist()
    model = load_model()
    together = model.predict_many(texts)
    alone = [model.predict(t) for t in texts]
    # the urgency score's last float bits differ between a batch and one text (numpy's
    # summation order), which the cues do not touch
    assert [r.pop("urgency") for r in together] == pytest.approx(
        [r.pop("urgency") for r in alone], rel=1e-12)
    assert together == alone
    assert any(r["reasons"] for r in together)


def test_urgency_covers_every_driver(matcher: CueMatcher) -> None:
    labels = {s.label for s in matcher.specs.values() if s.head == "urgency"}
    assert labels == {"time_pressure", "risk", "repetition", "churn_threat", "dissatisfaction"}


def test_negation_blocks_time_pressure(matcher: CueMatcher) -> None:
    assert "urgency.time_pressure.urgent" not in _ids(matcher, "It's not urgent at all")
    assert "urgency.time_pressure.urgent" in _ids(matcher, "It's urgent")


def test_match_accepts_doc_and_orders_by_appearance(matcher: CueMatcher) -> None:
    cues = matcher.match(parse("Thanks! But my card was stolen, please block it asap"))
    assert all(isinstance(c, Cue) for c in cues)
    ids = [c.id for c in cues]
    assert ids.index("interaction_type.compliment.thanks") < ids.index("urgency.time_pressure.asap")
    assert len(ids) == len(set(ids))
    assert next(c for c in cues if c.id == "urgency.time_pressure.asap").text == "asap"


@pytest.mark.parametrize("text", ["", "   ", "\x00\x01", "😀😀😀", "<b></b>", "مرحبا", "a" * 5000])
def test_match_never_crashes(matcher: CueMatcher, text: str) -> None:
    assert isinstance(matcher.match(text), list)


def test_featurize_counts_per_group(matcher: CueMatcher) -> None:
    names = matcher.feature_names()
    assert "cue:urgency=risk" in names and "cue:interaction_type=complaint" in names
    assert len(names) == len(set(names))
    x = matcher.featurize(["My card was stolen and I think this is fraud", "hello", ""])
    assert x.shape == (3, len(names))
    assert x[0, names.index("cue:urgency=risk")] >= 2
    assert x[1].sum() == 0 and x[2].sum() == 0
    assert matcher.featurize([]).shape == (0, len(names))


# ---- validation -----------------------------------------------------------------------------

GOOD = {
    "id": "interaction_type.question.qm",
    "head": "interaction_type",
    "label": "question",
    "reason": "question mark",
    "pattern": [{"ORTH": "?"}],
}


def _write(tmp_path, *records, raw: str | None = None):
    lines = [json.dumps(r) for r in records] + ([raw] if raw is not None else [])
    (tmp_path / "interaction_type.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


def test_valid_custom_directory(tmp_path) -> None:
    m = CueMatcher(_write(tmp_path, GOOD))
    assert [c.id for c in m.match("why?")] == [GOOD["id"]]
    assert m.feature_names() == ["cue:interaction_type=question"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": "rant"}, "unknown label 'rant'"),
        ({"head": "mood"}, "unknown head 'mood'"),
        ({"reason": ""}, "missing or empty fields"),
        ({"phrase": "why"}, "exactly one of"),
        ({"pattern": []}, "non-empty list"),
        ({"pattern": [{"LOWER": "Why"}]}, "lower case"),
        ({"pattern": [{"LOWER": {"FUZZY": "why"}}]}, "invalid"),
        ({"pattern": [{"SHAPE": "Xxx"}]}, "not supported"),
        ({"lowers": True}, "only allowed for urgency"),
    ],
)
def test_bad_pattern_is_rejected_with_file_and_line(tmp_path, change, message) -> None:
    with pytest.raises(PatternError, match=message) as info:
        CueMatcher(_write(tmp_path, GOOD, {**GOOD, "id": "interaction_type.question.x", **change}))
    assert "interaction_type.question.x" in str(info.value) or "interaction_type.jsonl:2" in str(
        info.value
    )


def test_bad_json_names_file_and_line(tmp_path) -> None:
    with pytest.raises(PatternError, match=r"interaction_type\.jsonl:2"):
        CueMatcher(_write(tmp_path, GOOD, raw="{not json"))


def test_duplicate_id_is_rejected(tmp_path) -> None:
    with pytest.raises(PatternError, match="duplicate id"):
        CueMatcher(_write(tmp_path, GOOD, GOOD))


def test_urgency_needs_a_known_driver(tmp_path) -> None:
    bad = {
        "id": "urgency.high.x",
        "head": "urgency",
        "label": "high",
        "driver": "high",
        "reason": "r",
        "phrase": "now",
    }
    (tmp_path / "urgency.jsonl").write_text(json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(PatternError, match=r"urgency\.jsonl:1: unknown label 'high'"):
        CueMatcher(tmp_path)


def test_empty_directory_is_an_error(tmp_path) -> None:
    with pytest.raises(PatternError, match="no pattern files"):
        CueMatcher(tmp_path)


def test_examples_file_in_an_old_model_directory_is_not_a_pattern_file(tmp_path) -> None:
    """Model directories saved before the examples moved to the tests still hold a copy."""
    _write(tmp_path, GOOD)
    (tmp_path / EXAMPLES_FILE).write_text('{"pattern_id": "x", "text": "y", "fires": true}\n',
                                          encoding="utf-8")
    assert list(CueMatcher(tmp_path).specs) == [GOOD["id"]]
