"""``predict``: classify one message with a saved model (any heads, with or without urgency)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
USAGE_ERROR = 2  # the exit code click gives any other bad option


def result_rows(result: dict[str, Any], heads: list[str]) -> list[tuple[str, str]]:
    """The table's (field, value) rows for whatever this model outputs."""
    rows = [(head, f"{result[head]}  ({result['confidence'][head]:.2f})") for head in heads]
    if "sentiment_score" in result:
        rows.append(("sentiment_score", f"{result['sentiment_score']:+.2f}"))
    if "urgency" in result:
        rows.append(("urgency", f"{result['urgency']:.2f}  [{result['priority']}]"))
    return [*rows, ("language", result["language"]), ("needs_review", str(result["needs_review"])),
            ("reasons", "\n".join(result["reasons"]) or "-"),
            ("model_version", result["model_version"])]


def predict_cmd(
    text: Annotated[str, typer.Argument(help="The message to classify; - reads it from stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    model: Annotated[Path | None, typer.Option(
        help="fast (default), accurate, a model directory or an MLflow URI.")] = None,
    review_threshold: Annotated[list[str] | None, typer.Option(
        "--review-threshold", metavar="HEAD=X",
        help="Flag for review when HEAD's top probability is below X (repeatable).")] = None,
    priority_cutoff: Annotated[list[str] | None, typer.Option(
        "--priority-cutoff", metavar="TIER=X",
        help="Minimum urgency score of priority TIER (repeatable; models with urgency).")
    ] = None,
    trust_unsigned: Annotated[bool, typer.Option(
        help="Load an unsigned or unknown-key model (only one you made or trust).")] = False,
) -> None:
    """Classify one message (``-``: the whole of stdin, e.g. a pasted multi-line e-mail)."""
    from interaction_classifier.batch.formats import BatchError
    from interaction_classifier.batch.overrides import parse_assignments
    from interaction_classifier.serving.predictor import load_model

    predictor = load_model(model, trust_unsigned=trust_unsigned)
    try:  # the model checks names and ranges and says which heads and tiers it has
        predictor = predictor.with_thresholds(
            parse_assignments(review_threshold, "--review-threshold"),
            parse_assignments(priority_cutoff, "--priority-cutoff"))
    except (BatchError, ValueError) as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(USAGE_ERROR) from None
    if text == "-":
        text = sys.stdin.read()
    result = predictor.predict(text)
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    table = Table("field", "value", show_header=False)
    for field, value in result_rows(result, predictor.heads):
        table.add_row(field, escape(value))  # "[critical]" or a reason is not rich markup
    console.print(table)
