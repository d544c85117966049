"""The model as data: ``model.json`` (structure, labels, scalars) and ``weights.npz`` (arrays).

Nothing here can execute code on load: the JSON is parsed into plain types, every array is
read with ``allow_pickle=False`` (an object array is refused by numpy), vocabularies are
NUL-joined UTF-8 bytes, and each field is rebuilt by name into a known class. A file that
does not fit this schema raises :class:`CodecError`; the manifest signature is checked
before either file is opened (``artifact.load_artifact``).
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from interaction_classifier.features.frozen import (
    TOKENIZER,
    FrozenFeaturizer,
    NgramVocabulary,
    WordVectors,
    pack_terms,
    unpack_terms,
)
from interaction_classifier.models.model import InteractionModel, LinearHead, UrgencyModel

FORMAT = "interaction-classifier/npz-json"
# 2: features from the batch tokenizer (issue #20). Version 1 models were featurized by the
# spaCy pipeline and are refused with the fix named (:data:`FORMAT_1_ADVICE`).
FORMAT_VERSION = 2
FORMAT_1_ADVICE = (
    "this model is {format} version 1: its features were made by the spaCy featurizer, "
    "which this version replaced by the batch featurizer (format 2, issue #20); its "
    "predictions would change, so it is not loaded. Retrain it with this version: "
    "interaction-classifier train --config <model dir>/config.toml --output DIR "
    "(docs/retraining.md)")
Arrays = dict[str, np.ndarray]


class CodecError(ValueError):
    """``model.json`` or ``weights.npz`` does not describe a model of this package."""


def _terms(index: dict[str, int]) -> np.ndarray:
    return np.frombuffer(pack_terms(index).encode("utf-8"), dtype=np.uint8)


def _index(arrays: Arrays, key: str) -> dict[str, int]:
    return unpack_terms(_array(arrays, key).tobytes().decode("utf-8"))


def _array(arrays: Arrays, key: str) -> np.ndarray:
    if key not in arrays:
        raise CodecError(f"weights.npz has no array {key!r}")
    return arrays[key]


def _head(head: LinearHead, key: str, arrays: Arrays) -> dict[str, Any]:
    arrays[f"{key}.coef"], arrays[f"{key}.intercept"] = head.coef, head.intercept
    return {"name": head.name, "classes": list(head.classes), "temperature": head.temperature,
            "arrays": key}


def _unhead(spec: dict[str, Any], arrays: Arrays) -> LinearHead:
    key = spec["arrays"]
    return LinearHead(str(spec["name"]), [str(c) for c in spec["classes"]],
                      _array(arrays, f"{key}.coef"), _array(arrays, f"{key}.intercept"),
                      float(spec["temperature"]))


def _vocabulary(vocab: NgramVocabulary, key: str, arrays: Arrays) -> dict[str, Any]:
    arrays[f"{key}.terms"], arrays[f"{key}.idf"] = _terms(vocab.vocabulary), vocab.idf
    return {"analyzer": vocab.analyzer, "ngram_range": list(vocab.ngram_range),
            "sublinear_tf": vocab.sublinear_tf, "arrays": key}


def _unvocabulary(spec: dict[str, Any], arrays: Arrays) -> NgramVocabulary:
    key = spec["arrays"]
    lo, hi = (int(n) for n in spec["ngram_range"])
    return NgramVocabulary(str(spec["analyzer"]), (lo, hi), _index(arrays, f"{key}.terms"),
                           _array(arrays, f"{key}.idf"), bool(spec["sublinear_tf"]))


def _featurizer(f: FrozenFeaturizer, arrays: Arrays) -> dict[str, Any]:
    spec = {"word": _vocabulary(f.word, "word", arrays),
            "char": _vocabulary(f.char, "char", arrays),
            "cue_names": list(f.cue_names), "lexicon_weight": f.lexicon_weight,
            "mark_negation": f.mark_negation, "char_surface": f.char_surface,
            "tokenizer": f.tokenizer, "embedding": None}
    if f.embedding is not None:
        arrays["embedding.terms"] = _terms(f.embedding.index)
        arrays["embedding.vectors"] = f.embedding.vectors
        spec["embedding"] = {"weight": f.embedding.weight}
    return spec


def _unfeaturizer(spec: dict[str, Any], arrays: Arrays) -> FrozenFeaturizer:
    if spec["tokenizer"] != TOKENIZER:
        raise CodecError(f"the model's features come from tokenizer {spec['tokenizer']!r}; "
                         f"this version has {TOKENIZER!r}: retrain the model (docs/retraining.md)")
    embedding = None
    if spec["embedding"] is not None:
        embedding = WordVectors(_index(arrays, "embedding.terms"),
                                _array(arrays, "embedding.vectors"),
                                float(spec["embedding"]["weight"]))
    return FrozenFeaturizer(_unvocabulary(spec["word"], arrays),
                            _unvocabulary(spec["char"], arrays),
                            [str(c) for c in spec["cue_names"]], float(spec["lexicon_weight"]),
                            bool(spec["mark_negation"]), bool(spec["char_surface"]), embedding,
                            str(spec["tokenizer"]))


def _urgency(u: UrgencyModel, arrays: Arrays) -> dict[str, Any]:
    arrays["urgency.coef"], arrays["urgency.cuts"] = u.coef, u.cuts
    return {"feature_names": list(u.feature_names), "classes": list(u.classes),
            "values": dict(u.values), "tiers": dict(u.tiers), "low_tier": u.low_tier,
            "text_head": _head(u.text_head, "urgency_text", arrays)}


def _unurgency(spec: dict[str, Any], arrays: Arrays) -> UrgencyModel:
    return UrgencyModel([str(n) for n in spec["feature_names"]],
                        [str(c) for c in spec["classes"]], _array(arrays, "urgency.coef"),
                        _array(arrays, "urgency.cuts"),
                        {str(k): float(v) for k, v in spec["values"].items()},
                        {str(k): float(v) for k, v in spec["tiers"].items()},
                        _unhead(spec["text_head"], arrays), str(spec["low_tier"]))


def encode(model: InteractionModel) -> tuple[bytes, bytes]:
    """``model.json`` and ``weights.npz`` bytes for a model (arrays stored with their dtype)."""
    arrays: Arrays = {}
    spec = {"format": FORMAT, "format_version": FORMAT_VERSION,
            "version": model.version, "max_chars": model.max_chars,
            "abstain": dict(model.abstain), "metadata": model.metadata,
            "featurizer": _featurizer(model.featurizer, arrays),
            "heads": [_head(h, f"head{i}", arrays) for i, h in enumerate(model.heads.values())],
            "urgency": _urgency(model.urgency, arrays) if model.urgency is not None else None}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    text = json.dumps(spec, indent=1, sort_keys=True, allow_nan=False) + "\n"
    return text.encode("utf-8"), buffer.getvalue()


def _check_shapes(model: InteractionModel) -> InteractionModel:
    """Every weight matrix fits the featurizer and its labels: a mismatch fails here, by name,
    not deep inside the first prediction."""
    f = model.featurizer
    for vocab in (f.word, f.char):
        if vocab.idf.shape != (len(vocab.vocabulary),):
            raise CodecError(f"{vocab.analyzer} vocabulary: {len(vocab.vocabulary)} terms but "
                             f"{vocab.idf.shape} idf weights")
    if f.embedding is not None and f.embedding.vectors.shape[0] != len(f.embedding.index):
        raise CodecError("word vectors: the vocabulary and the vector rows differ in number")
    n = f.n_features
    heads = [*model.heads.values(), *([model.urgency.text_head] if model.urgency else [])]
    for head in heads:
        if head.coef.shape != (n, len(head.classes)) or head.intercept.shape != \
                (len(head.classes),):
            raise CodecError(f"head {head.name!r}: weights {head.coef.shape} do not fit "
                             f"{n} features and {len(head.classes)} labels")
    if model.urgency is not None and (
            model.urgency.coef.shape != (len(model.urgency.feature_names),)
            or model.urgency.cuts.shape != (len(model.urgency.classes) - 1,)):
        raise CodecError("urgency: coefficients or cut-points do not fit its features and tiers")
    return model


def decode(model_json: bytes, weights: bytes) -> InteractionModel:
    """Rebuild the model from the two files' bytes; never unpickles."""
    try:
        spec = json.loads(model_json.decode("utf-8"))
        with np.load(io.BytesIO(weights), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, EOFError) as exc:  # numpy refuses object arrays: ValueError
        raise CodecError(f"unreadable model files: {exc}") from exc
    if isinstance(spec, dict) and spec.get("format") == FORMAT \
            and spec.get("format_version") == 1:
        raise CodecError(FORMAT_1_ADVICE.format(format=FORMAT))
    if not isinstance(spec, dict) or spec.get("format") != FORMAT \
            or spec.get("format_version") != FORMAT_VERSION:
        raise CodecError(f"model.json is not {FORMAT} version {FORMAT_VERSION}")
    try:
        heads = [_unhead(h, arrays) for h in spec["heads"]]
        return _check_shapes(InteractionModel(
            featurizer=_unfeaturizer(spec["featurizer"], arrays),
            heads={h.name: h for h in heads},
            abstain={str(k): float(v) for k, v in spec["abstain"].items()},
            max_chars=int(spec["max_chars"]), version=str(spec["version"]),
            urgency=_unurgency(spec["urgency"], arrays) if spec["urgency"] is not None
            else None, metadata=dict(spec["metadata"])))
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise CodecError(f"model.json does not match the model schema: {exc!r}") from exc
