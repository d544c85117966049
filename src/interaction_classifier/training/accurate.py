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
from interaction_classifier.models.model import InteractionModel, LinearHead
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


def logistic_heads(
    train: pd.DataFrame, cfg: TrainingConfig, embed
) -> tuple[dict[str, LinearHead], dict[str, int]]:
    """A logistic head per label set on the frozen embeddings of the fast model's train rows
    (same cap per source, seed and weights); also the rows per head."""
    weights_cfg = cfg.model.model_dump()
    rows = {h: head_rows(train, h, cfg.model.max_rows_per_source, cfg.seed) for h in HEADS}
    union = pd.concat(rows.values())
    union = union[~union.index.duplicated()].sort_index()
    E_all = embed(union["text"].tolist())
    pos = pd.Series(np.arange(len(union)), index=union.index)
    heads = {}
    for h, r in rows.items():
        heads[h] = fit_linear(
            h,
            E_all[pos[r.index].to_numpy()],
            r[h].to_numpy(),
            cfg.model,
            cfg.seed,
            head_weights(r, h, weights_cfg),
        )
        heads[h].name = TEXT_TIERS if h == "urgency" else h
    return heads, {h: len(r) for h, r in rows.items()}


def finetuned_heads(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    base: InteractionModel,
    cfg: TrainingConfig,
    version: str,
) -> tuple[EncoderFiles, dict[str, LinearHead], dict]:
    """The fine-tuned encoder (exported under ``[finetune] output_dir``/version) and heads in
    the base model's class order."""
    from interaction_classifier.training.finetune import finetune

    names = {h: TEXT_TIERS if h == "urgency" else h for h in HEADS}
    classes = {
        h: (base.urgency.text_head if h == "urgency" else base.heads[h]).classes for h in HEADS
    }
    result = finetune(
        train,
        valid,
        classes,
        names,
        cfg.finetune,
        cfg.model.model_dump(),
        cfg.accurate.max_length,
        cfg.seed,
        PROJECT_ROOT / cfg.finetune.output_dir / version,
    )
    return result.files, result.heads, result.log


def fit_accurate_model(corpus: pd.DataFrame, cfg: TrainingConfig, version: str) -> AccurateModel:
    """Fit (or fine-tune) the embedding heads and the fusion weights over the verified fast
    model."""
    base, base_dir = load_base(cfg)
    return extend_fast_model(base, corpus, cfg, version, base_dir)


def extend_fast_model(
    base: InteractionModel,
    corpus: pd.DataFrame,
    cfg: TrainingConfig,
    version: str,
    base_dir: Path | None = None,
) -> AccurateModel:
    """The embedding heads and fusion weights over ``base``, any fast model (a benchmark
    passes one it fitted, with no ``base_dir``: such a model predicts but cannot be saved)."""
    acfg, weights_cfg = cfg.accurate, cfg.model.model_dump()
    train, valid = corpus[corpus["split"] == "train"], corpus[corpus["split"] == "valid"]
    extra: dict = {}
    if cfg.finetune is not None:
        files, heads, extra["finetune"] = finetuned_heads(train, valid, base, cfg, version)
        extra["train_rows"] = extra["finetune"]["labelled_rows"]
    else:
        files = encoder_files(cfg)
    encoder = OnnxEncoder(files, acfg.max_length)
    cache = PROJECT_ROOT / acfg.cache_dir if acfg.cache_dir else None

    def embed(texts: list[str]) -> np.ndarray:
        return cached_embeddings(encoder, texts, cache, files.graph_sha256)

    if cfg.finetune is None:
        heads, extra["train_rows"] = logistic_heads(train, cfg, embed)
    E_valid = embed(valid["text"].tolist())
    fast_valid, _ = base.head_probabilities(valid["text"].tolist())
    fused: dict[str, FusedHead] = {}
    for h, head in heads.items():
        mask = valid[h].notna().to_numpy()
        w = head_weights(valid[mask], h, weights_cfg)
        head.temperature = fit_temperature(head, E_valid[mask], valid[h][mask].to_numpy(), w)
        index = np.array([head.classes.index(v) for v in valid[h][mask]])
        fused[head.name] = choose_fusion(
            FusedHead(head, 1.0),
            fast_valid[head.name][mask],
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
        **extra,
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
