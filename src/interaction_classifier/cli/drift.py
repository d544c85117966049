"""``drift``: how far a scored batch has moved from the training profile or another run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
COLOURS = {"stable": "green", "watch": "yellow", "act": "bold red", "n/a": "dim"}


def drift_cmd(
    scored: Annotated[Path, typer.Argument(help="A file written by `score`.")],
    reference: Annotated[str, typer.Option(
        help="`training` (the model's training profile) or a scored FILE.")] = "training",
    model: Annotated[Path | None, typer.Option(help="The model that scored the file.")] = None,
    text_column: Annotated[str, typer.Option(help="Column holding the message.")] = "text",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(help="Also write the drift section as HTML.")
                    ] = None,
    trust_unsigned: Annotated[bool, typer.Option(
        help="Load an unsigned or unknown-key model (only one you made or trust).")] = False,
) -> None:
    """Per head: label distribution shift (PSI, chi-square) and confidence shift; the
    needs_review rate, out-of-vocabulary rate and non-English share; a verdict per measure
    (stable / watch / act)."""
    from interaction_classifier.batch.report import render_drift
    from interaction_classifier.io import write_text
    from interaction_classifier.loop.drift import drift_report
    from interaction_classifier.serving.predictor import load_model
    from interaction_classifier.training.data import DataError

    predictor = load_model(model, trust_unsigned=trust_unsigned)
    try:
        report = drift_report(scored, reference, predictor, text_column)
    except (DataError, ValueError, KeyError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    if html is not None:
        write_text(html, render_drift(scored.name, report))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    from interaction_classifier.loop.drift import table_rows

    table = Table("head", "measure", "value", "verdict",
                  title=escape(f"drift against {report['reference']}"))
    for row in table_rows(report):
        colour = COLOURS[row["verdict"]]
        table.add_row(row["head"], row["measure"], escape(row["value"]),
                      f"[{colour}]{row['verdict']}[/]")
    console.print(table)
    console.print(f"overall: [{COLOURS[report['overall']]}]{report['overall']}[/]")
