"""What the feature blocks read of a tokenised batch: term, char-word and surface-form ids
of the kept tokens, and the lexicon block as weighted sparse columns.

A :class:`Terms` is made once per batch (``analyse``) and serves fitting and inference
alike. Every string-level decision (lemma, mask, negation mark) is made once per distinct
token; the occurrences are integer arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from interaction_classifier.text.tokenrules import NEGATION_SUFFIX
from interaction_classifier.text.tokens import DROP, TokenBatch

# VADER's constants (vaderSentiment 3.3.2): negation scalar, "!" and "?" emphasis, and the
# normalisation of the compound score.
N_SCALAR = -0.74
EXCLAIM = 0.292
QUESTION = 0.18
QUESTION_MAX = 0.96
ALPHA = 15.0


def intern(values: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct values (first-seen order) and each value's index among them."""
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.int64,
                      count=len(values))
    return list(index), ids


@dataclass(frozen=True)
class Terms:
    """The kept tokens of a batch (``text.tokens.DROP`` ones left out), as ids."""

    n_docs: int
    docs: np.ndarray  # text index of each kept occurrence
    terms: np.ndarray  # word-block term id (lemma or mask, "_NEG"-marked in scope)
    term_names: list[str]
    chars: np.ndarray  # char-block word id
    char_words: list[str]
    forms: np.ndarray  # lower-case surface form id (masks kept)
    form_names: list[str]
    negated: np.ndarray  # bool: in a negation's scope

    def doc_strings(self, ids: np.ndarray, names: list[str]) -> list[str]:
        """Space-joined strings per text (``pipeline.doc_forms``'s output), for the
        reference comparisons and the word-vector fit."""
        out = [[] for _ in range(self.n_docs)]
        for d, i in zip(self.docs.tolist(), ids.tolist(), strict=True):
            out[d].append(names[i])
        return [" ".join(words) for words in out]


def analyse(batch: TokenBatch, mark_negation: bool, char_surface: bool) -> Terms:
    """The ids every block reads; the char block reads the surface forms with
    ``char_surface``, else the lemmas without negation marks."""
    info = batch.info
    feature_names, feature_of = intern([t.feature for t in info])
    form_names, form_of = intern([t.form for t in info])
    keep = (feature_of != feature_names.index(DROP))[batch.ids] if DROP in feature_names \
        else np.ones(len(batch.ids), dtype=bool)
    occ = batch.ids[keep]
    negated = batch.negated()[keep] & batch.flags("is_alpha")[keep] \
        & ~batch.flags("negator")[keep]
    terms = feature_of[occ]
    term_names = feature_names
    if mark_negation:
        terms = terms + negated * len(feature_names)
        term_names = feature_names + [f + NEGATION_SUFFIX for f in feature_names]
    chars, char_words = (form_of[occ], form_names) if char_surface \
        else (feature_of[occ], feature_names)
    return Terms(len(batch), batch.doc_of()[keep], terms, term_names, chars, char_words,
                 form_of[occ], form_names, negated)


@lru_cache(maxsize=1)
def vader_lexicon() -> tuple[dict[str, float], dict[str, str]]:
    """VADER's word -> mean valence table and its emoji -> description table, read from the
    installed package."""
    root = resources.files("vaderSentiment")
    words = {parts[0]: float(parts[1])
             for line in (root / "vader_lexicon.txt").read_text("utf-8").splitlines()
             if len(parts := line.split("\t")) >= 2}
    emoji = dict(line.split("\t", 1)
                 for line in (root / "emoji_utf8_lexicon.txt").read_text("utf-8").splitlines()
                 if "\t" in line)
    return words, emoji


def valence(form: str) -> float:
    """VADER's valence of one lower-case token; an emoji scores as its description's words."""
    words, emoji = vader_lexicon()
    if form in words:
        return words[form]
    if form in emoji:
        return sum(words.get(w, 0.0) for w in emoji[form].split())
    return 0.0


def lexicon_scores(t: Terms) -> np.ndarray:
    """VADER's pos, neg, neu and compound per text, from its lexicon as one weighted
    column: each word's valence (times VADER's -0.74 in a negation's scope) summed per text,
    "!" and "?" emphasis, and VADER's normalisations. VADER's booster, capitals and "but"
    rules are left out: they are per-message Python (~16% of ``predict_batch``)."""
    if t.n_docs == 1:
        return _text_scores([t.form_names[f] for f in t.forms.tolist()], t.negated.tolist())
    valence_of = np.array([valence(f) for f in t.form_names], dtype=np.float64)
    v = valence_of[t.forms] if len(t.forms) else np.zeros(0)
    v = np.where(t.negated, v * N_SCALAR, v)
    bang = np.array([f == "!" for f in t.form_names], dtype=bool)[t.forms]
    quest = np.array([f == "?" for f in t.form_names], dtype=bool)[t.forms]

    def per_doc(weights: np.ndarray) -> np.ndarray:
        return np.bincount(t.docs, weights=weights, minlength=t.n_docs)

    total = per_doc(v)
    n_bang, n_quest = per_doc(bang.astype(float)), per_doc(quest.astype(float))
    emphasis = np.minimum(n_bang, 4) * EXCLAIM + np.where(
        n_quest > 1, np.where(n_quest <= 3, n_quest * QUESTION, QUESTION_MAX), 0.0)
    total = total + np.sign(total) * emphasis
    compound = np.clip(total / np.sqrt(total * total + ALPHA), -1.0, 1.0)
    pos0 = per_doc(np.where(v > 0, v + 1.0, 0.0))
    neg0 = -per_doc(np.where(v < 0, v - 1.0, 0.0))
    neu = per_doc(((v == 0) & ~bang & ~quest).astype(float))
    pos = pos0 + np.where(pos0 > neg0, emphasis, 0.0)
    neg = neg0 + np.where(neg0 > pos0, emphasis, 0.0)
    whole = pos + neg + neu
    safe = np.where(whole > 0, whole, 1.0)
    return np.column_stack([pos / safe, neg / safe, neu / safe, compound]).astype(np.float32)


def _text_scores(forms: list[str], negated: list[bool]) -> np.ndarray:
    """:func:`lexicon_scores` of one text on Python floats instead of ~30 numpy calls on
    one-element arrays (a single ``predict()``): the same operations in the same order, so
    the same bits as the text gets in a batch (``tests/model/test_features.py``)."""
    total = pos0 = neg0 = neu = n_bang = n_quest = 0.0
    for form, in_scope in zip(forms, negated, strict=True):
        v = valence(form) * N_SCALAR if in_scope else valence(form)
        bang, quest = form == "!", form == "?"
        total += v
        n_bang, n_quest = n_bang + bang, n_quest + quest
        pos0 += v + 1.0 if v > 0 else 0.0
        neg0 += v - 1.0 if v < 0 else 0.0
        neu += float(v == 0 and not bang and not quest)
    neg0 = -neg0
    emphasis = min(n_bang, 4.0) * EXCLAIM + (
        (n_quest * QUESTION if n_quest <= 3 else QUESTION_MAX) if n_quest > 1 else 0.0)
    total = total + ((total > 0) - (total < 0)) * emphasis
    compound = min(max(total / math.sqrt(total * total + ALPHA), -1.0), 1.0)
    pos = pos0 + (emphasis if pos0 > neg0 else 0.0)
    neg = neg0 + (emphasis if neg0 > pos0 else 0.0)
    whole = pos + neg + neu
    safe = whole if whole > 0 else 1.0
    return np.array([[pos / safe, neg / safe, neu / safe, compound]], dtype=np.float32)
