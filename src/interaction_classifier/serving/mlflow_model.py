"""The MLflow "model from code" file: logged as source, so no pickle of the wrapper exists.

MLflow copies this file into the logged model and runs it on load; it names the wrapper
class, which loads the signed model directory (``pyfunc.pyfunc_spec``).
"""

import mlflow.models

from interaction_classifier.serving.pyfunc import InteractionClassifierPyfunc

mlflow.models.set_model(InteractionClassifierPyfunc())
