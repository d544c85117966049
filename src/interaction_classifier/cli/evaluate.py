"""``evaluate``: the evaluation report of a saved model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()


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
        print_report(report)


def print_report(report: dict) -> None:
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
