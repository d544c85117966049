"""Training: configs, fitting, weights, tuning and MLflow tracking."""
