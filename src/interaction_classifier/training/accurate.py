"""Fitting the accurate profile: logistic heads on frozen embeddings, fused with the fast model.

The fast model is loaded as shipped (signature and checksums verified) and left unchanged.
Per head (and for the urgency text head) a multinomial logistic regression is fitted on the
train rows' sentence embeddings, with the fast model's row selection and weights, and
temperature-scaled on ``valid``. The fusion weight ``w`` (share of the fast model) is the
grid value with the lowest weighted validation log-loss of the mixture, then one temperature
re-calibrates the mixture on the same rows. Nothing is chosen on the gold set.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from interaction_classifier.config import HEADS, PROJECT_ROOT
from interaction_classifier.features.encoder import EncoderFiles, OnnxEncoder
from interaction_classifier.models.accurate import TEXT_TIERS, AccurateModel, FusedHead, check_fused
from interaction_classifier.models.artifact import load_artifact
from interaction_classifier.models.model import InteractionModel
from interaction_classifier.text.cues import CueMatcher
from interaction_classifier.training.config import TrainingConfig
from interaction_classifier.training.embedding_cache import cached_embeddings
from interaction_classifier.training.estimators import fit_linear
from interaction_classifier.training.fit import fit_temperature, weighted_log_loss
from interaction_classifier.training.weights import head_rows, head_weights


def encoder_files(cfg: TrainingConfig) -> EncoderFiles:
    """The exported encoder named by the config, with the digests the config pins."""
    acfg = cfg.accurate
    directory = PROJECT_ROOT / acfg.encoder_dir
    return EncoderFiles(
        directory / "encoder.onnx",
        acfg.graph_sha256,
        directory / "tokenizer.json",
        acfg.tokenizer_sha256,
    )


def load_base(cfg: TrainingConfig) -> tuple[InteractionModel, Path]:
    """The fast model the profile extends, verified as any model is."""
    directory = PROJECT_ROOT / cfg.accurate.base_model
    model, _ = load_artifact(directory)
    return model.attach(CueMatcher(directory / "patterns")), directory


def mixture_loss(
    fused: FusedHead, fast: np.ndarray, emb: np.ndarray, index: np.ndarray, weights: np.ndarray
) -> float:
    """Weighted log-loss of the fused probabilities."""
    return weighted_log_loss(np.log(np.maximum(fused.fuse(fast, emb), 1e-12)), index, weights)


def choose_fusion(
    fused: FusedHead,
    fast: np.ndarray,
    emb: np.ndarray,
    index: np.ndarray,
    weights: np.ndarray,
    grid: list[float],
) -> FusedHead:
    """The grid weight with the lowest validation log-loss, then the temperature of the
    mixture that minimises it."""
    losses = []
    for w in grid:
        fused.weight, fused.temperature = w, 1.0
        losses.append(mixture_loss(fused, fast, emb, index, weights))
    fused.weight = grid[int(np.argmin(losses))]
    res = minimize_scalar(
        lambda log_t: mixture_loss(
            FusedHead(fused.head, fused.weight, math.exp(log_t)), fast, emb, index, weights
        ),
        bounds=(-2.0, 2.0),
        method="bounded",
    )
    fused.temperature = math.exp(res.x)
    return fused


def fit_accurate_model(corpus: pd.DataFrame, cfg: TrainingConfig, version: str) -> AccurateModel:
    """Fit the embedding heads and fusion weights over the verified fast model."""
    acfg, weights_cfg = cfg.accurate, cfg.model.model_dump()
    base, base_dir = load_base(cfg)
    files = encoder_files(cfg)
    encoder = OnnxEncoder(files, acfg.max_length)
    cache = PROJECT_ROOT / acfg.cache_dir if acfg.cache_dir else None

    def embed(texts: list[str]) -> np.ndarray:
        return cached_embeddings(encoder, texts, cache, files.graph_sha256)

    train, valid = corpus[corpus["split"] == "train"], corpus[corpus["split"] == "valid"]
    rows = {h: head_rows(train, h, cfg.model.max_rows_per_source, cfg.seed) for h in HEADS}
    union = pd.concat(rows.values())
    union = union[~union.index.duplicated()].sort_index()
    E_all, E_valid = embed(union["text"].tolist()), embed(valid["text"].tolist())
    pos = pd.Series(np.arange(len(union)), index=union.index)
    fast_valid, _ = base.head_probabilities(valid["text"].tolist())
    fused: dict[str, FusedHead] = {}
    for h in HEADS:
        name = TEXT_TIERS if h == "urgency" else h
        r = rows[h]
        head = fit_linear(
            h,
            E_all[pos[r.index].to_numpy()],
            r[h].to_numpy(),
            cfg.model,
            cfg.seed,
            head_weights(r, h, weights_cfg),
        )
        head.name = name
        mask = valid[h].notna().to_numpy()
        w = head_weights(valid[mask], h, weights_cfg)
        head.temperature = fit_temperature(head, E_valid[mask], valid[h][mask].to_numpy(), w)
        index = np.array([head.classes.index(v) for v in valid[h][mask]])
        fused[name] = choose_fusion(
            FusedHead(head, 1.0),
            fast_valid[name][mask],
            E_valid[mask],
            index,
            w,
            acfg.fusion_grid(),
        )
    check_fused(base, fused)
    metadata = {
        **base.metadata,
        "profile": "accurate",
        "base_version": base.version,
        "max_length": acfg.max_length,
        "train_rows": {h: len(r) for h, r in rows.items()},
    }
    return AccurateModel.extend(
        base,
        version=version,
        metadata=metadata,
        encoder=encoder,
        encoder_files=files,
        fused=fused,
        base_dir=base_dir,
    )
