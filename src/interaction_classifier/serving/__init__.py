"""Serving: the predictor behind predict()/load_model, the MLflow pyfunc and the HTTP
service (``serve``)."""
