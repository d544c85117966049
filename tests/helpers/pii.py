"""Generated personal data inside realistic support messages, with the exact spans to mask.

Numbers are built to be valid (Luhn cards, mod-97 IBANs, numbers from libphonenumber's own
examples), and near misses (Luhn-invalid order numbers, dates, amounts) are planted beside them,
so a redactor that masks every long digit run fails as surely as one that misses a card.
"""

from __future__ import annotations

import random
import string

import phonenumbers

TEMPLATES = (
    "My card {CARD} was charged twice for order {NEAR}. Please call me on {PHONE}.",
    "Refund it to {IBAN} please, I paid $1,234.56 on 2024-03-15 at 10:30.",
    "Can someone email me at {EMAIL}? Order {NEAR} never arrived.",
    "Ma carte {CARD} a été volée, appelez-moi au {PHONE} ou écrivez à {EMAIL}",
    "Bitte überweisen Sie auf {IBAN}. Rückruf unter {PHONE}.",
    "Hi, I'm reachable at {PHONE} or {EMAIL} about ticket {NEAR} and version 17.2.1",
)
PHONE_REGIONS = ("US", "GB", "FR", "DE")


def card(rng: random.Random) -> str:
    """A 16-digit Visa-like number with a valid Luhn digit, grouped by four."""
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        total += (d * 2 - 9 if d > 4 else d * 2) if i % 2 == 0 else d
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return rng.choice([" ", "-", ""]).join(text[i:i + 4] for i in range(0, 16, 4))


def near_miss(rng: random.Random) -> str:
    """A long order number that fails the Luhn check (must not be masked as a card)."""
    while True:
        number = "".join(rng.choice(string.digits) for _ in range(16))
        if not _luhn(number):
            return number


def _luhn(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        total += (d * 2 - 9 if d > 4 else d * 2) if i % 2 else d
    return total % 10 == 0


def iban(rng: random.Random) -> str:
    """A German IBAN with correct check digits, printed in groups of four."""
    bban = "".join(rng.choice(string.digits) for _ in range(18))
    numeric = int(bban + "131400")  # D=13, E=14, check digits 00
    check = f"{98 - numeric % 97:02d}"
    compact = f"DE{check}{bban}"
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def phone(rng: random.Random) -> str:
    """An example number of a random region, in international or national format."""
    region = rng.choice(PHONE_REGIONS)
    number = phonenumbers.example_number_for_type(region,
                                                  phonenumbers.PhoneNumberType.MOBILE)
    style = rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                        phonenumbers.PhoneNumberFormat.E164])
    return phonenumbers.format_number(number, style)


def email(rng: random.Random) -> str:
    user = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9)))
    return f"{user}.{rng.choice(['smith', 'k', 'x99'])}@{rng.choice(['gmail.com', 'shop.co.uk'])}"


MAKERS = {"CARD": card, "IBAN": iban, "PHONE": phone, "EMAIL": email, "NEAR": near_miss}


def messages(n: int, seed: int = 0) -> list[tuple[str, list[tuple[str, str]]]]:
    """``n`` messages, each with its (label, value) pairs; NEAR values must survive masking."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        values: list[tuple[str, str]] = []
        text = template
        for label, maker in MAKERS.items():
            while "{" + label + "}" in text:
                value = maker(rng)
                text = text.replace("{" + label + "}", value, 1)
                values.append((label, value))
        out.append((text, values))
    return out
