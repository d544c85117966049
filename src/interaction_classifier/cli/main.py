"""Command line: ``interaction-classifier corpus build | train | evaluate | predict | score |
compare | review export|import | drift | serve | export-mlflow | keys | model``."""

from __future__ import annotations

import typer

from interaction_classifier.cli.drift import drift_cmd
from interaction_classifier.cli.evaluate import evaluate
from interaction_classifier.cli.keys import keys_app, model_app
from interaction_classifier.cli.predict import predict_cmd
from interaction_classifier.cli.review import review_app
from interaction_classifier.cli.score import score_command
from interaction_classifier.cli.serve import export_mlflow_cmd, serve_cmd
from interaction_classifier.cli.train import compare, corpus_app, train

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
app.add_typer(corpus_app, name="corpus")
app.add_typer(keys_app, name="keys")
app.add_typer(model_app, name="model")
app.add_typer(review_app, name="review")
app.command("train")(train)
app.command("score")(score_command)
app.command("compare")(compare)
app.command("evaluate")(evaluate)
app.command("drift")(drift_cmd)
app.command("predict")(predict_cmd)
app.command("serve")(serve_cmd)
app.command("export-mlflow")(export_mlflow_cmd)

if __name__ == "__main__":
    app()
