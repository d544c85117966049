"""Input validation shared by every entry point: ``predict``, ``predict_batch``, ``score``,
the HTTP service and the MLflow pyfunc all ask :func:`text_status` what a value is.

Statuses: ``ok``; ``missing_text`` (None, NaN, pandas NA); ``non_text`` (a number, bool,
list...; bytes that are UTF-8 count as text); ``empty_text`` (empty or whitespace only);
``undecodable`` (bytes that are not UTF-8, U+FFFD which readers put in their place, or a lone
surrogate, which no file can hold: writing it would crash the output); ``too_large`` (over
:data:`MAX_TEXT_CHARS` characters: not a message but a pasted dump or attachment, of which the
long-message policy would read under 1%). Each entry point then
decides what a status means for it: the batch, the service and the pyfunc return a flagged
row; ``predict`` raises ``TypeError`` for values that are not text and flags empty or
undecodable text for review.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

OK = "ok"
MISSING = "missing_text"
NON_TEXT = "non_text"
EMPTY = "empty_text"
UNDECODABLE = "undecodable"
TOO_LARGE = "too_large"
# Texts up to this length are scored (over the model's max_chars on their head and tail,
# text.longtext); longer ones are flagged, so that one dump cannot hold a worker's memory.
MAX_TEXT_CHARS = 1_000_000

# Why a value was not scored, one sentence per status (results, quarantine, docs).
REASONS = {
    MISSING: "missing_text: no text (null, NaN or absent)",
    NON_TEXT: "non_text: the text is not a string",
    EMPTY: "empty_text: empty or whitespace only",
    UNDECODABLE: "undecodable: the text holds bytes that are not UTF-8 (U+FFFD) or a lone "
                 "surrogate, which cannot be written to a file",
    TOO_LARGE: f"too_large: over {MAX_TEXT_CHARS:,} characters, a dump or an attachment "
               "rather than a message",
}
REPLACEMENT_CHAR = "\ufffd"
_UNENCODABLE = re.compile("[\ud800-\udfff\ufffd]")


def is_missing(value: Any) -> bool:
    """None, NaN and pandas' NA/NaT all mean "no value" whatever the column dtype."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, float) and math.isnan(value)


def text_status(value: Any) -> str:
    """The status of one input value; ``ok`` means :func:`as_text` can send it to a model."""
    if is_missing(value):
        return MISSING
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            return UNDECODABLE
    if not isinstance(value, str):
        return NON_TEXT
    if len(value) > MAX_TEXT_CHARS:
        return TOO_LARGE
    if not value.strip():
        return EMPTY
    if not value.isascii() and _UNENCODABLE.search(value):
        return UNDECODABLE
    return OK


def as_text(value: str | bytes) -> str:
    """An ``ok`` value as str (UTF-8 bytes decoded)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def text_list(texts: Iterable[Any]) -> list[Any]:
    """The items of a batch as a list; a bare string (or bytes) is refused, not split into
    one-character messages."""
    if isinstance(texts, str | bytes):
        raise TypeError(f"texts must be an iterable of messages, not a single "
                        f"{type(texts).__name__}; wrap one message in a list: [text]")
    try:
        return list(texts)
    except TypeError:
        raise TypeError(f"texts must be an iterable of messages, not "
                        f"{type(texts).__name__}") from None
