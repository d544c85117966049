"""MLflow pyfunc packaging: the same verified model behind ``mlflow.pyfunc.load_model``."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd


class InteractionClassifierPyfunc(mlflow.pyfunc.PythonModel):
    """Wraps a model directory; input is a DataFrame with a ``text`` column."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        from interaction_classifier.serving.predictor import load_model

        self.model = load_model(context.artifacts["model_dir"])

    def predict(self, context: object, model_input: pd.DataFrame,
                params: dict | None = None) -> pd.DataFrame:
        texts = model_input["text"] if isinstance(model_input, pd.DataFrame) else model_input
        return self.model.predict_batch([str(t) for t in texts])
