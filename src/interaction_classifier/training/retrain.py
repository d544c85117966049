"""Fitting a model on your own labels: one head per label column, no urgency.

Fit on train, temperature-scale and set review thresholds on valid; ``[model] refit`` then
decides what the saved model sees: ``train+valid`` refits before the test report, ``all``
after it (run.py), each with the same settings, temperatures and thresholds.
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
    weights = origin_weights(frame, cfg.model.origin_weights)
    out = {}
    for h in cfg.data.label_columns:
        mask = frame[h].notna().to_numpy()
        out[h] = fit_linear(h, X[mask], frame.loc[mask, h].to_numpy(), cfg.model, cfg.seed,
                            None if weights is None else weights[mask])
    return out


def origin_weights(frame: pd.DataFrame, weights: dict[str, float]) -> np.ndarray | None:
    """Row weights by ``label_origin`` (reviewed corrections: ``review``); None when every
    row counts once."""
    if "label_origin" not in frame or not weights:
        return None
    return frame["label_origin"].map(weights).fillna(1.0).to_numpy(dtype=np.float64)


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
    """The model from a prepared table and its train/valid/test split (test rows unused)."""
    train, valid = frame[split == "train"], frame[split == "valid"]
    featurizer = make_featurizer(cfg.features)
    heads = fit_heads(featurizer, train, cfg)
    review = review_thresholds(calibrate(featurizer, heads, valid), cfg.thresholds)
    model = InteractionModel(featurizer=featurizer.freeze(), heads=heads, abstain=review,
                             max_chars=cfg.predict.max_chars, version=version)
    return refit(model, pd.concat([train, valid]), cfg) if cfg.model.refit == "train+valid" \
        else model


def refit(model: InteractionModel, rows: pd.DataFrame, cfg: TrainingConfig
          ) -> InteractionModel:
    """The same model fitted again on ``rows``, keeping its temperatures and thresholds."""
    featurizer = make_featurizer(cfg.features)
    heads = fit_heads(featurizer, rows, cfg)
    for h, head in heads.items():
        head.temperature = model.heads[h].temperature
    return InteractionModel(featurizer=featurizer.freeze(), heads=heads,
                            abstain=dict(model.abstain), max_chars=model.max_chars,
                            version=model.version)
