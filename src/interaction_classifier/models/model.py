"""The multi-head model: shared features, one calibrated linear classifier per head, urgency.

Inference is a single sparse matrix product per head followed by a temperature-scaled
softmax, so that one message costs a fraction of a millisecond. The estimators are fitted
with scikit-learn (see ``train.py``); only their weights are kept here.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from interaction_classifier.features.frozen import FeatureRows, FrozenFeaturizer
from interaction_classifier.text.cues import Cue, CueMatcher
from interaction_classifier.text.language import detect_language, is_foreign, language_cues
from interaction_classifier.text.patterns import URGENCY_DRIVERS

if TYPE_CHECKING:
    import pandas as pd



# Tier an unread urgency cue raises the score to, by cue label (default "high").
UNREAD_CUE_TIER = {"money": "normal"}


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class LinearHead:
    """A fitted linear classifier reduced to its weights, plus a calibration temperature."""

    name: str
    classes: list[str]
    coef: np.ndarray  # (n_features, n_classes), float32
    intercept: np.ndarray  # (n_classes,)
    temperature: float = 1.0

    @classmethod
    def from_estimator(cls, name: str, estimator: object) -> LinearHead:
        """Take the weights of a fitted LogisticRegression (binary or multinomial)."""
        coef = np.asarray(estimator.coef_, dtype=np.float32)
        intercept = np.asarray(estimator.intercept_, dtype=np.float32)
        if coef.shape[0] == 1:  # binary: softmax([0, z]) == sigmoid(z)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept]).astype(np.float32)
        return cls(name, [str(c) for c in estimator.classes_], coef.T.copy(), intercept)

    def logits(self, X: sp.csr_matrix) -> np.ndarray:
        """Uncalibrated scores."""
        return np.asarray(X @ self.coef) + self.intercept

    def proba(self, X: sp.csr_matrix) -> np.ndarray:
        """Calibrated class probabilities."""
        return softmax(self.logits(X) / self.temperature)


class StackedHeads:
    """Several linear heads side by side: one product and one grouped softmax per batch.

    A message then costs one gather of its feature rows instead of one sparse product and
    softmax per head (~0.1 ms less per ``predict()`` call, docs/benchmarks.md).
    """

    def __init__(self, heads: dict[str, LinearHead]) -> None:
        self.names = list(heads)
        self.sizes = np.array([len(h.classes) for h in heads.values()])
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.coef = np.hstack([h.coef for h in heads.values()])
        self.intercept = np.concatenate([h.intercept for h in heads.values()])
        self.inverse_temperature = np.repeat(
            [1.0 / h.temperature for h in heads.values()], self.sizes).astype(np.float32)

    def proba(self, X: FeatureRows) -> dict[str, np.ndarray]:
        """Calibrated class probabilities per head, as each head's ``proba`` gives them."""
        z = (X.dot(self.coef) + self.intercept) * self.inverse_temperature
        z -= np.repeat(np.maximum.reduceat(z, self.starts, axis=1), self.sizes, axis=1)
        e = np.exp(z)
        e /= np.repeat(np.add.reduceat(e, self.starts, axis=1), self.sizes, axis=1)
        return {name: e[:, a: a + n]
                for name, a, n in zip(self.names, self.starts, self.sizes, strict=True)}


