"""``review export`` and ``review import``: the rows a person should correct, and back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

review_app = typer.Typer(help="Review the rows that teach the model most, import corrections.",
                         no_args_is_help=True)
console = Console()
CORRECTIONS_DIR = Path("data") / "corrections"


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(2)


@review_app.command("export")
def export_cmd(
    scored: Annotated[Path, typer.Argument(help="A file written by `score`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Review CSV to write.")] = Path(
        "review.csv"),
    n: Annotated[int, typer.Option("--n", help="Rows to review.")] = 500,
    text_column: Annotated[str, typer.Option(help="Column holding the message.")] = "text",
    id_column: Annotated[str | None, typer.Option(help="Your id column, kept as `id`.")] = None,
    dataset: Annotated[str | None, typer.Option(
        help="The registered dataset the rows come from (--id-column: its source_id): the "
             "imported corrections then hold ids and labels only.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the diversity clustering.")] = 13,
) -> None:
    """Write the N scored rows whose corrections teach the model most (uncertainty per
    head, disagreement with the cue rules and between heads, diversity), with the model's
    labels pre-filled in one correct_<head> column per head and the reasons."""
    from interaction_classifier.loop.review import ExportOptions, ReviewError, export_rows
    from interaction_classifier.training.data import DataError, read_table

    if dataset and not id_column:
        raise _fail("--dataset needs --id-column (the dataset's source_id)")
    try:
        rows = export_rows(read_table(scored), ExportOptions(n, text_column, id_column, dataset,
                                                             seed))
    except (DataError, ReviewError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    output.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(output, index=False)
    console.print(escape(f"{len(rows)} rows to review written to {output}; correct the "
                         "correct_<head> columns (empty: undecided), set skip=1 for rows that "
                         "are not a customer message, then `interaction-classifier review "
                         f"import {output}`"))


def model_labels(model: Path | None, trust_unsigned: bool) -> dict[str, list[str]]:
    """The labels a correction may use, per head: the model's (urgency: the taxonomy's tiers)."""
    from interaction_classifier.config import load_taxonomy
    from interaction_classifier.serving.predictor import load_model

    described = load_model(model, trust_unsigned=trust_unsigned).describe()
    labels = dict(described["heads"])
    if described["capabilities"]["urgency"]:
        labels["urgency"] = list(load_taxonomy().labels("urgency"))
    return labels


@review_app.command("import")
def import_cmd(
    review: Annotated[Path, typer.Argument(help="The corrected review CSV.")],
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help="Corrections file to write (default: "
        "data/corrections/review-<UTC time>.csv).")] = None,
    model: Annotated[Path | None, typer.Option(
        help="The model whose labels the corrections must use (default: shipped).")] = None,
    trust_unsigned: Annotated[bool, typer.Option(
        help="Load an unsigned or unknown-key model (only one you made or trust).")] = False,
) -> None:
    """Check corrected labels against the model's (unknown labels, missing and duplicate
    ids are errors naming their lines) and write a corrections file for
    `train --corrections`."""
    from interaction_classifier.loop.review import ReviewError, import_rows
    from interaction_classifier.training.data import DataError, read_table

    try:
        rows = import_rows(read_table(review), model_labels(model, trust_unsigned))
    except (DataError, ReviewError) as exc:
        raise _fail(f"{review}:\n{exc}") from exc
    output = output or CORRECTIONS_DIR / f"review-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.csv"
    output.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(output, index=False)
    skipped = int((rows["skip"] == "1").sum())
    console.print(escape(f"{len(rows)} corrections ({skipped} skipped) written to {output}; "
                         f"train with `interaction-classifier train --corrections {output}`"))
