"""The estimators a head is fitted with, for every model: the featurizer from its config and
one linear map per head (logistic regression, a linear SVM, or both averaged)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.svm import LinearSVC

from interaction_classifier.features.featurizer import TextFeaturizer
from interaction_classifier.models.model import LinearHead
from interaction_classifier.training.config import FeaturesConfig, ModelConfig
from interaction_classifier.training.fit import fit_head


def make_featurizer(features: FeaturesConfig) -> TextFeaturizer:
    """An unfitted featurizer with the configured blocks."""
    return TextFeaturizer(**features.kwargs())


def fit_linear(name: str, X: Any, y: np.ndarray, model: ModelConfig, seed: int,
               weights: np.ndarray | None = None, columns: np.ndarray | None = None,
               domain: np.ndarray | None = None) -> LinearHead:
    """One head. ``logreg`` is the multinomial logistic regression of ``fit.fit_head`` (row
    weights, feature blocks, domain augmentation); ``svm`` a LinearSVC; ``svm+logreg``
    averages both into one linear map, each member's scores divided by their spread on the
    training rows so that neither dominates (the sum of linear maps is linear: one product at
    prediction time)."""
    weight = None if model.class_weight == "none" else model.class_weight
    members = []
    if model.classifier in ("svm", "svm+logreg"):
        svm = LinearSVC(C=model.svm_C, class_weight=weight, multi_class=model.svm_multi_class,
                        random_state=seed).fit(X, y, sample_weight=weights)
        members.append(LinearHead.from_estimator(name, svm))
    if model.classifier in ("logreg", "svm+logreg"):
        members.append(fit_head(name, X, y, model.c_for(name), weight, model.max_iter,
                                weights, columns, domain))
    if len(members) == 1:
        return members[0]
    scale = [float(np.std(h.logits(X))) or 1.0 for h in members]
    coef = sum(h.coef / s for h, s in zip(members, scale, strict=True)) / len(members)
    intercept = sum(h.intercept / s for h, s in zip(members, scale, strict=True)) / len(members)
    return LinearHead(name, members[0].classes, np.asarray(coef, dtype=np.float32),
                      np.asarray(intercept, dtype=np.float32))