@dataclass
class UrgencyModel:
    """Ordinal (cumulative-logit) urgency model; the score is the expected tier value.

    One linear predictor ``eta = x @ coef`` over: the tier probabilities of an urgency text
    classifier (word and character n-grams: "stolen", "third time", "asap"), the
    interaction-type and sentiment probabilities, and one 0/1 flag per urgency driver (plus
    one for urgency-lowering cues). ``P(tier >= k) = sigmoid(eta - cut_k)`` gives calibrated
    tier probabilities; the score is their expected value (low 0 ... critical 1), so it lies
    in [0, 1] and rises with ``eta``. The fit constrains the interaction-type weights to
    complaint > question > compliment, so other things equal a complaint always ranks above a
    question and a question above a compliment. Tiers follow from thresholds in the config.
    """

    feature_names: list[str]
    classes: list[str]  # ordered from least to most urgent
    coef: np.ndarray  # (n_features,)
    cuts: np.ndarray  # (n_classes - 1,), increasing
    values: dict[str, float]
    tiers: dict[str, float]
    text_head: LinearHead
    low_tier: str = "low"

    def tier_proba(self, features: np.ndarray) -> np.ndarray:
        """Calibrated P(tier) per row, columns in ``classes`` order."""
        return ordinal_proba(features @ self.coef, self.cuts)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Urgency in [0, 1]: the expected tier value."""
        values = np.array([self.values[c] for c in self.classes])
        return self.tier_proba(features) @ values

    def cutoffs(self) -> dict[str, float]:
        """Each tier's minimum score (the lowest tier has none), most urgent tier first."""
        order = [c for c in reversed(self.classes) if c in self.tiers]
        return {tier: float(self.tiers[tier]) for tier in order}

    def tiers_of(self, scores: np.ndarray, cutoffs: Mapping[str, float]) -> np.ndarray:
        """The most urgent tier whose cut-off each score reaches, else the lowest tier: with
        cut-offs that fall with urgency (the defaults) this is the first tier reached."""
        order = [(tier, cutoffs[tier]) for tier in reversed(self.classes) if tier in cutoffs]
        return np.array([next((tier for tier, cut in order if s >= cut), self.low_tier)
                         for s in scores.tolist()], dtype=object)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def ordinal_proba(eta: np.ndarray, cuts: np.ndarray,
                  sigmoid: Callable[[np.ndarray], np.ndarray] = _sigmoid) -> np.ndarray:
    """Class probabilities of a cumulative-logit model, least urgent class first. Training
    passes scipy's compiled ``expit`` (the same bits on every CPU); prediction keeps numpy,
    not to import scipy.special for one message."""
    cumulative = np.zeros((len(eta), len(cuts) + 2))  # P(y >= k): 1, P(y > 0), ..., 0
    cumulative[:, 0] = 1.0
    cumulative[:, 1:-1] = sigmoid(eta[:, None] - cuts[None, :])
    return np.clip(cumulative[:, :-1] - cumulative[:, 1:], 0.0, 1.0)


def driver_flags(cues: list[Cue]) -> np.ndarray:
    """0/1 per urgency driver, then one flag for urgency-lowering cues."""
    fired = {c.label for c in cues if c.head == "urgency" and not c.lowers}
    lowers = any(c.lowers for c in cues)
    return np.array([d in fired for d in URGENCY_DRIVERS] + [lowers], dtype=np.float32)


def unread_floor(cues: list[Cue], cutoffs: Mapping[str, float]) -> float:
    """Lowest urgency score for urgency cues the model did not read: the cues of a message
    in another language and those in the middle of a shortened text (the urgency weights of
    cue flags are learnt on English text whose words already raised the score, so a flag
    alone barely moves it). A driver cue lifts the score to the ``high`` cut-off, an amount
    of money to ``normal``."""
    tiers = [UNREAD_CUE_TIER.get(c.label, "high") for c in cues
             if c.head == "urgency" and not c.lowers]
    return max((cutoffs.get(tier, 0.0) for tier in tiers), default=0.0)


def urgency_inputs(text_tiers: np.ndarray, probas: dict[str, np.ndarray],
                   flags: np.ndarray) -> np.ndarray:
    """The urgency model's input matrix: text-head P(tier), type and sentiment, cue flags."""
    return np.hstack([text_tiers, probas["interaction_type"], probas["sentiment"], flags])


def checked_thresholds(overrides: Mapping[str, object] | None, defaults: Mapping[str, float],
                       kind: str) -> dict[str, float]:
    """``defaults`` with ``overrides`` merged over them, refusing an unknown key or a value
    that is not a number in [0, 1]: a typo must not silently leave the default in force."""
    merged = dict(defaults)
    for key, value in (overrides or {}).items():
        if key not in defaults:
            known = ", ".join(map(repr, defaults)) or "none (this model has no urgency)"
            raise ValueError(f"unknown {kind} {key!r}; known: {known}")
        if isinstance(value, bool) or not isinstance(value, int | float | np.number) \
                or math.isnan(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{kind} {key!r}: threshold must be a number in [0, 1], "
                             f"not {value!r}")
        merged[key] = float(value)
    return merged


