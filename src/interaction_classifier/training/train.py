"""Training: fit the featurizer and one calibrated classifier per head, then urgency.

Heads are fitted on the ``train`` split (rows where that head is labelled), temperatures
and the urgency model on ``valid``, and everything is reported on ``test`` and the gold
set. Seeded and deterministic: the same corpus and config give the same weights.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit, xlogy
from sklearn._loss.loss import HalfMultinomialLoss

from interaction_classifier.config import PATTERNS_DIR, PROJECT_ROOT, read_toml
from interaction_classifier.features.featurizer import TextFeaturizer
from interaction_classifier.models.model import (
    URGENCY_DRIVERS,
    InteractionModel,
    LinearHead,
    UrgencyModel,
    driver_flags,
    ordinal_proba,
    urgency_inputs,
)
from interaction_classifier.text.cues import CueMatcher
from interaction_classifier.training.solver import MultinomialLogisticRegression, lbfgs, vdot


@dataclass
class TrainConfig:
    """The parsed training config (``configs/default.toml``)."""

    raw: dict[str, Any]
    path: Path | None = None
    heads: list[str] = field(default_factory=lambda: ["interaction_type", "journey_stage",
                                                      "sentiment"])

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls(read_toml(path), Path(path))

    @property
    def seed(self) -> int:
        return int(self.raw.get("seed", 13))

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.raw.get(name, {}))

    def corpus_path(self) -> Path:
        return PROJECT_ROOT / self.section("corpus").get("path", "data/corpus/corpus.parquet")

    def flat_params(self) -> dict[str, str]:
        """Config flattened to ``section.key`` strings for MLflow."""
        from interaction_classifier.training.tracking import flat_params

        return flat_params(self.raw)


def head_rows(frame: pd.DataFrame, head: str, cap: int | None, seed: int) -> pd.DataFrame:
    """Rows labelled for ``head``, at most ``cap`` per source (seeded sample)."""
    rows = frame[frame[head].notna()]
    if not cap:
        return rows
    parts = [g if len(g) <= cap else g.sample(n=cap, random_state=seed)
             for _, g in rows.groupby("source", sort=True)]
    return pd.concat(parts).sort_index()


def label_weights(rows: pd.DataFrame, head: str, weights: dict[str, float]) -> np.ndarray:
    """Per-row weight by where this head's label came from: hand, rule or mapping."""
    from_rule = rows["rule_ids"].fillna("").str.contains(f"{head}=", regex=False)
    origin = np.where(from_rule, "rule", rows["label_origin"].fillna("mapping").str.split("+")
                      .str[0].to_numpy())
    return np.array([weights.get(o, 1.0) for o in origin], dtype=np.float64)


def source_weights(rows: pd.DataFrame, weights: dict[str, float]) -> np.ndarray:
    """Per-row multiplier by source (default 1), e.g. to lean a head towards tweets."""
    return rows["source"].map(weights).fillna(1.0).to_numpy(dtype=np.float64)


def head_weights(rows: pd.DataFrame, head: str, mcfg: dict) -> np.ndarray:
    """Training weight per row of one head: its origin weight (``origin_weights``, overridden
    per head by ``head_origin_weights``) times its source weight (``source_weights``)."""
    origins = {**mcfg.get("origin_weights", {}),
               **mcfg.get("head_origin_weights", {}).get(head, {})}
    return label_weights(rows, head, origins) \
        * source_weights(rows, mcfg.get("source_weights", {}).get(head, {}))


def head_columns(feature_names: list[str], excluded: list[str]) -> np.ndarray | None:
    """The columns a head may use: all but the blocks (feature-name prefixes such as
    ``emb``) it excludes; None when it uses every column."""
    if not excluded:
        return None
    blocks = [n.split(":", 1)[0] for n in feature_names]
    unknown = sorted(set(excluded) - set(blocks))
    if unknown:
        raise ValueError(f"exclude_blocks names blocks the features do not have: {unknown}; "
                         f"they have {sorted(set(blocks))}")
    return np.array([i for i, b in enumerate(blocks) if b not in excluded], dtype=np.int64)


