"""Configuration: project paths, the label taxonomy and run configs, loaded from TOML.

The taxonomy is data, not code, so a team with its own labels edits a file. Everything is
validated on load so that a typo fails at start-up rather than as a silent missing class.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
# Shipped with the package (a wheel installed anywhere finds them): the default model, the
# taxonomy and the cue patterns. ``models/default``, ``configs/taxonomy.toml`` and
# ``data/patterns`` in a checkout are links to these.
RESOURCES = Path(str(files("interaction_classifier") / "resources"))
DEFAULT_MODEL_DIR = RESOURCES / "default_model"
# Shipped model profiles by name (``load_model("accurate")``, ``--model accurate``).
PROFILES = {"fast": DEFAULT_MODEL_DIR, "accurate": RESOURCES / "accurate_model"}
DEFAULT_TAXONOMY = RESOURCES / "taxonomy.toml"
PATTERNS_DIR = RESOURCES / "patterns"
# The project checkout: training data, configs and model outputs (only needed to train).
PROJECT_ROOT = PACKAGE_DIR.parents[1]
CONFIGS_DIR = PROJECT_ROOT / "configs"
DATA_DIR = PROJECT_ROOT / "data"
MODELS_DIR = PROJECT_ROOT / "models"
DEFAULT_CONFIG = CONFIGS_DIR / "default.toml"

# The default taxonomy's classifier heads, and all four with urgency.
CLASSIFIER_HEADS = ("interaction_type", "journey_stage", "sentiment")
HEADS = (*CLASSIFIER_HEADS, "urgency")


class ConfigError(ValueError):
    """A configuration file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Head:
    """One labelled dimension: its name, ordered labels and their one-line definitions."""

    name: str
    labels: tuple[str, ...]
    definitions: dict[str, str] = field(compare=False)
    description: str = ""
    precedence: tuple[str, ...] = ()
    ordinal: bool = False


@dataclass(frozen=True)
class Taxonomy:
    """The label sets of every head, in a fixed order."""

    heads: dict[str, Head]

    def labels(self, head: str) -> tuple[str, ...]:
        """Labels of ``head``; a clear error for an unknown head."""
        if head not in self.heads:
            raise ConfigError(f"unknown head {head!r}; known heads: {sorted(self.heads)}")
        return self.heads[head].labels

    def check_label(self, head: str, label: str) -> None:
        """Raise if ``label`` is not a label of ``head``."""
        if label not in self.labels(head):
            raise ConfigError(
                f"label {label!r} is not in head {head!r}; known: {list(self.labels(head))}"
            )

    def as_dict(self) -> dict[str, list[str]]:
        """Plain ``head -> labels`` mapping, for manifests and MLflow params."""
        return {name: list(h.labels) for name, h in self.heads.items()}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file with an error that names the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def parse_taxonomy(raw: dict[str, Any], origin: str = "<taxonomy>") -> Taxonomy:
    """Validate a raw taxonomy mapping: every head has >= 2 unique, non-empty labels."""
    heads_raw = raw.get("heads")
    if not isinstance(heads_raw, dict) or not heads_raw:
        raise ConfigError(f"{origin}: needs a [heads.<name>] table per head")
    heads: dict[str, Head] = {}
    for name, spec in heads_raw.items():
        labels_raw = spec.get("labels") if isinstance(spec, dict) else None
        if isinstance(labels_raw, list):
            definitions = {str(label): "" for label in labels_raw}
            labels = [str(label) for label in labels_raw]
        elif isinstance(labels_raw, dict):
            definitions = {str(k): str(v) for k, v in labels_raw.items()}
            labels = list(definitions)
        else:
            raise ConfigError(f"{origin}: head {name!r} needs a labels table or list")
        duplicates = sorted({lab for lab in labels if labels.count(lab) > 1})
        if duplicates:
            raise ConfigError(f"{origin}: head {name!r} has duplicate labels {duplicates}")
        if any(not lab.strip() for lab in labels):
            raise ConfigError(f"{origin}: head {name!r} has an empty label")
        if len(labels) < 2:
            raise ConfigError(f"{origin}: head {name!r} needs at least two labels")
        precedence = tuple(spec.get("precedence", ()))
        unknown = [lab for lab in precedence if lab not in labels]
        if unknown:
            raise ConfigError(f"{origin}: head {name!r} precedence names unknown labels {unknown}")
        heads[name] = Head(
            name=name,
            labels=tuple(labels),
            definitions=definitions,
            description=str(spec.get("description", "")),
            precedence=precedence,
            ordinal=bool(spec.get("ordinal", False)),
        )
    return Taxonomy(heads=heads)


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate the taxonomy file (the project default when ``path`` is None)."""
    path = Path(path) if path is not None else DEFAULT_TAXONOMY
    return parse_taxonomy(read_toml(path), origin=str(path))
