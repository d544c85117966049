"""PII redaction: recall per kind, look-alikes wrongly masked, and time per message, for this
project's redactor beside Microsoft Presidio's pattern recognizers (when installed).

The messages come from ``tests/helpers/pii.py`` (generated, with valid cards, IBANs and phone
numbers and Luhn-invalid order numbers beside them). Presidio is scored with its own e-mail,
credit-card, IBAN and phone recognizers called directly, since its ``AnalyzerEngine`` needs a
downloaded spaCy model. Usage:

    python benchmarks/redaction.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interaction_classifier.text.redact import redact
from tests.helpers.pii import messages

PRESIDIO_LABELS = {"EMAIL_ADDRESS": "EMAIL", "CREDIT_CARD": "CARD", "IBAN_CODE": "IBAN",
                   "PHONE_NUMBER": "PHONE"}


def presidio_redactor() -> Callable[[str], str] | None:
    """Presidio's recognizers as a ``text -> masked text`` function, or None if not installed."""
    try:
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            EmailRecognizer,
            IbanRecognizer,
            PhoneRecognizer,
        )
    except ImportError:
        return None
    recognizers = [EmailRecognizer(), CreditCardRecognizer(), IbanRecognizer(),
                   PhoneRecognizer(supported_regions=("US", "GB", "FR", "DE"))]

    def mask(text: str) -> str:
        spans = sorted((r.start, r.end, PRESIDIO_LABELS[r.entity_type])
                       for rec in recognizers
                       for r in rec.analyze(text, rec.supported_entities, None))
        out, last = [], 0
        for start, end, label in spans:
            if start >= last:
                out += [text[last:start], f"<{label}>"]
                last = end
        return "".join(out) + text[last:]

    return mask


def score(mask: Callable[[str], str], corpus: list) -> tuple[dict[str, float], float, float]:
    """Recall per kind, share of near misses masked, microseconds per message."""
    found, total = Counter(), Counter()
    start = time.perf_counter()
    masked = [mask(text) for text, _ in corpus]
    seconds = time.perf_counter() - start
    for (_, values), out in zip(corpus, masked, strict=True):
        for label, value in values:
            total[label] += 1
            found[label] += value not in out
    recall = {k: found[k] / total[k] for k in total if k != "NEAR"}
    return recall, found["NEAR"] / total["NEAR"], seconds / len(corpus) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    corpus = messages(parser.parse_args().messages, seed=1)
    rows = [("interaction-classifier", redact)]
    presidio = presidio_redactor()
    if presidio is None:
        print("presidio-analyzer is not installed: its column is left out")
    else:
        presidio(corpus[0][0])  # first call loads its tables (and tries the network)
        rows.append(("presidio pattern recognizers", presidio))
    print(f"{len(corpus)} generated messages")
    print(f"{'redactor':32} {'EMAIL':>6} {'CARD':>6} {'IBAN':>6} {'PHONE':>6} "
          f"{'near-miss masked':>17} {'us/msg':>8}")
    for name, mask in rows:
        recall, false_mask, micros = score(mask, corpus)
        print(f"{name:32} " + " ".join(f"{recall[k]:6.3f}" for k in
                                        ("EMAIL", "CARD", "IBAN", "PHONE"))
              + f" {false_mask:17.3f} {micros:8.0f}")


if __name__ == "__main__":
    main()
