"""Converting an old pickle-format model directory (``model.joblib``) to the data format.

This is the only code that ever unpickles a model, and only when the caller says it trusts
the directory (``trust_pickle=True``, CLI ``--trust-pickle``): the old manifest's checksums
catch corruption, not an attacker. The converted model is checked against the old one on
:data:`CHECK_TEXTS` before the conversion is reported done.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from interaction_classifier.data.registry import sha256_of
from interaction_classifier.io import write_text
from interaction_classifier.models.artifact import (
    LEGACY_MODEL_FILE,
    MANIFEST,
    PATTERNS_DIR,
    ArtifactError,
    artifact_fields,
    load_artifact,
    save_artifact,
)
from interaction_classifier.models.model import InteractionModel
from interaction_classifier.text.cues import CueMatcher

CARD = "MODEL_CARD.md"
EVALUATION = "evaluation.json"
CHECK_TEXTS = ["My card was stolen and there are payments I don't recognise!",
               "Where is my order? It has not arrived.", "Love the new app, thanks!",
               "I would like to upgrade my plan next month", "hello", "",
               "Third time asking: refund the double charge NOW", "¿Dónde está mi pedido?"]


@dataclass(frozen=True)
class Conversion:
    """What ``convert`` did: the new directory, and how far the outputs moved (0.0 expected)."""

    directory: Path
    texts: int
    max_abs_difference: float
    labels_equal: bool


def _old_model(directory: Path) -> tuple[InteractionModel, dict]:
    """Check the old manifest's checksums, then unpickle (the caller vouched for it)."""
    import joblib  # here only: no other code path reads a pickle

    manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    for name, digest in manifest["files"].items():
        if sha256_of(directory / name) != digest:
            raise ArtifactError(f"{directory / name}: checksum mismatch; not converting")
    model = joblib.load(directory / LEGACY_MODEL_FILE)
    if not isinstance(model, InteractionModel):
        raise ArtifactError(f"{directory}: {LEGACY_MODEL_FILE} is not an interaction-classifier "
                            "model")
    return model, manifest


def _compare(old: InteractionModel, new: InteractionModel, texts: list[str]
             ) -> tuple[float, bool]:
    """Largest absolute difference of any score or probability, and whether labels agree."""
    a, pa, ra = old.predict_arrays(texts)
    b, pb, rb = new.predict_arrays(texts)
    diff, same = 0.0, ra == rb
    for key in a:
        if a[key].dtype == object or a[key].dtype == bool:
            same &= bool(np.array_equal(a[key], b[key]))
        else:
            diff = max(diff, float(np.max(np.abs(a[key] - b[key]), initial=0.0)))
    for head in pa:
        diff = max(diff, float(np.max(np.abs(pa[head] - pb[head]), initial=0.0)))
    return diff, same


def convert(old_dir: Path, new_dir: Path, *, trust_pickle: bool,
            signer: Ed25519PrivateKey | None, texts: list[str] | None = None) -> Conversion:
    """Write ``old_dir``'s model to ``new_dir`` (a new folder) in the data format with its
    other files (config, card, patterns, plots; ``evaluation.json`` without example texts)
    and manifest fields, signed by ``signer``; then load both and compare their outputs."""
    old_dir, new_dir = Path(old_dir), Path(new_dir)
    if not trust_pickle:
        raise ArtifactError("converting unpickles the old model, which can run any code it "
                            "holds: pass trust_pickle=True (--trust-pickle) only for a model "
                            "you made or trust")
    if not (old_dir / LEGACY_MODEL_FILE).is_file():
        raise ArtifactError(f"{old_dir}: no {LEGACY_MODEL_FILE}; nothing to convert")
    if new_dir.exists() and any(new_dir.iterdir()):
        raise ArtifactError(f"{new_dir} exists and is not empty; convert into a new folder")
    model, manifest = _old_model(old_dir)
    new_dir.mkdir(parents=True, exist_ok=True)
    for name in manifest["files"]:
        if name != LEGACY_MODEL_FILE and not name.startswith(f"{PATTERNS_DIR}/"):
            (new_dir / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(old_dir / name, new_dir / name)
    if (new_dir / EVALUATION).is_file():  # old reports kept raw example texts: not any more
        from interaction_classifier.evaluation.report import without_texts

        report = json.loads((new_dir / EVALUATION).read_text(encoding="utf-8"))
        write_text(new_dir / EVALUATION, json.dumps(without_texts(report), indent=2) + "\n")
    extra = {**manifest, **artifact_fields(signer), "converted_from": {
        "format": "joblib", LEGACY_MODEL_FILE: manifest["files"][LEGACY_MODEL_FILE]}}
    if CARD in manifest["files"] and "metrics" in manifest:  # the card names format and key
        from interaction_classifier.evaluation.card import write_card

        write_card(new_dir, extra)
    save_artifact(model, new_dir, extra, signer=signer, pattern_dir=old_dir / PATTERNS_DIR)
    new, _ = load_artifact(new_dir, trust_unsigned=True)  # just written and hashed here
    model.attach(CueMatcher(old_dir / PATTERNS_DIR))
    new.attach(CueMatcher(new_dir / PATTERNS_DIR))
    texts = CHECK_TEXTS if texts is None else texts
    diff, same = _compare(model, new, texts)
    return Conversion(new_dir, len(texts), diff, same)