def domain_flags(rows: pd.DataFrame, sources: list[str]) -> np.ndarray | None:
    """1.0 for rows whose source starts with one of ``sources`` (one domain), 0.0 for the
    others; None when the head is not domain-adapted."""
    if not sources:
        return None
    flags = rows["source"].str.startswith(tuple(sources)).to_numpy(dtype=np.float64)
    if flags.all() or not flags.any():
        raise ValueError(f"domain_adaptation {sources} must split the rows in two; it matches "
                         f"{int(flags.sum())} of {len(flags)}")
    return flags


def augment(X: Any, domain: np.ndarray) -> sp.csr_matrix:
    """Feature augmentation (Daume 2007): every column three times, shared, on the rows of
    the domain only, and on the other rows only."""
    return sp.hstack([X, sp.diags(domain) @ X, sp.diags(1.0 - domain) @ X], format="csr")


def fit_head(name: str, X: Any, y: np.ndarray, C: float, class_weight: str | None,
             max_iter: int, sample_weight: np.ndarray | None = None,
             columns: np.ndarray | None = None, domain: np.ndarray | None = None
             ) -> LinearHead:
    """Multinomial logistic regression (``solver.py``: the same weights on every CPU),
    reduced to its weights; a head restricted to ``columns`` gets zero weight on every other
    column. With ``domain`` it is fitted on :func:`augment`-ed features and keeps only the
    shared weights, for messages from sources it never saw (chosen by leave-one-source-out,
    docs/model.md)."""
    clf = MultinomialLogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter,
                                        tol=1e-4)
    X_head = X if columns is None else X[:, columns]
    clf.fit(X_head if domain is None else augment(X_head, domain), y,
            sample_weight=sample_weight)
    if domain is not None:
        clf.coef_ = clf.coef_[:, : X_head.shape[1]]  # the shared copy
    head = LinearHead.from_estimator(name, clf)
    if columns is not None:
        coef = np.zeros((X.shape[1], head.coef.shape[1]), dtype=head.coef.dtype)
        coef[columns] = head.coef
        head.coef = coef
    return head


def fit_temperature(head: LinearHead, X: Any, y: np.ndarray,
                    weights: np.ndarray | None = None) -> float:
    """Temperature that minimises validation log-loss (Guo et al. 2017), weighted like the
    head's training rows so that it calibrates against the labels the head was fitted to
    trust (hand labels over mapped ones), not against the split's label mixture. The loss is
    scikit-learn's compiled one (libm), so the search sees, and returns, the same numbers on
    every CPU (numpy's own exp and log differ in the last bit between SIMD kernels)."""
    logits = head.logits(X).astype(np.float64)
    index = np.array([head.classes.index(v) for v in y], dtype=np.float64)
    w = np.ones(len(index)) if weights is None else np.asarray(weights, dtype=np.float64)
    loss = HalfMultinomialLoss(n_classes=len(head.classes))

    def nll(log_t: float) -> float:
        pointwise = loss.loss(index, np.ascontiguousarray(logits / math.exp(log_t)), w)
        return float(np.add.reduce(pointwise) / np.add.reduce(w))

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return math.exp(res.x)


def _softplus(x: np.ndarray) -> np.ndarray:
    return -log_expit(-x)


def _ordinal_nll(eta: np.ndarray, cuts: np.ndarray, y: np.ndarray,
                 weights: np.ndarray) -> float:
    """Weighted mean negative log-likelihood of a cumulative-logit model, in scipy's
    compiled sigmoid and log (libm) so that it is the same to the last bit on every CPU."""
    p = np.clip(ordinal_proba(eta, cuts, expit)[np.arange(len(y)), y], 1e-12, None)
    return float(-np.add.reduce(weights * xlogy(1.0, p)) / np.add.reduce(weights))


