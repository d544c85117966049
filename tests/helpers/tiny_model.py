"""A small model without urgency, trained in seconds on generated sentences.

It stands for a model retrained on a user's own labels: two heads whose names and labels are
not the default taxonomy's (labels with ``&``, ``?``, ``'``, parentheses and an accent), no
urgency, no sentiment score. Tests run every path (predict, CLI, pyfunc, scoring) on it as
well as on the shipped default model.
"""

from __future__ import annotations

import random
from pathlib import Path

from sklearn.linear_model import LogisticRegression

from interaction_classifier.features.featurizer import TextFeaturizer
from interaction_classifier.models import signing
from interaction_classifier.models.artifact import save_artifact
from interaction_classifier.models.model import InteractionModel, LinearHead

# head -> label -> words that make a sentence about it
VOCABULARY: dict[str, dict[str, list[str]]] = {
    "topic": {
        "Billing & Payments": ["invoice", "charge", "bill", "payment", "refund"],
        "Delivery (late)": ["parcel", "courier", "shipping", "delivery", "package"],
        "Compte d'accès café": ["password", "login", "account", "username", "sign-in"],
    },
    "intent": {
        "reverted_card_payment?": ["reverted", "bounced back", "was reversed", "got undone"],
        "card_arrived": ["arrived", "came today", "was delivered", "is here"],
    },
}
TEMPLATES = ("my {topic} {intent}", "the {topic} {intent} this morning",
             "hello, about the {topic}: it {intent}", "why has my {topic} {intent}?")
REVIEW = {"topic": 0.6, "intent": 0.55}  # default review thresholds of the tiny model


def generate(n: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` labelled rows: ``text`` plus one label per head."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        labels = {h: rng.choice(list(words)) for h, words in VOCABULARY.items()}
        words = {h: rng.choice(VOCABULARY[h][labels[h]]) for h in VOCABULARY}
        rows.append({"text": rng.choice(TEMPLATES).format(**words), **labels})
    return rows


def build_tiny_model(directory: Path, n: int = 300, seed: int = 0,
                     version: str = "tiny-test", signed: bool = True) -> Path:
    """Fit, save (with manifest and checksums, signed with the test session's key unless
    ``signed=False``) and return a no-urgency model directory; load it with
    ``interaction_classifier.load_model(directory)``."""
    rows = generate(n, seed)
    texts = [r["text"] for r in rows]
    featurizer = TextFeaturizer(word_min_df=1, char_min_df=1, word_max_features=2000,
                                char_max_features=3000, use_cues=False,
                                lexicon_weight=0.0).fit(texts)
    X = featurizer.transform(texts)
    heads = {h: LinearHead.from_estimator(h, LogisticRegression(C=0.5, max_iter=1000).fit(
        X, [r[h] for r in rows])) for h in VOCABULARY}
    model = InteractionModel(featurizer=featurizer.freeze(), heads=heads, abstain=dict(REVIEW),
                             max_chars=5000, version=version, urgency=None)
    signer = signing.load_private_key(signing.default_key_path()) if signed else None
    return save_artifact(model, Path(directory), {"version": version, "heads": list(heads)},
                         signer=signer)
