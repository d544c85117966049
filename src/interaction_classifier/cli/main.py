"""Command line: ``interaction-classifier corpus build | train | evaluate | predict | score |
compare``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interaction_classifier.cli.score import score_command
from interaction_classifier.config import DEFAULT_CONFIG, MODELS_DIR

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False)
corpus_app = typer.Typer(help="Build the labelled training corpus.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
console = Console()
app.command("score")(score_command)


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


@app.command()
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
        _print_report(report)
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


@app.command()
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


@app.command()
def evaluate(
    model: Annotated[Path | None, typer.Option(help="Model directory or MLflow URI.")] = None,
    semeval_limit: Annotated[int | None, typer.Option(help="Sample SemEval rows.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the evaluation report (test split, gold set, SemEval) for a saved model."""
    from interaction_classifier.data.corpus import read_corpus
    from interaction_classifier.serving.predictor import load_model
    from interaction_classifier.training.train import evaluation_report, gold_score

    predictor = load_model(model)
    report = evaluation_report(predictor, read_corpus(), semeval_limit=semeval_limit)
    report["gold_score"] = gold_score(report)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)


def _print_report(report: dict) -> None:
    """One table per set, narrow enough for an 80-column terminal or a CI log."""
    from interaction_classifier.evaluation.card import interval_text

    for name in ("test", "gold"):
        table = Table("head", "n", "macro-F1", "95% interval", "acc.", "ECE", "AUC",
                      title=f"{name} set", title_justify="left")
        for head, m in report[name].items():
            auc = m.get("roc_auc_urgent")
            table.add_row(head, str(m["n"]), f"{m['macro_f1']:.3f}", interval_text(m),
                          f"{m['accuracy']:.3f}", f"{m['ece']:.3f}" if "ece" in m else "",
                          f"{auc:.3f}" if auc is not None else "")
        console.print(table)
    console.print("AUC: urgency ROC-AUC, critical/high against the rest.")
    s = report["semeval_heldout"]
    console.print(f"SemEval-2016 test (n={s['n']}): macro recall {s['model_macro_recall']:.3f} "
                  f"vs VADER {s['vader_macro_recall']:.3f}")


@app.command("predict")
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


if __name__ == "__main__":
    app()
