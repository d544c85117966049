"""Fitting a model on your own labels: one head per label column, no urgency.

Fit on train, temperature-scale and set review thresholds on valid, then (with
``refit_on_valid``) refit on train + valid keeping the temperatures, so the final model sees
every non-test row. The test rows are only used by the evaluation report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from interaction_classifier.features.featurizer import TextFeaturizer
from interaction_classifier.models.model import InteractionModel, LinearHead
from interaction_classifier.training.config import TrainingConfig
from interaction_classifier.training.estimators import fit_linear, make_featurizer
from interaction_classifier.training.fit import fit_temperature
from interaction_classifier.training.thresholds import review_thresholds


def fit_heads(featurizer: TextFeaturizer, frame: pd.DataFrame, cfg: TrainingConfig
              ) -> dict[str, LinearHead]:
    """Fit the featurizer on ``frame`` and one head per label column on its labelled rows."""
    featurizer.fit(frame["text"].tolist())
    X = featurizer.transform(frame["text"].tolist())
    out = {}
    for h in cfg.data.label_columns:
        mask = frame[h].notna().to_numpy()
        out[h] = fit_linear(h, X[mask], frame.loc[mask, h].to_numpy(), cfg.model, cfg.seed)
    return out


def calibrate(featurizer: TextFeaturizer, heads: dict[str, LinearHead], valid: pd.DataFrame
              ) -> dict[str, np.ndarray]:
    """Set each head's temperature on its labelled validation rows (rows of a class the
    head never saw are left out); returns every validation row's calibrated probabilities."""
    X_valid = featurizer.transform(valid["text"].tolist())
    for h, head in heads.items():
        mask = (valid[h].notna() & valid[h].isin(head.classes)).to_numpy()
        if mask.any():
            head.temperature = fit_temperature(head, X_valid[mask], valid.loc[mask, h].to_numpy())
    return {h: head.proba(X_valid) for h, head in heads.items()}


def fit_table_model(frame: pd.DataFrame, split: pd.Series, cfg: TrainingConfig,
                    version: str) -> InteractionModel:
    """The whole model from a prepared table and its train/valid/test split."""
    train, valid = frame[split == "train"], frame[split == "valid"]
    featurizer = make_featurizer(cfg.features)
    heads = fit_heads(featurizer, train, cfg)
    review = review_thresholds(calibrate(featurizer, heads, valid), cfg.thresholds)
    if cfg.model.refit_on_valid:
        temperatures = {h: head.temperature for h, head in heads.items()}
        featurizer = make_featurizer(cfg.features)
        heads = fit_heads(featurizer, pd.concat([train, valid]), cfg)
        for h, head in heads.items():
            head.temperature = temperatures[h]
    return InteractionModel(featurizer=featurizer.freeze(), heads=heads, abstain=review,
                            max_chars=cfg.predict.max_chars, version=version)
