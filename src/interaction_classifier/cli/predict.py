"""``predict``: classify one message with a saved model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()


def predict_cmd(
    text: Annotated[str, typer.Argument(help="The message to classify; - reads it from stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    model: Annotated[Path | None, typer.Option(help="Model directory or MLflow URI.")] = None,
) -> None:
    """Classify one message (``-``: the whole of stdin, e.g. a pasted multi-line e-mail)."""
    from interaction_classifier.serving.predictor import load_model

    if text == "-":
        text = sys.stdin.read()
    result = load_model(model).predict(text)
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    table = Table("field", "value", show_header=False)
    rows = [(head, f"{result[head]}  ({result['confidence'][head]:.2f})")
            for head in ("interaction_type", "journey_stage", "sentiment")]
    rows += [("sentiment_score", f"{result['sentiment_score']:+.2f}"),
             ("urgency", f"{result['urgency']:.2f}  [{result['priority']}]"),
             ("needs_review", str(result["needs_review"])),
             ("reasons", "\n".join(result["reasons"]) or "-"),
             ("model_version", result["model_version"])]
    for field, value in rows:  # escaped: "[critical]" or a reason is not rich markup
        table.add_row(field, escape(value))
    console.print(table)