def fit_ordinal(X: np.ndarray, y: np.ndarray, weights: np.ndarray, C: float,
                ordered: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative-logit fit with L2 penalty 1/(2C); weights of ``ordered`` (low, mid, high
    feature index) are reparametrised so that w_low < w_mid < w_high always holds.

    Fitted with the heads' :func:`solver.lbfgs` on central-difference gradients and without
    BLAS (``vdot``, row sums by numpy's pairwise sum): scipy's L-BFGS-B with its default
    finite differences stopped 1e-4 apart on two CPU kernels; this gives the same bits."""
    n_features, n_cuts = X.shape[1], int(y.max())
    free = [j for j in range(n_features) if j not in ordered]
    X = np.ascontiguousarray(X, dtype=np.float64)

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.zeros(n_features)
        w[free] = theta[: len(free)]
        base, gap1, gap2 = theta[len(free): len(free) + 3]
        w[ordered[0]] = base
        w[ordered[1]] = base + _softplus(gap1)
        w[ordered[2]] = w[ordered[1]] + _softplus(gap2)
        c = theta[len(free) + 3:]
        cuts = c[0] + np.concatenate([[0.0], np.cumsum(_softplus(c[1:]))])
        return w, cuts

    def loss(theta: np.ndarray) -> float:
        w, cuts = unpack(theta)
        nll = _ordinal_nll(np.add.reduce(X * w, axis=1), cuts, y, weights)
        return nll + vdot(w, w) / (2 * C * len(y))

    def loss_gradient(theta: np.ndarray, h: float = 1e-6) -> tuple[float, np.ndarray]:
        grad = np.empty_like(theta)
        for j in range(len(theta)):
            step = np.zeros_like(theta)
            step[j] = h
            grad[j] = (loss(theta + step) - loss(theta - step)) / (2 * h)
        return loss(theta), grad

    theta0 = np.zeros(len(free) + 3 + n_cuts)
    theta0[len(free) + 3:] = [-1.0] + [0.5] * (n_cuts - 1)
    theta, _ = lbfgs(loss_gradient, theta0, max_iter=2000, tol=1e-7)
    return unpack(theta)


def stacking_proba(head: LinearHead, X: Any) -> np.ndarray:
    """``head.proba`` through scikit-learn's compiled softmax (libm) instead of numpy's exp,
    whose last bit differs between SIMD kernels: the inputs of the urgency model, fitted on
    these probabilities, are then the same on every CPU."""
    logits = np.ascontiguousarray(head.logits(X).astype(np.float64) / head.temperature)
    loss = HalfMultinomialLoss(n_classes=len(head.classes))
    return loss.gradient_proba(np.zeros(len(logits)), logits)[1]


def fit_urgency(text_head: LinearHead, X: Any, probas: dict[str, np.ndarray],
                flags: np.ndarray, rows: pd.DataFrame, feature_names: list[str],
                cfg: dict[str, Any], weights: np.ndarray) -> UrgencyModel:
    """Ordinal urgency model on validation rows (``weights``: one per row),
    complaint > question > compliment enforced."""
    values = {k: float(v) for k, v in cfg["values"].items()}
    classes = sorted(values, key=values.get)
    inputs = urgency_inputs(stacking_proba(text_head, X), probas, flags)
    y = rows["urgency"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    order = tuple(feature_names.index(f"p_interaction_type__{k}")
                  for k in ("compliment", "question", "complaint"))
    coef, cuts = fit_ordinal(inputs, y, weights, float(cfg.get("C", 1.0)), order)
    return UrgencyModel(feature_names=feature_names, classes=classes, coef=coef, cuts=cuts,
                        values=values, tiers={k: float(v) for k, v in cfg["tiers"].items()},
                        text_head=text_head)


def urgency_feature_names(text_head: LinearHead, heads: dict[str, LinearHead]) -> list[str]:
    return ([f"p_text__{c}" for c in text_head.classes]
            + [f"p_interaction_type__{c}" for c in heads["interaction_type"].classes]
            + [f"p_sentiment__{c}" for c in heads["sentiment"].classes]
            + [f"cue:{d}" for d in URGENCY_DRIVERS] + ["cue:lowers"])


def train_model(corpus: pd.DataFrame, cfg: TrainConfig, matcher: CueMatcher,
                version: str | None = None) -> InteractionModel:
    """Fit the full default model from a built corpus."""
    seed, mcfg, fcfg = cfg.seed, cfg.section("model"), cfg.section("features")
    train = corpus[corpus["split"] == "train"]
    valid = corpus[corpus["split"] == "valid"]
    cap = mcfg.get("max_rows_per_source")
    selected = {h: head_rows(train, h, cap, seed) for h in [*cfg.heads, "urgency"]}
    union = pd.concat(selected.values())
    union = union[~union.index.duplicated()].sort_index()
    featurizer = TextFeaturizer(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in fcfg.items()}).set_matcher(matcher)
    featurizer.fit(union["text"].tolist())
    X_all = featurizer.transform(union["text"].tolist())
    pos = {idx: i for i, idx in enumerate(union.index)}
    X_valid, valid_cues = featurizer.transform_with_cues(valid["text"].tolist())
    heads: dict[str, LinearHead] = {}
    names = featurizer.feature_names()
    for h in cfg.heads:
        rows = [pos[i] for i in selected[h].index]
        weights = head_weights(selected[h], h, mcfg)
        head = fit_head(h, X_all[rows], selected[h][h].to_numpy(), float(mcfg["C"][h]),
                        mcfg.get("class_weight"), int(mcfg.get("max_iter", 2000)),
                        weights, head_columns(names, mcfg.get("exclude_blocks", {}).get(h, [])),
                        domain_flags(selected[h], mcfg.get("domain_adaptation", {}).get(h, [])))
        vmask = valid[h].notna().to_numpy()
        head.temperature = fit_temperature(head, X_valid[vmask], valid[h][vmask].to_numpy(),
                                           head_weights(valid[vmask], h, mcfg))
        heads[h] = head
    ucfg = cfg.section("urgency")
    urows = selected["urgency"]
    text_head = fit_head("urgency", X_all[[pos[i] for i in urows.index]],
                         urows["urgency"].to_numpy(), float(ucfg.get("text_C", 1.0)),
                         mcfg.get("class_weight"), int(mcfg.get("max_iter", 2000)),
                         head_weights(urows, "urgency", mcfg))
    umask = valid["urgency"].notna().to_numpy()
    uweights = head_weights(valid[umask], "urgency", mcfg)
    text_head.temperature = fit_temperature(text_head, X_valid[umask],
                                            valid["urgency"][umask].to_numpy(), uweights)
    flags = np.vstack([driver_flags(c) for c, keep in zip(valid_cues, umask, strict=True)
                       if keep])
    probas = {h: stacking_proba(heads[h], X_valid[umask])
              for h in ("interaction_type", "sentiment")}
    urgency = fit_urgency(text_head, X_valid[umask], probas, flags, valid[umask],
                          urgency_feature_names(text_head, heads), ucfg, uweights)
    abstain = {k: float(v) for k, v in cfg.section("abstain").items()}
    max_chars = int(cfg.section("predict").get("max_chars", 5000))
    version = version or dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    model = InteractionModel(featurizer=featurizer.freeze(), heads=heads, abstain=abstain,
                             max_chars=max_chars, version=version, urgency=urgency)
    return model.attach(matcher)


def evaluation_report(predictor: Any, corpus: pd.DataFrame, plots_dir: Path | None = None,
                      semeval_limit: int | None = None) -> dict[str, Any]:
    """Metrics on the test split, the gold set and held-out SemEval; plots when asked."""
    from interaction_classifier.data.gold import load_gold
    from interaction_classifier.evaluation import metrics as evaluate

    test = corpus[corpus["split"] == "test"]
    gold = load_gold()
    report: dict[str, Any] = {}
    for name, frame in (("test", test), ("gold", gold)):
        metrics, pred = evaluate.evaluate_frame(predictor, frame)
        report[name] = metrics
        for head, linear in predictor.model.heads.items():
            proba = pred[[f"p_{head}__{c}" for c in linear.classes]]
            metrics[head]["ece"] = evaluate.expected_calibration_error(frame[head], proba)
            metrics[head]["abstain"] = evaluate.abstention(
                frame[head], proba, predictor.model.abstain.get(head, 0.0))
            if plots_dir is not None:
                evaluate.plot_confusion(frame[head], pred[head], linear.classes,
                                        f"{name}: {head}", plots_dir / f"cm_{name}_{head}.png")
                evaluate.plot_calibration(frame[head], proba, f"{name}: {head}",
                                          plots_dir / f"calibration_{name}_{head}.png")
        if name == "test":
            report["test_per_source"] = evaluate.per_source(
                frame, pred, list(predictor.model.heads)).to_dict(orient="records")
    report["semeval_heldout"] = evaluate.semeval_report(predictor, limit=semeval_limit)
    return report


def gold_score(report: dict[str, Any]) -> float:
    """The single number the champion alias is decided on: mean gold macro-F1 and AUC."""
    gold = report["gold"]
    parts = [gold[h]["macro_f1"] for h in ("interaction_type", "journey_stage", "sentiment")]
    parts.append(gold["urgency"]["roc_auc_urgent"] or 0.0)
    return float(sum(parts) / len(parts))


def run_training(config_path: Path, output_dir: Path, track: bool = True,
                 version: str | None = None, corpus_path: Path | None = None
                 ) -> dict[str, Any]:
    """Train, evaluate, save a verified artifact and (optionally) log it all to MLflow."""
    import tempfile

    from interaction_classifier.config import load_taxonomy
    from interaction_classifier.data.corpus import fingerprint, read_corpus
    from interaction_classifier.evaluation.card import write_card
    from interaction_classifier.models.artifact import save_artifact, write_manifest
    from interaction_classifier.serving.predictor import Predictor

    cfg = TrainConfig.load(config_path)
    corpus = read_corpus(corpus_path or cfg.corpus_path())
    matcher = CueMatcher(PATTERNS_DIR)
    model = train_model(corpus, cfg, matcher, version=version)
    plots = Path(tempfile.mkdtemp(prefix="ic-plots-"))
    report = evaluation_report(Predictor(model, {}, output_dir), corpus, plots)
    report["gold_score"] = gold_score(report)
    manifest = {"name": "interaction-classifier", "version": model.version,
                "corpus_fingerprint": fingerprint(corpus), "config": cfg.raw,
                "taxonomy": load_taxonomy().as_dict(), "metrics": report}
    output_dir.mkdir(parents=True, exist_ok=True)
    write_card(output_dir, manifest)
    save_artifact(model, output_dir, manifest)
    if track:
        _track(cfg, output_dir, report, manifest, plots)
    write_manifest(output_dir, manifest)
    return report


def _track(cfg: TrainConfig, output_dir: Path, report: dict[str, Any], manifest: dict,
           plots: Path) -> None:
    """Log params, metrics, plots and the pyfunc; move ``champion`` if gold improves."""
    import mlflow

    from interaction_classifier.serving.predictor import load_model
    from interaction_classifier.training import tracking

    ml = cfg.section("mlflow")
    tracking.setup(ml.get("experiment", "interaction-classifier"))
    name = ml.get("registered_model", "interaction-classifier")
    with mlflow.start_run(run_name=f"train-{manifest['version']}") as run:
        mlflow.log_params(cfg.flat_params())
        mlflow.log_param("corpus_fingerprint", manifest["corpus_fingerprint"])
        mlflow.set_tag("model_version", manifest["version"])
        mlflow.log_metrics(tracking.flatten_metrics(
            {k: v for k, v in report.items() if k != "test_per_source"}))
        mlflow.log_artifacts(str(plots), artifact_path="plots")
        if cfg.path is not None:
            mlflow.log_artifact(str(cfg.path), artifact_path="config")
        predictor = load_model(output_dir)
        example = pd.DataFrame({"text": ["My card was stolen, please block it now!",
                                         "Thanks for the quick help yesterday."]})
        info = tracking.log_model_dir(output_dir, example, predictor.predict_batch(
            example["text"].tolist()), name)
        manifest["mlflow"] = {"run_id": run.info.run_id, "model_uri": info.model_uri,
                              "registered_version": str(info.registered_model_version)}
        manifest["mlflow"]["champion"] = tracking.promote_if_better(
            name, str(info.registered_model_version), report["gold_score"], "gold_score")
