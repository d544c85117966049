"""Training by config file: the entry that scripts, tests and the release of the shipped
model call (the command line builds the same run with its options over the file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from interaction_classifier.training.config import load_config
from interaction_classifier.training.run import run


def run_training(config_path: Path, output_dir: Path, track: bool = True,
                 version: str | None = None, corpus_path: Path | None = None,
                 signer: Ed25519PrivateKey | Literal["configured"] | None = "configured"
                 ) -> dict[str, Any]:
    """Train the model a config describes (default or retrained), evaluate, save (signed
    with ``signer``: the configured key by default, ``run.run``) and optionally track it;
    returns the evaluation report. ``corpus_path`` replaces the config's corpus (the default
    model only)."""
    overrides = {"corpus": {"path": str(corpus_path)}} if corpus_path else None
    return run(load_config(config_path, overrides), Path(output_dir), track=track,
               version=version, config_path=Path(config_path), signer=signer).report
