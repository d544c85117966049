"""The redactor masks every kind of personal data it claims to, and leaves look-alikes alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction_classifier.text.redact import Redactor, iban_ok, luhn_ok, redact
from tests.helpers.pii import messages


@pytest.mark.parametrize(("text", "masked"), [
    ("call me on (415) 555-0132 or jo.smith+shop@gmail.com",
     "call me on <PHONE> or <EMAIL>"),
    ("card 4111-1111-1111-1111 stolen", "card <CARD> stolen"),
    ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN <IBAN>"),
    ("Rückruf unter +49 30 901820", "Rückruf unter <PHONE>"),
])
def test_known_values_are_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


@pytest.mark.parametrize("text", [
    "order 4111 1111 1111 1112 arrived",  # fails Luhn: an order number, not a card
    "I paid $1,234.56 on 2024-01-15 at 10:30",
    "iPhone 15 pro, version 17.2.1, 3 items x 2",
    "GB82 WEST 1234 5698 7654 33",  # wrong IBAN check digits
    "the 1 star review was 100% right",
])
def test_look_alikes_survive(text: str) -> None:
    assert redact(text) == text


def test_generated_messages_lose_every_value_and_keep_near_misses() -> None:
    for text, values in messages(300, seed=7):
        masked = redact(text)
        for label, value in values:
            if label == "NEAR":
                assert value in masked, (text, masked)
            else:
                assert value not in masked, (label, text, masked)
                assert f"<{label}>" in masked, (label, text, masked)


def test_user_patterns_mask_their_own_ids() -> None:
    redactor = Redactor({"ORDER_ID": r"#\d{6,}"})
    assert redactor("order #12345678 late, mail a@b.io") == "order <ORDER_ID> late, mail <EMAIL>"


@pytest.mark.parametrize(("patterns", "message"), [
    ({"order": r"\d+"}, "upper-case"),
    ({"ORDER": r"(\d+"}, "ORDER="),
])
def test_bad_user_patterns_are_clear_errors(patterns: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Redactor(patterns)


def test_checksums() -> None:
    assert luhn_ok("4539148803436467") and not luhn_ok("4539148803436468")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE88 3704 0044 0532 0130 00")


@given(st.text(max_size=300))
def test_any_text_redacts_without_error_and_is_idempotent(text: str) -> None:
    once = redact(text)
    assert isinstance(once, str)
    assert redact(once) == once
