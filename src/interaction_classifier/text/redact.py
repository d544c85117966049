"""Masking of personal data in message text: e-mail addresses, phone numbers, payment cards,
IBANs, and any ids a user describes by pattern (order numbers, postcodes).

Why our own small redactor rather than Presidio: Presidio's analyzer needs a downloaded spaCy
model, and its e-mail recognizer fetches the public-suffix list over the network on first use;
neither is possible offline. Its pattern recognizers were measured against this module on the
same generated corpus (``benchmarks/redaction.py``, numbers in ``docs/reliability.md``). Phone
numbers are found by ``phonenumbers`` (Google's libphonenumber), which knows every country's
numbering plan; cards must pass the Luhn check and IBANs the ISO 13616 mod-97 check, so order
numbers and amounts are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import phonenumbers

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
PHONE_CANDIDATE = re.compile(r"\+?\(?\d[\d ().\-/]{5,}\d")
PHONE_REGIONS = ("US", "GB", "FR", "DE")  # national formats tried, besides +CC numbers
PHONE_MIN_DIGITS = 7
PHONE_MAX_BARE_DIGITS = 12


def luhn_ok(digits: str) -> bool:
    """The payment-card check digit (ISO/IEC 7812)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(iban: str) -> bool:
    """The ISO 13616 check: move the first four characters to the end, read as base 36, mod 97."""
    compact = iban.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


@dataclass(frozen=True)
class Redactor:
    """Replaces each personal-data span with ``<LABEL>``.

    ``patterns`` maps a label to a regular expression for a user's own ids (``ORDER_ID``:
    ``#\\d{6,}``); they are applied after the built-in kinds.
    """

    patterns: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label, pattern in self.patterns.items():
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", label):
                raise ValueError(f"redaction label {label!r}: use upper-case letters, "
                                 "digits and _")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"redaction pattern {label}={pattern!r}: {exc}") from exc

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, label) spans, earliest and longest first."""
        found = list(_builtin_spans(text))
        for label, pattern in self.patterns.items():
            found += [(m.start(), m.end(), label) for m in re.finditer(pattern, text)
                      if m.end() > m.start()]
        kept: list[tuple[int, int, str]] = []
        for start, end, label in sorted(found, key=lambda s: (s[0], -s[1])):
            if not kept or start >= kept[-1][1]:
                kept.append((start, end, label))
        return kept

    def __call__(self, text: str) -> str:
        """The text with every span replaced by its ``<LABEL>``."""
        if not isinstance(text, str):
            return text
        out, last = [], 0
        for start, end, label in self.spans(text):
            out += [text[last:start], f"<{label}>"]
            last = end
        return "".join(out) + text[last:]

    def redact_all(self, texts: Iterable[object]) -> list[object]:
        return [self(t) if isinstance(t, str) else t for t in texts]


def _builtin_spans(text: str) -> Iterable[tuple[int, int, str]]:
    for m in EMAIL.finditer(text):
        yield m.start(), m.end(), "EMAIL"
    for m in CARD.finditer(text):
        if luhn_ok(re.sub(r"\D", "", m.group())):
            yield m.start(), m.end(), "CARD"
    for m in IBAN.finditer(text):
        if iban_ok(m.group()):
            yield m.start(), m.end(), "IBAN"
    yield from _phone_spans(text)


def _phone_spans(text: str) -> Iterable[tuple[int, int, str]]:
    """libphonenumber's matcher, run only on digit runs that could be a phone number (speed)."""
    for candidate in PHONE_CANDIDATE.finditer(text):
        if sum(ch.isdigit() for ch in candidate.group()) < PHONE_MIN_DIGITS:
            continue
        seen: set[tuple[int, int]] = set()
        for region in PHONE_REGIONS:
            for match in phonenumbers.PhoneNumberMatcher(candidate.group(), region,
                                                         leniency=phonenumbers.Leniency.VALID):
                span = (candidate.start() + match.start, candidate.start() + match.end)
                if _looks_like_account(match.raw_string):
                    continue
                if span not in seen:
                    seen.add(span)
                    yield *span, "PHONE"


def _looks_like_account(raw: str) -> bool:
    """A bare run of 13+ digits without a leading + is an order or account number, not a phone
    (German numbers are valid up to 16 digits, so libphonenumber alone would mask them)."""
    return raw.isdigit() and len(raw) > PHONE_MAX_BARE_DIGITS


DEFAULT = Redactor()


def redact(text: str) -> str:
    """Mask the built-in kinds of personal data (no user patterns)."""
    return DEFAULT(text)
