"""The accurate profile: the fast model, plus logistic heads on frozen sentence embeddings,
fused late.

Each head's probabilities are a weighted mean of the fast model's and of a logistic head on
the all-MiniLM-L6-v2 embedding (``features.encoder``), re-tempered:
``p = normalise((w * p_fast + (1 - w) * p_emb) ** (1 / T))``, with ``w`` and ``T`` chosen
per head on the corpus validation split (``training.accurate``). The urgency text head is
fused the same way, and the fast model's ordinal urgency model reads the fused type,
sentiment and text-tier probabilities, so labels, scores, cues, reasons and review flags
keep the fast model's contract (``InteractionModel.predict_arrays``).

On disk the profile is one signed directory: the fast model it extends, whole and signed,
in ``base/``; the encoder graph and tokenizer in ``encoder/``; ``model.json`` and
``weights.npz`` with the embedding heads and fusion settings. Loading verifies the outer
manifest (every file, ``base/`` and ``encoder/`` included), then the base model's own
signature, then each encoder file against the sha256 in ``model.json``.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from interaction_classifier.features.encoder import EncoderFiles, OnnxEncoder
from interaction_classifier.models.model import InteractionModel, LinearHead

FORMAT = "interaction-classifier/accurate"
FORMAT_VERSION = 1
PROFILE = "accurate"
BASE_DIR, ENCODER_DIR = "base", "encoder"
GRAPH, TOKENIZER = "encoder.onnx", "tokenizer.json"
TEXT_TIERS = "_text_tiers"  # the urgency text head's name among the stacked heads


@dataclass
class FusedHead:
    """A logistic head on the embedding, and how its probabilities join the fast model's."""

    head: LinearHead  # coef (dim, n_classes)
    weight: float  # share of the fast model's probabilities, in [0, 1]
    temperature: float = 1.0  # applied to the log of the mixture

    def fuse(self, fast: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Calibrated fused probabilities, columns in the fast head's class order."""
        mixed = self.weight * fast + (1.0 - self.weight) * self.head.proba(embeddings)
        if self.temperature == 1.0:
            return mixed
        tempered = np.power(np.maximum(mixed, 1e-12), 1.0 / self.temperature)
        return tempered / tempered.sum(axis=1, keepdims=True)


@dataclass
class AccurateModel(InteractionModel):
    """An :class:`InteractionModel` whose head probabilities are fused with embedding heads."""

    encoder: OnnxEncoder | None = None
    encoder_files: EncoderFiles | None = None
    fused: dict[str, FusedHead] = field(default_factory=dict)
    base_dir: Path | None = None

    @classmethod
    def extend(cls, fast: InteractionModel, **extra: Any) -> AccurateModel:
        """The fast model's fields (featurizer, heads, urgency, thresholds) plus ``extra``."""
        own = {f.name: getattr(fast, f.name) for f in fields(InteractionModel)}
        model = cls(**{**own, **extra})
        if hasattr(fast, "matcher"):
            model.attach(fast.matcher)
        return model

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("encoder", None)  # an ONNX session is rebuilt from its verified files
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.encoder = OnnxEncoder(self.encoder_files, self.metadata["max_length"])

    def head_probabilities(
        self, texts: list[str] | tuple[str, ...]
    ) -> tuple[dict[str, np.ndarray], list]:
        """The fast model's probabilities, each fused head replaced by its fusion."""
        probas, cues = super().head_probabilities(texts)
        embeddings = self.encoder.embed(texts)
        for name, fused in self.fused.items():
            probas[name] = fused.fuse(probas[name], embeddings)
        return probas, cues


def _head_spec(name: str, fused: FusedHead, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    key = f"head{len(arrays) // 2}"
    arrays[f"{key}.coef"], arrays[f"{key}.intercept"] = fused.head.coef, fused.head.intercept
    return {
        "name": name,
        "classes": fused.head.classes,
        "arrays": key,
        "head_temperature": fused.head.temperature,
        "weight": fused.weight,
        "temperature": fused.temperature,
    }


def encode(model: AccurateModel) -> tuple[bytes, bytes]:
    """``model.json`` and ``weights.npz`` for the fusion part (the base model is a copy)."""
    arrays: dict[str, np.ndarray] = {}
    files = model.encoder_files
    spec = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "profile": PROFILE,
        "version": model.version,
        "base_version": model.metadata["base_version"],
        "max_length": model.metadata["max_length"],
        "encoder": {
            "graph": f"{ENCODER_DIR}/{GRAPH}",
            "graph_sha256": files.graph_sha256,
            "tokenizer": f"{ENCODER_DIR}/{TOKENIZER}",
            "tokenizer_sha256": files.tokenizer_sha256,
        },
        "heads": [_head_spec(n, f, arrays) for n, f in model.fused.items()],
        "metadata": model.metadata,
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return (
        json.dumps(spec, indent=1, sort_keys=True, allow_nan=False) + "\n"
    ).encode(), buffer.getvalue()


def write_parts(model: AccurateModel, directory: Path) -> None:
    """Copy the base model directory and the encoder files into the artifact."""
    base = directory / BASE_DIR
    if base.resolve() != Path(model.base_dir).resolve():
        if base.exists():
            shutil.rmtree(base)
        shutil.copytree(model.base_dir, base)
    (directory / ENCODER_DIR).mkdir(exist_ok=True)
    for source, name in (
        (model.encoder_files.graph, GRAPH),
        (model.encoder_files.tokenizer, TOKENIZER),
    ):
        if Path(source).resolve() != (directory / ENCODER_DIR / name).resolve():
            shutil.copyfile(source, directory / ENCODER_DIR / name)


def pinned_encoder(directory: Path, spec: dict[str, Any] | None = None) -> EncoderFiles:
    """The encoder files of an accurate artifact and the sha256 its ``model.json`` pins."""
    spec = spec or json.loads((Path(directory) / "model.json").read_bytes())
    enc = spec["encoder"]
    return EncoderFiles(
        Path(directory) / enc["graph"],
        str(enc["graph_sha256"]),
        Path(directory) / enc["tokenizer"],
        str(enc["tokenizer_sha256"]),
    )


def is_accurate(model_json: bytes) -> bool:
    """Whether ``model.json`` describes an accurate-profile artifact."""
    try:
        return json.loads(model_json).get("format") == FORMAT
    except (ValueError, AttributeError):
        return False


def decode(
    directory: Path, model_json: bytes, weights: bytes, base: InteractionModel
) -> AccurateModel:
    """Rebuild the profile from verified bytes and its verified base model; the encoder
    files are checked against the sha256 in ``model.json`` as they are read."""
    from interaction_classifier.models.codec import CodecError

    try:
        spec = json.loads(model_json)
        with np.load(io.BytesIO(weights), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        if spec.get("format_version") != FORMAT_VERSION:
            raise CodecError(f"model.json is not {FORMAT} version {FORMAT_VERSION}")
        if spec["base_version"] != base.version:
            raise CodecError(
                f"base model is {base.version}, the profile was fitted on {spec['base_version']}"
            )
        files = pinned_encoder(directory, spec)
        fused = {
            str(h["name"]): FusedHead(
                LinearHead(
                    str(h["name"]),
                    [str(c) for c in h["classes"]],
                    arrays[f"{h['arrays']}.coef"],
                    arrays[f"{h['arrays']}.intercept"],
                    float(h["head_temperature"]),
                ),
                float(h["weight"]),
                float(h["temperature"]),
            )
            for h in spec["heads"]
        }
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise CodecError(f"model.json does not match the accurate profile schema: {exc!r}") from exc
    check_fused(base, fused)
    encoder = OnnxEncoder(files, int(spec["max_length"]))
    for name, head in fused.items():
        if head.head.coef.shape[0] != encoder.dim:
            raise CodecError(
                f"fused head {name!r}: {head.head.coef.shape[0]} inputs, encoder has {encoder.dim}"
            )
    return AccurateModel.extend(
        base,
        version=str(spec["version"]),
        metadata=dict(spec["metadata"]),
        encoder=encoder,
        encoder_files=files,
        fused=fused,
        base_dir=directory / BASE_DIR,
    )


def check_fused(base: InteractionModel, fused: dict[str, FusedHead]) -> None:
    """Every fused head exists in the base model with the same labels in the same order."""
    from interaction_classifier.models.codec import CodecError

    heads = dict(base.heads)
    if base.urgency is not None:
        heads[TEXT_TIERS] = base.urgency.text_head
    for name, head in fused.items():
        if name not in heads or heads[name].classes != head.head.classes:
            raise CodecError(f"fused head {name!r} does not match the base model's labels")