@dataclass
class InteractionModel:
    """Featurizer + heads (+ urgency for the default taxonomy), with thresholds and limits.

    Every model the project trains is one of these; ``describe()`` says which heads, labels,
    default thresholds and capabilities (urgency and priority; sentiment score) it has, and
    prediction outputs exactly those.
    """

    featurizer: FrozenFeaturizer
    heads: dict[str, LinearHead]
    abstain: dict[str, float]
    max_chars: int
    version: str
    urgency: UrgencyModel | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for derived in ("_lock", "matcher", "_stacked_heads"):
            state.pop(derived, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def attach(self, matcher: CueMatcher) -> InteractionModel:
        """Attach the cue matcher built from the model's own pattern files."""
        self.matcher = matcher
        self.featurizer.set_matcher(matcher)
        return self

    @property
    def has_urgency(self) -> bool:
        return self.urgency is not None

    @property
    def has_sentiment_score(self) -> bool:
        """P(positive) - P(negative) of the default taxonomy's sentiment head; part of the
        urgency-capable (default) model only, as the contract states, even if a retrained
        model has a head of that name."""
        head = self.heads.get("sentiment")
        return self.has_urgency and head is not None \
            and {"positive", "negative"} <= set(head.classes)

    def review_thresholds(self, overrides: Mapping[str, object] | None = None
                          ) -> dict[str, float]:
        """Per head, the top probability below which a row needs review (0: never)."""
        defaults = {h: float(self.abstain.get(h, 0.0)) for h in self.heads}
        return checked_thresholds(overrides, defaults, "head")

    def priority_cutoffs(self, overrides: Mapping[str, object] | None = None
                         ) -> dict[str, float]:
        """Per priority tier, the minimum urgency score; ``{}`` for a model without urgency."""
        defaults = self.urgency.cutoffs() if self.has_urgency else {}
        return checked_thresholds(overrides, defaults, "priority tier")

    def describe(self) -> dict:
        """Version, heads and labels, capabilities and default thresholds, as plain types."""
        return {
            "version": self.version,
            "heads": {h: list(head.classes) for h, head in self.heads.items()},
            "capabilities": {"urgency": self.has_urgency,
                             "sentiment_score": self.has_sentiment_score},
            "thresholds": {"review": self.review_thresholds(),
                           "priority": self.priority_cutoffs()},
        }

    @property
    def output_columns(self) -> list[str]:
        """The label columns of ``predict_frame``, in order (probability columns follow);
        ``language`` is the message's (``text.language``), for every model."""
        return [*self.heads, *(["sentiment_score"] if self.has_sentiment_score else []),
                *(["urgency", "priority"] if self.has_urgency else []), "language",
                "needs_review"]

    def _stacked(self) -> StackedHeads:
        """All linear heads as one (the urgency text head as ``_text_tiers``), built once per
        process and not pickled."""
        if "_stacked_heads" not in self.__dict__:
            heads = dict(self.heads)
            if self.has_urgency:
                heads["_text_tiers"] = self.urgency.text_head
            self._stacked_heads = StackedHeads(heads)
        return self._stacked_heads

    def head_probabilities(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], list]:
        """Per-head probability matrices and the cues of each text (spaCy under a lock)."""
        with self._lock:
            X, cues = self.featurizer.rows_with_cues(texts)
            stacked = self._stacked()
        return stacked.proba(X), cues

    def oov_rate(self, texts: Sequence[str]) -> float:
        """Share of the texts' word tokens (normalised as the word block reads them) missing
        from the model's word vocabulary: words its training never saw (``loop.drift``)."""
        from interaction_classifier.features.terms import analyse
        from interaction_classifier.text.tokens import encode

        terms = analyse(encode(list(texts)), self.featurizer.mark_negation, False)
        vocabulary = self.featurizer.word.vocabulary
        known = np.array([name in vocabulary for name in terms.term_names], dtype=bool)
        return float(1.0 - known[terms.terms].mean()) if len(terms.terms) else 0.0

    def predict_arrays(self, texts: Sequence[str], *, review: Mapping[str, object] | None = None,
                       priority: Mapping[str, object] | None = None,
                       extra_cues: Sequence[list[Cue]] | None = None
                       ) -> tuple[dict[str, object], dict[str, np.ndarray], list[list[str]]]:
        """Labels and scores as arrays, per-head probability matrices, and urgency reasons.

        ``review`` and ``priority`` override the default thresholds for this call (checked
        before any text is parsed). ``extra_cues`` (per text) count for urgency as if found
        in the text: the cues of the middle of a shortened text. A message that is not in
        English needs review, and its language's own urgency cues count. No pandas on this
        path: a single ``predict()`` must stay well under a millisecond.
        """
        review_at = self.review_thresholds(review)
        cutoffs = self.priority_cutoffs(priority)
        probas, cues = self.head_probabilities(texts)
        languages = [detect_language(t) for t in texts]
        unread = [[*language_cues(t, lang), *(extra_cues[i] if extra_cues else ())]
                  for i, (t, lang) in enumerate(zip(texts, languages, strict=True))]
        cues = [[*c, *u] for c, u in zip(cues, unread, strict=True)]
        out: dict[str, object] = {}
        for name, head in self.heads.items():
            out[name] = np.asarray(head.classes, dtype=object)[probas[name].argmax(axis=1)]
        if self.has_sentiment_score:
            sent = self.heads["sentiment"].classes
            p = probas["sentiment"]
            out["sentiment_score"] = (p[:, sent.index("positive")]
                                      - p[:, sent.index("negative")]).astype(np.float64)
        reasons: list[list[str]] = [[] for _ in texts]
        if self.has_urgency:
            flags = np.vstack([driver_flags(c) for c in cues]) if len(texts) else \
                np.zeros((0, len(URGENCY_DRIVERS) + 1), dtype=np.float32)
            score = self.urgency.score(urgency_inputs(probas.pop("_text_tiers"), probas,
                                                      flags))
            score = np.maximum(score, [unread_floor(u, cutoffs) for u in unread])
            out["urgency"] = score.astype(np.float64)
            out["priority"] = self.urgency.tiers_of(score, cutoffs)
            reasons = [self._reasons(c, out, i) for i, c in enumerate(cues)]
        out["language"] = np.asarray(languages, dtype=object)
        confident = np.array([not is_foreign(lang) for lang in languages], dtype=bool)
        for name in self.heads:
            confident &= probas[name].max(axis=1) >= review_at[name]
        out["needs_review"] = ~confident
        return out, probas, reasons

    def predict_frame(self, texts: Sequence[str], *, review: Mapping[str, object] | None = None,
                      priority: Mapping[str, object] | None = None,
                      extra_cues: Sequence[list[Cue]] | None = None
                      ) -> tuple[pd.DataFrame, list[list[str]]]:
        """Labels, scores and probabilities for clean texts, plus urgency reasons per row:
        ``output_columns`` then one ``p_{head}__{label}`` column per head and label."""
        import pandas as pd  # not at module level: a single predict() never needs it

        out, probas, reasons = self.predict_arrays(texts, review=review, priority=priority,
                                                   extra_cues=extra_cues)
        for name, head in self.heads.items():  # one DataFrame build: inserting columns one
            for j, label in enumerate(head.classes):  # by one costs ~0.1 ms each
                out[f"p_{name}__{label}"] = probas[name][:, j].astype(np.float64)
        return pd.DataFrame(out), reasons

    def _reasons(self, cues: list[Cue], out: dict, i: int) -> list[str]:
        """Human-readable strings naming what raised or lowered urgency."""
        reasons = [c.reason for c in cues if c.head == "urgency" and not c.lowers]
        kind = out["interaction_type"][i]
        if kind == "complaint":
            reasons.append("dissatisfaction: complaint")
        if out["sentiment"][i] == "negative":
            reasons.append("dissatisfaction: negative sentiment")
        reasons += [f"lowered: {c.reason}" for c in cues if c.head == "urgency" and c.lowers]
        if kind in ("compliment", "feedback") and not any(not c.lowers for c in cues
                                                          if c.head == "urgency"):
            reasons.append(f"lowered: routine {kind}")
        return list(dict.fromkeys(reasons))
