"""E-mail reply threads: the quoted conversation is set aside, the customer's words kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interaction_classifier import load_model
from interaction_classifier.text.replies import reply_body

GMAIL = ("The replacement is broken too. I want a refund.\n\nJo\n\n"
         "On Tue, Nov 4, 2026 at 9:12 AM Acme Support <\nsupport@acme.example> wrote:\n\n"
         "> Hi Jo, thank you so much for reaching out! We love hearing from you.\n"
         "> Your replacement is on its way.\n")
OUTLOOK = ("Still not fixed, third time I write.\n\n-----Original Message-----\n"
           "From: Acme Support\nSent: Monday, November 3, 2026 10:00\nTo: Jo\n"
           "Subject: RE: order\n\nThank you for your patience, we value you as a customer!")
FORWARD = ("Hi, is this e-mail really from you? See below.\n\n"
           "---------- Forwarded message ---------\nFrom: Bank <no-reply@bank.example>\n"
           "Date: Mon, 3 Nov 2026\nSubject: Account locked\nTo: me\n\n"
           "Your account is locked, click here to verify your card.")


@pytest.mark.parametrize(("text", "body"), [
    (GMAIL, "The replacement is broken too. I want a refund.\n\nJo"),
    (OUTLOOK, "Still not fixed, third time I write."),
    ("My order is late.\n\n________________________________\nFrom: Acme <help@acme.example>\n"
     "Sent: Monday\nTo: me\nSubject: Your order\n\nWe are delighted to confirm your order!",
     "My order is late."),
])
def test_quoted_thread_is_removed(text: str, body: str) -> None:
    assert reply_body(text) == (body, len(text) - len(body))


def test_answers_written_between_quoted_lines_are_kept() -> None:
    text = "See my answers.\n\nOn Mon, Acme wrote:\n> Which store?\nLeeds\n> Which day?\nMonday"
    assert reply_body(text)[0] == "See my answers.\n\nLeeds\nMonday"


@pytest.mark.parametrize("text", [
    FORWARD,  # what a customer forwards is part of the message
    "On Mon, 3 Nov 2026, Acme wrote:\n> nothing but the quote",  # nothing new: keep it all
    "From: Jo Bloggs\nAccount 12345\n\nMy card was stolen yesterday, please block it.",
    "Hi\nOn Monday I wrote: nothing happened\nStill waiting for a refund!",
    "Hello,\n\nPlease cancel my order.\n--\nJo Bloggs",
    "> not working\nwhat do you mean? it works for me",
])
def test_messages_without_a_reply_thread_are_unchanged(text: str) -> None:
    assert reply_body(text) == (text, 0)


@given(st.text(alphabet=st.characters(blacklist_characters="\n\r")))
def test_single_line_text_is_never_touched(text: str) -> None:
    assert reply_body(text) == (text, 0)


# Text built from the pieces reply headers and quotes are made of, to reach the parser.
EMAILISH = st.lists(st.sampled_from([*"ab >-_\n:", "wrote:", "On Mon", "From:", "\n> ",
                                     "-----Original Message-----", "Forwarded"]),
                    max_size=30).map("".join)


@given(st.one_of(st.text(), EMAILISH))
def test_the_body_is_never_empty_for_text_with_content(text: str) -> None:
    body, removed = reply_body(text)
    assert removed == len(text) - len(body) >= 0
    assert bool(body.strip()) == bool(text.strip())


def test_the_long_message_policy_measures_the_new_message_not_the_thread() -> None:
    model = load_model()
    thread = GMAIL + "> " + "earlier message " * 400
    assert len(thread) > model.max_chars
    shortened = [r for r in model.predict(thread)["reasons"] if r.startswith("shortened")]
    assert not shortened
    long_reasons = model.predict("my order is late " * 400)["reasons"]
    assert any(r.startswith("shortened") for r in long_reasons)
