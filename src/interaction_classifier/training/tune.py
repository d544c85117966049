"""Model selection for retraining: a documented search space, successive halving, a budget.

Successive halving (Jamieson & Talwalkar 2016) scores many candidates on a small stratified
sample of the training rows and promotes the best third to three times the rows, so that
most of the time goes to the promising ones. Texts are spaCy-parsed once for the whole
search. The budget is a wall-clock limit: the number of candidates is sized from the time
of the first one, and the search stops early (keeping the best candidate of the last rung
reached) rather than overrun. Calibration is not searched: temperature scaling is fitted
on the validation split afterwards and never changes which label wins.
"""

from __future__ import annotations

import itertools
import random
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.model_selection import StratifiedKFold

from interaction_classifier.text.tokens import TokenBatch, encode
from interaction_classifier.training.config import TrainingConfig, merge
from interaction_classifier.training.estimators import fit_linear, make_featurizer

# Every key is ``section.key`` of the training config (see docs/retraining.md).
SPACE: dict[str, list[Any]] = {
    "features.word_ngram_range": [[1, 1], [1, 2], [1, 3]],
    "features.word_min_df": [1, 2],
    "features.char_ngram_range": [[2, 4], [2, 5], [1, 6]],
    "features.sublinear_tf": [True, False],
    "model.classifier": ["logreg", "svm", "svm+logreg"],
    "model.svm_C": [0.1, 0.3, 0.5, 1.0, 3.0],
    "model.C": [3.0, 10.0, 30.0, 100.0],
    "model.class_weight": ["none", "balanced"],
}
MAX_CANDIDATES = 81


def effective(params: dict[str, Any]) -> tuple:
    """A candidate's identity, ignoring the C of a classifier it does not use."""
    kind = params["model.classifier"]
    drop = {"svm": "model.C", "logreg": "model.svm_C"}.get(kind)
    return tuple(sorted((k, str(v)) for k, v in params.items() if k != drop))


def candidates(base: TrainingConfig, n: int, seed: int) -> list[dict[str, Any]]:
    """The config's own settings first, then distinct seeded samples of the space."""
    dumped = base.model_dump(mode="json")
    first = {key: dumped[key.split(".")[0]][key.split(".")[1]] for key in SPACE}
    grid = [dict(zip(SPACE, values, strict=True))
            for values in itertools.product(*SPACE.values())]
    random.Random(seed).shuffle(grid)
    out, seen = [first], {effective(first)}
    for params in grid:
        if len(out) >= n:
            break
        if effective(params) not in seen:
            seen.add(effective(params))
            out.append(params)
    return out


def apply(cfg: TrainingConfig, params: dict[str, Any]) -> TrainingConfig:
    """The config with a candidate's values filled in (validated again)."""
    update: dict[str, Any] = {}
    for key, value in params.items():
        section, name = key.split(".")
        update.setdefault(section, {})[name] = value
    return TrainingConfig.model_validate(merge(cfg.model_dump(), update))


def stratified_sample(y: np.ndarray, rows: int, minimum: int, seed: int) -> np.ndarray:
    """Indices of about ``rows`` rows, each class keeping its share and at least ``minimum``."""
    rng = np.random.default_rng(seed)
    frac = min(1.0, rows / len(y))
    keep = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        take = min(len(idx), max(minimum, round(frac * len(idx))))
        keep.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(keep))


def fold_score(prepared: TokenBatch, y: np.ndarray, fit_idx: np.ndarray,
               val_idx: np.ndarray, cfg: TrainingConfig) -> float:
    """Accuracy of one candidate on one fold."""
    fit_rows = prepared.subset(fit_idx.tolist())
    featurizer = make_featurizer(cfg.features)
    featurizer.fit_batch(fit_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings on tiny rungs
        head = fit_linear("search", featurizer.transform_batch(fit_rows), y[fit_idx],
                          cfg.model, cfg.seed)
    X_val = featurizer.transform_batch(prepared.subset(val_idx.tolist()))
    pred = np.asarray(head.classes, dtype=object)[head.logits(X_val).argmax(axis=1)]
    return float((pred == y[val_idx]).mean())


def cv_score(prepared: TokenBatch, y: np.ndarray, idx: np.ndarray,
             cfg: TrainingConfig, folds: int, pool: Parallel) -> float:
    """Mean stratified k-fold accuracy on the rows ``idx``."""
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=cfg.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes smaller than the fold count
        splits = list(splitter.split(idx, y[idx]))
    scores = pool(delayed(fold_score)(prepared, y, idx[a], idx[b], cfg) for a, b in splits)
    return float(np.mean(scores))


def search(train: pd.DataFrame, cfg: TrainingConfig
           ) -> tuple[TrainingConfig, dict[str, Any]]:
    """Successive halving on the first label column; returns the chosen config (search off,
    so that re-running it repeats the chosen model) and a log."""
    started = time.perf_counter()
    budget = cfg.search.budget_minutes * 60.0
    folds, factor, seed = cfg.search.folds, cfg.search.factor, cfg.seed
    head = cfg.data.label_columns[0]
    rows = train[train[head].notna()]
    prepared = encode(rows["text"].tolist())
    y = rows[head].to_numpy().astype(str)
    n_classes = len(np.unique(y))
    sizes = [len(y) // factor ** k for k in (2, 1)
             if len(y) // factor ** k >= 10 * n_classes] + [len(y)]
    history: list[dict[str, Any]] = []
    with Parallel(n_jobs=min(folds, 2)) as pool:
        def evaluate(params: dict[str, Any], rung: int) -> dict[str, Any]:
            t0 = time.perf_counter()
            idx = stratified_sample(y, sizes[rung], folds, seed)
            score = cv_score(prepared, y, idx, apply(cfg, params), folds, pool)
            entry = {"rung": rung, "rows": len(idx), "params": params, "cv_accuracy": score,
                     "seconds": round(time.perf_counter() - t0, 2)}
            history.append(entry)
            return entry

        pending = candidates(cfg, MAX_CANDIDATES, seed)
        probe = evaluate(pending[0], 0)
        per_rung = budget / len(sizes)
        n0 = int(min(MAX_CANDIDATES, max(factor, per_rung // max(probe["seconds"], 1e-3))))
        survivors, results = pending[:n0], [probe]
        for rung in range(len(sizes)):
            if rung:
                results = []
            for params in survivors[len(results):]:
                if time.perf_counter() - started > budget and results:
                    break
                results.append(evaluate(params, rung))
            results.sort(key=lambda e: -e["cv_accuracy"])
            if rung + 1 == len(sizes) or time.perf_counter() - started > budget:
                break
            survivors = [e["params"] for e in results[:max(1, len(results) // factor)]]
    best = results[0]
    log = {"space": SPACE, "sizes": sizes, "n_candidates": n0, "best": best,
           "budget_minutes": cfg.search.budget_minutes,
           "seconds": round(time.perf_counter() - started, 1), "history": history}
    chosen = apply(cfg, best["params"])
    return chosen.model_copy(update={"search": chosen.search.model_copy(
        update={"budget_minutes": 0.0})}), log
