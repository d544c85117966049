"""``corpus build|stats``, ``train`` and ``compare``: building data and models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interaction_classifier.cli.evaluate import print_report
from interaction_classifier.config import DEFAULT_CONFIG, MODELS_DIR

corpus_app = typer.Typer(help="Build the labelled training corpus.", no_args_is_help=True)
console = Console()


@corpus_app.command("build")
def corpus_build(
    config: Annotated[Path | None, typer.Option(help="Corpus config (TOML).")] = None,
) -> None:
    """Assemble, de-duplicate and split the corpus into one Parquet table."""
    from interaction_classifier.data.corpus import build_corpus, load_corpus_config, write_corpus

    cfg = load_corpus_config(config)
    frame, report = build_corpus(cfg)
    path = write_corpus(frame, cfg.output)
    console.print(f"[bold]corpus[/] {path} ({report.rows_written} rows, "
                  f"fingerprint {report.fingerprint})")
    console.print(f"loaded {report.rows_loaded}; removed: annotator skips "
                  f"{report.rows_skipped_by_annotators}, gold overlap {report.rows_gold_removed}"
                  f", duplicates {report.rows_duplicates_removed}, no label "
                  f"{report.rows_unlabelled_removed}")
    table = Table("split", "rows", "interaction_type", "journey_stage", "sentiment", "urgency")
    for split, grp in frame.groupby("split"):
        table.add_row(str(split), str(len(grp)),
                      *(str(int(grp[h].notna().sum())) for h in
                        ("interaction_type", "journey_stage", "sentiment", "urgency")))
    console.print(table)


@corpus_app.command("stats")
def corpus_stats(
    config: Annotated[Path | None, typer.Option(help="Corpus config (TOML).")] = None,
) -> None:
    """Print label counts per source per head of the built corpus, as Markdown."""
    from interaction_classifier.data.corpus import counts_markdown, load_corpus_config, read_corpus

    typer.echo(counts_markdown(read_corpus(load_corpus_config(config).output)))



def train(
    config: Annotated[Path, typer.Option(help="Training config (TOML).")] = DEFAULT_CONFIG,
    output: Annotated[Path, typer.Option(help="Model directory to write.")] = MODELS_DIR
    / "candidate",
    track: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    data: Annotated[Path | None, typer.Option(
        help="Retrain on your own labelled table (CSV, TSV, Parquet, JSONL).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column holding the text.")] = None,
    label_column: Annotated[list[str] | None, typer.Option(
        help="Label column; repeat for one head per column.")] = None,
    split_column: Annotated[str | None, typer.Option(
        help="Optional column with train/valid/test per row.")] = None,
    budget: Annotated[float | None, typer.Option(
        help="Minutes of model selection (successive halving); 0 uses the profile.")] = None,
    profile: Annotated[str | None, typer.Option(help="Retraining profile: fast.")] = None,
) -> None:
    """Train the four-head model from the built corpus, or (with --data, or a config with a
    [data] table) retrain on your own labels; evaluate, save and track it."""
    from interaction_classifier.config import read_toml

    raw = read_toml(config) if config != DEFAULT_CONFIG or data is None else {}
    if data is None and "data" not in raw:
        from interaction_classifier.training.train import run_training

        report = run_training(config, output, track=track)
        print_report(report)
        console.print(escape(f"model written to {output}"))
        return
    _retrain(raw, output, track, data, text_column, label_column, split_column, budget,
             profile)


def _retrain(raw: dict, output: Path, track: bool, data: Path | None, text_column: str | None,
             label_column: list[str] | None, split_column: str | None, budget: float | None,
             profile: str | None) -> None:
    """Run the generic trainer with CLI values over the config file's, and print the result."""
    from interaction_classifier.training.retrain import RetrainError, resolve_config, run_retraining

    given = {"path": str(data) if data else None, "text_column": text_column,
             "label_columns": label_column or None, "split_column": split_column}
    overrides: dict = {"data": {k: v for k, v in given.items() if v is not None}}
    if budget is not None:
        overrides["search"] = {"budget_minutes": budget}
    if profile is not None:
        overrides["profile"] = profile
    try:
        result = run_retraining(resolve_config(raw, overrides), output, track=track)
    except RetrainError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    table = Table("head", "n test", "accuracy", "macro-F1", "weighted-F1", "ECE")
    for head in result["manifest"]["heads"]:
        m = result["report"][head]
        table.add_row(escape(head), str(m["n"]), f"{m['accuracy']:.4f}", f"{m['macro_f1']:.4f}",
                      f"{m['weighted']['f1']:.4f}", f"{m['ece']:.3f}")
    console.print(table)
    console.print(escape(f"model written to {output}; configuration to {result['config_path']}"))
    if "mlflow" in result["manifest"]:
        console.print(f"MLflow run {result['manifest']['mlflow']['run_id']}")



def compare(
    run_a: Annotated[str, typer.Argument(help="MLflow run id A.")],
    run_b: Annotated[str, typer.Argument(help="MLflow run id B.")],
) -> None:
    """Show two MLflow runs side by side: the params that differ and the headline metrics."""
    from interaction_classifier.training import tracking
    from interaction_classifier.training.retrain import compare_runs

    tracking.setup("interaction-classifier-retrain")
    params, metrics = compare_runs(run_a, run_b)
    for frame in (params, metrics):
        table = Table(*frame.columns)
        for row in frame.itertuples(index=False):
            table.add_row(*(f"{v:.4f}" if isinstance(v, float) else escape(str(v)) for v in row))
        console.print(table)


