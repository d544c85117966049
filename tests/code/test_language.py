"""Language: detected offline, non-English messages flagged, their urgency cues kept."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from interaction_classifier import load_model
from interaction_classifier.config import PROJECT_ROOT
from interaction_classifier.models import model as model_module
from interaction_classifier.text.language import (
    UNDETERMINED,
    detect_language,
    is_foreign,
    language_cues,
)

WRITTEN = [json.loads(line) for line in (PROJECT_ROOT / "tests" / "data" / "fixtures" /
                                         "languages.jsonl").read_text("utf-8").splitlines()]
FRENCH_FRAUD = ("On m'a volé ma carte bancaire hier soir et il y a des paiements frauduleux "
                "de 450 € sur mon compte, bloquez-la immédiatement !")


@pytest.fixture(scope="module")
def model():
    return load_model()


def test_written_messages_in_seven_languages_are_recognised() -> None:
    """Customer messages we wrote, ten per language (en, fr, de, es, it, pt, nl)."""
    right = Counter(row["lang"] for row in WRITTEN if detect_language(row["text"]) == row["lang"])
    total = Counter(row["lang"] for row in WRITTEN)
    assert sum(right.values()) >= 0.9 * len(WRITTEN)
    assert all(right[lang] >= 0.8 * n for lang, n in total.items() if lang != "en")
    # an English message is never taken for another language, at worst undetermined
    english = [detect_language(r["text"]) for r in WRITTEN if r["lang"] == "en"]
    assert not any(is_foreign(lang) for lang in english)


@pytest.mark.parametrize("text", ["", "ok", "@AmazonHelp 👍", "https://t.co/abc 123",
                                  "!!!???", "12345 67890"])
def test_short_or_letterless_text_is_undetermined(text: str) -> None:
    assert detect_language(text) == UNDETERMINED


def test_a_french_fraud_report_is_reviewed_with_raised_urgency(model, monkeypatch) -> None:
    result = model.predict(FRENCH_FRAUD)
    assert result["language"] == "fr" and result["needs_review"] is True
    assert any("'fr', not English" in r for r in result["reasons"])
    assert any(r.startswith("risk: stolen") for r in result["reasons"])
    monkeypatch.setattr(model_module, "language_cues", lambda text, language: [])
    blind = model.predict(FRENCH_FRAUD)
    assert blind["urgency"] < result["urgency"]
    assert result["priority"] in ("high", "critical") and blind["priority"] in ("low", "normal")


def test_english_messages_get_no_language_cues_and_no_language_review(model) -> None:
    assert language_cues("Someone stole 450 € from my account, urgent", "en") == []
    result = model.predict("Where is my parcel? It was due yesterday.")
    assert result["language"] == "en"
    assert not any("not English" in r for r in result["reasons"])


@pytest.mark.parametrize(("text", "language", "labels"), [
    ("Meine Karte wurde gestohlen, bitte sofort sperren!", "de",
     {"risk", "time_pressure"}),
    ("Alguien pagó 300 euros con mi tarjeta, es un fraude", "es", {"risk", "money"}),
    ("Il mio conto è bloccato, è urgente", "it", {"risk", "time_pressure"}),
    ("Roubaram o meu cartão", "pt", {"risk"}),
    ("Iemand heeft mijn kaart gebruikt, dit is fraude", "nl", {"risk"}),
    ("Merci beaucoup pour votre aide rapide !", "fr", set()),
])
def test_urgency_cues_of_six_languages(text: str, language: str, labels: set[str]) -> None:
    assert {c.label for c in language_cues(text, language)} == labels


def test_language_is_a_column_of_predict_batch(model) -> None:
    frame = model.predict_batch(["Where is my order?", "¿Dónde está mi pedido? Llevo una "
                                                       "semana esperando"])
    assert frame["language"].tolist() == ["en", "es"]
    assert bool(frame["needs_review"].iloc[1])
