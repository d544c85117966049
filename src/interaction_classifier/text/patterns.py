"""Cue pattern files: the JSONL format, its validation against the taxonomy, and loading.

Patterns are data (``resources/patterns/<head>.jsonl``) so that a linguist adds a cue without
touching Python. Every line is validated at load time, and errors name the file and line; the
token patterns are checked once more against spaCy's own Matcher schema when the matcher in
:mod:`interaction_classifier.text.cues` compiles them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interaction_classifier.config import load_taxonomy

# The urgency drivers, in the order of the urgency model's cue inputs.
URGENCY_DRIVERS = ("risk", "time_pressure", "repetition", "churn_threat", "dissatisfaction")
# Model directories written before the worked examples moved to the tests hold a copy of them.
EXAMPLES_FILE = "examples.jsonl"
_REQUIRED = ("id", "head", "label", "reason")
_LOWERCASE_ATTRS = ("LOWER", "LEMMA", "NORM")


class PatternError(ValueError):
    """A pattern file is malformed or names an unknown head, label or driver."""


@dataclass(frozen=True)
class PatternSpec:
    """One validated pattern line."""

    id: str
    head: str
    label: str
    reason: str
    lowers: bool
    pattern: list[dict[str, Any]] | None
    phrase: str | None

    @property
    def group(self) -> str:
        """Feature name of the (head, label) group; lowering cues form their own group."""
        suffix = ":lowers" if self.lowers else ""
        return f"cue:{self.head}={self.label}{suffix}"


def _allowed_labels(head: str, taxonomy) -> tuple[str, ...]:
    """Urgency cues name a driver, every other head a taxonomy label."""
    return URGENCY_DRIVERS if head == "urgency" else taxonomy.labels(head)


def _check_lowercase(pattern: list[dict[str, Any]]) -> None:
    """LOWER/LEMMA values must be lower case, or they can never match our lemmas."""
    for token in pattern:
        for attr in _LOWERCASE_ATTRS:
            value = token.get(attr)
            values = value.get("IN", []) if isinstance(value, dict) else [value]
            bad = [v for v in values if isinstance(v, str) and v != v.lower()]
            if bad:
                raise ValueError(f"{attr} values must be lower case: {bad}")


def parse_spec(raw: Any, taxonomy) -> PatternSpec:
    """Validate one decoded JSON line; raises ValueError with a plain message."""
    if not isinstance(raw, dict):
        raise ValueError("each line must be a JSON object")
    missing = [k for k in _REQUIRED if not isinstance(raw.get(k), str) or not raw[k].strip()]
    if missing:
        raise ValueError(f"missing or empty fields {missing}")
    head, label = raw["head"], raw["label"]
    if head not in taxonomy.heads:
        raise ValueError(f"unknown head {head!r}; known: {sorted(taxonomy.heads)}")
    if label not in _allowed_labels(head, taxonomy):
        raise ValueError(f"unknown label {label!r} for head {head!r}")
    if head == "urgency" and raw.get("driver") != label:
        raise ValueError(f"urgency cues need driver == label, got {raw.get('driver')!r}")
    if not raw["id"].startswith(f"{head}."):
        raise ValueError(f"id {raw['id']!r} must start with {head!r}.")
    lowers = raw.get("lowers", False)
    if not isinstance(lowers, bool) or (lowers and head != "urgency"):
        raise ValueError("'lowers' must be a boolean and is only allowed for urgency")
    pattern, phrase = raw.get("pattern"), raw.get("phrase")
    if (pattern is None) == (phrase is None):
        raise ValueError("give exactly one of 'pattern' or 'phrase'")
    if phrase is not None and (not isinstance(phrase, str) or not phrase.strip()):
        raise ValueError("'phrase' must be a non-empty string")
    if pattern is not None:
        if (
            not isinstance(pattern, list)
            or not pattern
            or not all(isinstance(t, dict) for t in pattern)
        ):
            raise ValueError("'pattern' must be a non-empty list of token objects")
        _check_lowercase(pattern)
    return PatternSpec(raw["id"], head, label, raw["reason"], lowers, pattern, phrase)


def pattern_files(pattern_dir: Path) -> list[Path]:
    """The pattern files of a directory (every ``*.jsonl`` except the examples)."""
    return sorted(p for p in pattern_dir.glob("*.jsonl") if p.name != EXAMPLES_FILE)


def load_specs(pattern_dir: Path, taxonomy=None) -> list[PatternSpec]:
    """Read and validate every pattern file; errors name the file and line."""
    taxonomy = taxonomy or load_taxonomy()
    files = pattern_files(pattern_dir)
    if not files:
        raise PatternError(f"no pattern files (*.jsonl) in {pattern_dir}")
    specs: list[PatternSpec] = []
    seen: dict[str, str] = {}
    for path in files:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                spec = parse_spec(json.loads(line), taxonomy)
            except ValueError as exc:  # JSONDecodeError is a ValueError
                raise PatternError(f"{where}: {exc}") from exc
            if spec.id in seen:
                raise PatternError(f"{where}: duplicate id {spec.id!r} (first at {seen[spec.id]})")
            seen[spec.id] = where
            specs.append(spec)
    return specs
