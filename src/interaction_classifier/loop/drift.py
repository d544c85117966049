"""Drift: how far a scored batch has moved from a reference (the training profile or a run).

Both sides are summarised the same way (``summarise``): per head the predicted label counts
and a 10-bin histogram of the top probability; the needs_review rate; the share of word
tokens the model's vocabulary lacks (``InteractionModel.oov_rate``); the share of messages
detected in another language than English. ``compare`` gives per measure a value and a
verdict, ``stable`` / ``watch`` / ``act``:

- label distribution and confidence histogram: the population stability index,
  PSI = sum((cur - ref) * ln(cur / ref)) over bins (shares floored at ``EPS``), with the
  usual credit-scoring cut-offs: < 0.1 stable, 0.1 to 0.25 watch, >= 0.25 act (Siddiqi,
  *Credit Risk Scorecards*, 2006; Yurdakul, *Statistical properties of the population
  stability index*, 2018). Label counts also get a chi-square test of homogeneity
  (``scipy.stats.chi2_contingency``), reported with its p-value; on thousands of rows it
  finds differences too small to matter, so the verdict follows the PSI.
- needs_review rate, OOV rate, non-English share: the change in percentage points, < 5
  stable, 5 to 10 watch, >= 10 act (the rates are shares of all rows, so a 10-point change
  is a tenth of the traffic behaving differently); a change within the 99% sampling noise
  of two proportions is stable whatever its size.

Libraries: evidently 0.7.23 and nannyml 0.13.1 were evaluated and not used. Both compute
PSI / chi-square drift on DataFrame columns, which here is a few lines of scipy; neither
knows the model's vocabulary or heads. A clean install (``pip install --dry-run``, December
2026) pulls 79 packages for evidently (plotly, nltk, statsmodels, a web server and a
telemetry client among them) and 92 for nannyml (lightgbm, xgboost, the Google Cloud and
S3 clients, an analytics client); scipy is already a dependency.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from interaction_classifier.loop.review import correctable_heads

REFERENCE_FILE = "reference.json"  # in a model directory, written by train, checksummed
EPS = 1e-4
BINS = np.linspace(0.0, 1.0, 11)
PSI_CUTS = (0.1, 0.25)
RATE_CUTS = (0.05, 0.10)
OOV_SAMPLE = 5000
Z = 2.576  # two-sided 99% normal quantile: a rate change within Z standard errors is noise
RATES = ("needs_review_rate", "oov_rate", "non_english_share")


def head_confidence(scored: pd.DataFrame, head: str) -> np.ndarray:
    """Top probability per row from the scored ``p_<head>__<label>`` columns."""
    columns = [c for c in scored.columns if c.startswith(f"p_{head}__")]
    return scored[columns].apply(pd.to_numeric, errors="coerce").max(axis=1).fillna(0.0) \
        .to_numpy()


def _flag_share(values: pd.Series) -> float:
    text = values.astype(str).str.strip().str.lower()
    return float(text.isin(["true", "1"]).mean()) if len(text) else 0.0


def summarise(scored: pd.DataFrame, oov_rate: float | None = None) -> dict[str, Any]:
    """The profile of one scored table (rows the scorer quarantined left out)."""
    from interaction_classifier.text.language import is_foreign

    if "status" in scored.columns:
        scored = scored[scored["status"].fillna("ok") == "ok"]
    heads = {}
    for head, column in correctable_heads(scored).items():
        counts = scored[column].dropna().astype(str).value_counts().sort_index()
        heads[head] = {"labels": {str(k): int(v) for k, v in counts.items()}}
        if column == head:
            hist, _ = np.histogram(head_confidence(scored, head), bins=BINS)
            heads[head]["confidence"] = [int(v) for v in hist]
    language = scored["language"].fillna("und").astype(str) if "language" in scored else None
    return {"rows": len(scored), "heads": heads,
            "needs_review_rate": _flag_share(scored["needs_review"])
            if "needs_review" in scored else None,
            "non_english_share": float(language.map(is_foreign).mean())
            if language is not None and len(language) else None,
            "oov_rate": oov_rate}


def psi(current: Sequence[float], reference: Sequence[float]) -> float:
    """Population stability index of two count (or share) vectors over the same bins."""
    cur = np.asarray(current, dtype=float)
    ref = np.asarray(reference, dtype=float)
    cur = np.maximum(cur / max(cur.sum(), 1.0), EPS)
    ref = np.maximum(ref / max(ref.sum(), 1.0), EPS)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def verdict(value: float | None, cuts: tuple[float, float]) -> str:
    """``stable`` below the first cut-off, ``watch`` below the second, else ``act``."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return "stable" if value < cuts[0] else "watch" if value < cuts[1] else "act"


def _labels_measure(cur: dict[str, int], ref: dict[str, int]) -> dict[str, Any]:
    labels = sorted(set(cur) | set(ref))
    counts = np.array([[cur.get(k, 0) for k in labels], [ref.get(k, 0) for k in labels]])
    value = psi(counts[0], counts[1])
    kept = counts[:, counts.sum(axis=0) > 0]
    p = float(chi2_contingency(kept).pvalue) if kept.shape[1] > 1 and kept.sum(axis=1).all() \
        else None
    shares = {k: (round(c / max(counts[0].sum(), 1), 4), round(r / max(counts[1].sum(), 1), 4))
              for k, c, r in zip(labels, counts[0], counts[1], strict=True)}
    return {"psi": round(value, 4), "chi2_p": p, "verdict": verdict(value, PSI_CUTS),
            "shares": shares}


