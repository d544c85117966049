"""Fitting the default model from the built corpus: three calibrated heads, then urgency.

Heads are fitted on the ``train`` split (rows where that head is labelled, weighted by label
origin and source), temperatures, review thresholds and the urgency model on ``valid``;
the evaluation report uses ``test``, the gold set and SemEval. Seeded and deterministic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from interaction_classifier.config import CLASSIFIER_HEADS, HEADS
from interaction_classifier.models.model import InteractionModel, LinearHead, driver_flags
from interaction_classifier.text.cues import CueMatcher
from interaction_classifier.training.config import TrainingConfig
from interaction_classifier.training.estimators import fit_linear, make_featurizer
from interaction_classifier.training.fit import (
    domain_flags,
    fit_temperature,
    head_columns,
    stacking_proba,
)
from interaction_classifier.training.thresholds import review_thresholds
from interaction_classifier.training.urgency import fit_urgency, urgency_feature_names
from interaction_classifier.training.weights import head_rows, head_weights


def fit_default_model(corpus: pd.DataFrame, cfg: TrainingConfig, matcher: CueMatcher,
                     version: str) -> InteractionModel:
    """Fit the full default model from a built corpus."""
    mcfg, weights_cfg = cfg.model, cfg.model.model_dump()
    train = corpus[corpus["split"] == "train"]
    valid = corpus[corpus["split"] == "valid"]
    selected = {h: head_rows(train, h, mcfg.max_rows_per_source, cfg.seed)
                for h in HEADS}
    union = pd.concat(selected.values())
    union = union[~union.index.duplicated()].sort_index()
    # One text is featurised (and counted in document frequencies) once, however many
    # rows carry it: a soft label is one row per class (training.distill).
    texts = union["text"].drop_duplicates().tolist()
    featurizer = make_featurizer(cfg.features).set_matcher(matcher)
    featurizer.fit(texts)
    X_all = featurizer.transform(texts)
    at = {t: i for i, t in enumerate(texts)}
    pos = {idx: at[t] for idx, t in zip(union.index, union["text"], strict=True)}
    X_valid, valid_cues = featurizer.transform_with_cues(valid["text"].tolist())
    names = featurizer.feature_names()
    heads: dict[str, LinearHead] = {}
    valid_proba: dict[str, np.ndarray] = {}
    for h in CLASSIFIER_HEADS:
        rows = selected[h]
        head = fit_linear(h, X_all[[pos[i] for i in rows.index]], rows[h].to_numpy(), mcfg,
                          cfg.seed, head_weights(rows, h, weights_cfg),
                          head_columns(names, mcfg.exclude_blocks.get(h, [])),
                          domain_flags(rows, mcfg.domain_adaptation.get(h, [])))
        vmask = valid[h].notna().to_numpy()
        head.temperature = fit_temperature(head, X_valid[vmask], valid[h][vmask].to_numpy(),
                                           head_weights(valid[vmask], h, weights_cfg))
        heads[h] = head
        valid_proba[h] = head.proba(X_valid)
    model = InteractionModel(featurizer=featurizer.freeze(), heads=heads,
                             abstain=review_thresholds(valid_proba, cfg.thresholds),
                             max_chars=cfg.predict.max_chars, version=version,
                             urgency=_fit_urgency(cfg, selected["urgency"], X_all, pos, valid,
                                                  X_valid, valid_cues, heads))
    return model.attach(matcher)


def _fit_urgency(cfg: TrainingConfig, urows: pd.DataFrame, X_all: Any, pos: dict,
                 valid: pd.DataFrame, X_valid: Any, valid_cues: list, heads: dict
                 ) -> Any:
    """The urgency text head on train, then the ordinal model on valid over its outputs, the
    interaction-type and sentiment probabilities and the cue flags."""
    ucfg, weights_cfg = cfg.urgency, cfg.model.model_dump()
    text_cfg = cfg.model.model_copy(update={"classifier": "logreg", "C": ucfg.text_C})
    text_head = fit_linear("urgency", X_all[[pos[i] for i in urows.index]],
                           urows["urgency"].to_numpy(), text_cfg, cfg.seed,
                           head_weights(urows, "urgency", weights_cfg))
    umask = valid["urgency"].notna().to_numpy()
    uweights = head_weights(valid[umask], "urgency", weights_cfg)
    text_head.temperature = fit_temperature(text_head, X_valid[umask],
                                            valid["urgency"][umask].to_numpy(), uweights)
    flags = np.vstack([driver_flags(c) for c, keep in zip(valid_cues, umask, strict=True)
                       if keep])
    probas = {h: stacking_proba(heads[h], X_valid[umask])
              for h in ("interaction_type", "sentiment")}
    fit_cfg = {"values": ucfg.values, "tiers": cfg.thresholds.priority, "C": ucfg.C,
               "fit_cutoffs": ucfg.fit_cutoffs}
    return fit_urgency(text_head, X_valid[umask], probas, flags, valid[umask],
                       urgency_feature_names(text_head, heads), fit_cfg, uweights)

