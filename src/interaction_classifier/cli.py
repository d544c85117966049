"""Command line: ``interaction-classifier corpus build | train | evaluate | predict | score``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from interaction_classifier.cli_score import score_command
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
    from interaction_classifier.corpus import build_corpus, load_corpus_config, write_corpus

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
    from interaction_classifier.corpus import counts_markdown, load_corpus_config, read_corpus

    typer.echo(counts_markdown(read_corpus(load_corpus_config(config).output)))


@app.command()
def train(
    config: Annotated[Path, typer.Option(help="Training config (TOML).")] = DEFAULT_CONFIG,
    output: Annotated[Path, typer.Option(help="Model directory to write.")] = MODELS_DIR
    / "candidate",
    track: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
) -> None:
    """Train the four-head model from the built corpus; evaluate, save and track it."""
    from interaction_classifier.train import run_training

    report = run_training(config, output, track=track)
    _print_report(report)
    console.print(f"model written to {output}")


@app.command()
def evaluate(
    model: Annotated[Path | None, typer.Option(help="Model directory or MLflow URI.")] = None,
    semeval_limit: Annotated[int | None, typer.Option(help="Sample SemEval rows.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the evaluation report (test split, gold set, SemEval) for a saved model."""
    from interaction_classifier.corpus import read_corpus
    from interaction_classifier.predictor import load_model
    from interaction_classifier.train import evaluation_report, gold_score

    predictor = load_model(model)
    report = evaluation_report(predictor, read_corpus(), semeval_limit=semeval_limit)
    report["gold_score"] = gold_score(report)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)


def _print_report(report: dict) -> None:
    table = Table("set", "head", "n", "macro-F1", "accuracy", "ECE", "urgency AUC")
    for name in ("test", "gold"):
        for head, m in report[name].items():
            auc = m.get("roc_auc_urgent")
            table.add_row(name, head, str(m["n"]), f"{m['macro_f1']:.3f}", f"{m['accuracy']:.3f}",
                          f"{m['ece']:.3f}" if "ece" in m else "",
                          f"{auc:.3f}" if auc is not None else "")
    console.print(table)
    s = report["semeval_heldout"]
    console.print(f"SemEval-2016 test (n={s['n']}): macro recall {s['model_macro_recall']:.3f} "
                  f"vs VADER {s['vader_macro_recall']:.3f}")


@app.command("predict")
def predict_cmd(
    text: Annotated[str, typer.Argument(help="The message to classify.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    model: Annotated[Path | None, typer.Option(help="Model directory or MLflow URI.")] = None,
) -> None:
    """Classify one message."""
    from interaction_classifier.predictor import load_model

    result = load_model(model).predict(text)
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    table = Table("field", "value", show_header=False)
    for head in ("interaction_type", "journey_stage", "sentiment"):
        table.add_row(head, f"{result[head]}  ({result['confidence'][head]:.2f})")
    table.add_row("sentiment_score", f"{result['sentiment_score']:+.2f}")
    table.add_row("urgency", f"{result['urgency']:.2f}  [{result['priority']}]")
    table.add_row("needs_review", str(result["needs_review"]))
    table.add_row("reasons", "\n".join(result["reasons"]) or "-")
    table.add_row("model_version", result["model_version"])
    console.print(table)


if __name__ == "__main__":
    app()
