"""Default review thresholds, set at training time (callers can override them per call).

Rule: a head's review threshold is the top-probability quantile ``review_rate`` of its
validation rows, i.e. with the default 0.1 the least confident tenth of messages like the
validation ones needs review. A threshold given in ``[thresholds] review`` wins. The rule
needs no labels and gives the same workload on every model whatever its accuracy; the
abstention table of the evaluation report shows what each threshold buys. A fitted threshold
is at most ``MAX_FITTED`` (0.99): a model that is all but certain on most validation rows
(small, separable data) would otherwise get 1.0 and flag everything not exactly certain.
"""

from __future__ import annotations

import math

import numpy as np

from interaction_classifier.training.config import ThresholdsConfig

MAX_FITTED = 0.99


def review_threshold(top_proba: np.ndarray, rate: float) -> float:
    """The confidence below which ``rate`` of these rows fall (0 when ``rate`` is 0)."""
    if rate <= 0 or len(top_proba) == 0:
        return 0.0
    # Rounded down, so that near-certain rows (0.99996...) are not flagged by a threshold
    # rounded up to 1.0.
    quantile = float(np.quantile(top_proba.astype(np.float64), rate))
    return min(MAX_FITTED, math.floor(quantile * 1e4) / 1e4)


def review_thresholds(valid_proba: dict[str, np.ndarray], cfg: ThresholdsConfig
                      ) -> dict[str, float]:
    """Per head: the configured threshold, else the rule above on its validation rows."""
    unknown = sorted(set(cfg.review) - set(valid_proba))
    if unknown:
        raise ValueError(f"[thresholds] review names unknown heads {unknown}; heads: "
                         f"{sorted(valid_proba)}")
    return {head: float(cfg.review[head]) if head in cfg.review
            else review_threshold(proba.max(axis=1), cfg.review_rate)
            for head, proba in valid_proba.items()}
