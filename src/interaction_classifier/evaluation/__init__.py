"""Evaluation: metrics, plots, reports and the model card."""
