"""interaction-classifier: interaction type, journey stage, sentiment and urgency for messages."""

from interaction_classifier.predict import load_model, predict, predict_batch

__all__ = ["load_model", "predict", "predict_batch"]
__version__ = "0.1.0"
