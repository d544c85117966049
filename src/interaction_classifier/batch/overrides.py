"""Per-run thresholds: ``--review-threshold HEAD=X`` and ``--priority-cutoff TIER=X``.

They are parsed and checked against the model's ``describe()`` before any row is scored, so
a typo is a usage error (exit 2) and never a half-finished run; scoring passes them to
``predict_batch(texts, review=..., priority=...)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from interaction_classifier.batch.formats import BatchError


def parse_assignments(values: Sequence[str] | None, flag: str) -> dict[str, float]:
    """``["a=0.5", "b=0.7"]`` -> ``{"a": 0.5, "b": 0.7}``; bad syntax or a name given twice
    is a ``BatchError`` naming ``flag``."""
    out: dict[str, float] = {}
    for value in values or []:
        name, sep, number = value.partition("=")
        try:
            parsed = float(number) if sep and name else math.nan
        except ValueError:
            parsed = math.nan
        if math.isnan(parsed):
            raise BatchError(f"{flag} {value!r}: expected NAME=NUMBER, e.g. {flag} x=0.5")
        if name in out:
            raise BatchError(f"{flag} {name} given twice")
        out[name] = parsed
    return out


def check_overrides(description: dict[str, Any], review: dict[str, float],
                    priority: dict[str, float]) -> None:
    """Names must be the model's heads / priority tiers, values inside [0, 1]."""
    known = description["thresholds"]
    tiers = known.get("priority", {})
    if priority and not tiers:
        raise BatchError("--priority-cutoff: this model has no urgency score, so no "
                         "priority tiers")
    for flag, given, names, what in (("--review-threshold", review, description["heads"],
                                      "heads"),
                                     ("--priority-cutoff", priority, tiers, "tiers")):
        for name, value in given.items():
            if name not in names:
                raise BatchError(f"{flag}: unknown {what[:-1]} {name!r}; {what}: "
                                 f"{list(names)}")
            if not 0.0 <= value <= 1.0:
                raise BatchError(f"{flag} {name}={value}: must be between 0 and 1")


def effective_thresholds(description: dict[str, Any], review: dict[str, float],
                         priority: dict[str, float]) -> dict[str, dict[str, float]]:
    """The thresholds this run uses: the model's defaults with the overrides on top."""
    known = description["thresholds"]
    return {"review": {**known.get("review", {}), **review},
            "priority": {**known.get("priority", {}), **priority}}
