"""interaction-classifier: interaction type, journey stage, sentiment and urgency for messages.

The public API is imported lazily so that ``import interaction_classifier`` stays cheap for
tools (the CLI, batch workers) that may never need the model.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_model", "predict", "predict_batch"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        import importlib

        return getattr(importlib.import_module("interaction_classifier.serving.predictor"), name)
    raise AttributeError(f"module 'interaction_classifier' has no attribute {name!r}")