def _rate_measure(cur: float | None, ref: float | None, n_cur: int, n_ref: int
                  ) -> dict[str, Any]:
    """The change of a rate; within sampling noise (``Z`` standard errors of the difference
    of two proportions, 99%) it is ``stable`` whatever its size, so small batches do not
    raise alarms."""
    if cur is None or ref is None:
        return {"current": cur, "reference": ref, "change": None, "verdict": "n/a"}
    change = cur - ref
    pooled = (cur * n_cur + ref * n_ref) / max(n_cur + n_ref, 1)
    noise = Z * np.sqrt(pooled * (1 - pooled) * (1 / max(n_cur, 1) + 1 / max(n_ref, 1)))
    return {"current": round(cur, 4), "reference": round(ref, 4), "change": round(change, 4),
            "noise": round(float(noise), 4),
            "verdict": "stable" if abs(change) <= noise else verdict(abs(change), RATE_CUTS)}


def compare(current: dict[str, Any], reference: dict[str, Any], name: str = "the reference"
            ) -> dict[str, Any]:
    """Per head and per rate, the measure and its verdict; ``overall`` is the worst one;
    ``name`` says what the reference is."""
    heads = {}
    for head, cur in current["heads"].items():
        ref = reference["heads"].get(head)
        if ref is None:
            continue
        heads[head] = {"labels": _labels_measure(cur["labels"], ref["labels"])}
        if "confidence" in cur and "confidence" in ref:
            value = psi(cur["confidence"], ref["confidence"])
            heads[head]["confidence"] = {"psi": round(value, 4),
                                         "verdict": verdict(value, PSI_CUTS)}
    sizes = {name: (current["rows"], reference["rows"]) for name in RATES}
    sizes["oov_rate"] = (min(current["rows"], OOV_SAMPLE), min(reference["rows"], OOV_SAMPLE))
    rates = {name: _rate_measure(current.get(name), reference.get(name), *sizes[name])
             for name in RATES}
    verdicts = [m["verdict"] for h in heads.values() for m in h.values()] + \
        [m["verdict"] for m in rates.values()]
    order = ["n/a", "stable", "watch", "act"]
    return {"reference": name,
            "rows": {"current": current["rows"], "reference": reference["rows"]},
            "heads": heads, "rates": rates,
            "overall": max(verdicts, key=order.index) if verdicts else "n/a"}


def sample_texts(texts: pd.Series, seed: int = 13) -> list[str]:
    """At most ``OOV_SAMPLE`` texts (seeded) for the out-of-vocabulary rate."""
    texts = texts.dropna().astype(str)
    if len(texts) > OOV_SAMPLE:
        texts = texts.sample(n=OOV_SAMPLE, random_state=seed)
    return texts.tolist()


def table_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per measure (head, measure, value, reference, verdict) for text and HTML."""
    rows = []
    for head, measures in report["heads"].items():
        lab = measures["labels"]
        p = "n/a" if lab["chi2_p"] is None else f"{lab['chi2_p']:.3g}"
        rows.append({"head": head, "measure": "label distribution",
                     "value": f"PSI {lab['psi']:.3f} (chi-square p {p})",
                     "verdict": lab["verdict"]})
        if "confidence" in measures:
            rows.append({"head": head, "measure": "confidence",
                         "value": f"PSI {measures['confidence']['psi']:.3f}",
                         "verdict": measures["confidence"]["verdict"]})
    for name, m in report["rates"].items():
        value = "n/a" if m["change"] is None else \
            f"{m['current']:.1%} vs {m['reference']:.1%} ({m['change'] * 100:+.1f} pts)"
        rows.append({"head": "all", "measure": name.replace("_", " "), "value": value,
                     "verdict": m["verdict"]})
    return rows


def training_reference(predictor: Any) -> dict[str, Any]:
    """The model's ``reference.json`` (written at training time), checked against the
    manifest's sha256 before use."""
    path = Path(predictor.path) / REFERENCE_FILE
    expected = predictor.manifest.get("files", {}).get(REFERENCE_FILE)
    if expected is None or not path.is_file():
        raise ValueError(f"model {predictor.version} has no {REFERENCE_FILE} (trained before "
                         "drift references existed): score a reference batch and pass "
                         "--reference FILE")
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != expected:
        raise ValueError(f"{path}: checksum does not match the model's manifest")
    return json.loads(blob)


def profile(path: Path, predictor: Any, text_column: str) -> dict[str, Any]:
    """The drift summary of a scored file, its OOV rate measured with the model."""
    from interaction_classifier.training.data import read_table

    scored = read_table(path)
    oov = predictor.model.oov_rate(sample_texts(scored[text_column])) \
        if text_column in scored.columns else None
    return summarise(scored, oov)


def drift_report(scored: Path, reference: str, predictor: Any, text_column: str
                 ) -> dict[str, Any]:
    """``loop.drift.compare`` of the scored file against ``training`` or a scored FILE."""
    if reference == "training":
        ref, name = training_reference(predictor), f"the training profile of model " \
            f"{predictor.version}"
    else:
        ref, name = profile(Path(reference), predictor, text_column), Path(reference).name
    return compare(profile(scored, predictor, text_column), ref, name)
