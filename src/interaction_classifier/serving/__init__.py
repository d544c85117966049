"""Serving in-process: the predictor behind predict()/load_model and the MLflow pyfunc."""
