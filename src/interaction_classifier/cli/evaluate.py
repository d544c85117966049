"""``evaluate``: the evaluation report of any saved model, on a labelled file or (the default
model) on the corpus test split, the gold set and SemEval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()


def head_columns(label_column: list[str] | None, heads: list[str]) -> dict[str, str]:
    """``--label-column`` values as head -> file column: ``HEAD=COLUMN``, or a column named
    as a head; none given: every head (the file must have a column per head)."""
    pairs = [c.split("=", 1) if "=" in c else (c, c) for c in label_column or heads]
    unknown = [h for h, _ in pairs if h not in heads]
    if unknown:
        raise typer.BadParameter(f"{unknown} are not heads of this model; heads: {heads} "
                                 "(map a column with HEAD=COLUMN)", param_hint="--label-column")
    return dict(pairs)


def evaluate(
    model: Annotated[Path | None, typer.Option(help="Model directory or MLflow URI.")] = None,
    data: Annotated[Path | None, typer.Option(
        help="Labelled file (CSV, TSV, Parquet, JSONL) to evaluate on.")] = None,
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    label_column: Annotated[list[str] | None, typer.Option(
        help="Label column named as a head, or HEAD=COLUMN; repeatable. Default: every "
             "head.")] = None,
    plots: Annotated[Path | None, typer.Option(help="Write the plots to this folder.")] = None,
    semeval_limit: Annotated[int | None, typer.Option(help="Sample SemEval rows.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    against: Annotated[Path | None, typer.Option(
        help="Another model: print the paired difference (this model minus that one) per "
             "head on --data, or on the gold set, instead of the report.")] = None,
    log_examples: Annotated[bool, typer.Option(
        help="--json shows example texts of confused labels, masked (text.redact); "
             "default: their row ids only.")] = False,
    trust_unsigned: Annotated[bool, typer.Option(
        help="Load an unsigned or unknown-key model (only one you made or trust).")] = False,
) -> None:
    """Print the evaluation report of a saved model: on --data for any model; without it,
    the default model's report on the corpus test split, the gold set and SemEval."""
    from interaction_classifier.evaluation.report import (
        default_report,
        evaluation_report,
        logged_examples,
    )
    from interaction_classifier.serving.predictor import load_model
    from interaction_classifier.training.data import DataError, labelled_frame

    predictor = load_model(model, trust_unsigned=trust_unsigned)
    heads = list(predictor.model.heads)
    frame = None
    if data is not None:
        columns = head_columns(label_column, heads)
        try:
            frame = labelled_frame(data, text_column, columns)
        except DataError as exc:
            console.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from exc
    if against is not None:
        _print_paired(load_model(against, trust_unsigned=trust_unsigned), predictor, frame,
                      as_json)
        return
    if frame is not None:
        report = evaluation_report(predictor, frame, plots)
    elif predictor.model.urgency is not None:
        from interaction_classifier.data.corpus import read_corpus

        report = default_report(predictor, read_corpus(), plots, semeval_limit)
    else:
        console.print("[bold red]error:[/] this model was trained on your own labels: pass "
                      "--data FILE (its labelled test rows) and --label-column")
        raise typer.Exit(2)
    if as_json:
        typer.echo(json.dumps(logged_examples(report, log_examples), indent=2,
                              ensure_ascii=False))
    else:
        print_report(report)


def _print_paired(baseline: Any, candidate: Any, frame: Any, as_json: bool) -> None:
    """``--against``: per head, candidate minus baseline macro-F1 with a paired interval."""
    from interaction_classifier.evaluation.report import paired_comparison

    if frame is None:
        from interaction_classifier.data.gold import load_gold

        frame = load_gold()
    found = paired_comparison(baseline, candidate, frame)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table("head", "n", "difference", "95% paired CI",
                  title=f"{candidate.version} minus {baseline.version}", title_justify="left")
    for head, d in found.items():
        table.add_row(escape(head), str(d["n"]), f"{d['difference']:+.3f}",
                      f"[{d['low']:+.3f}, {d['high']:+.3f}]")
    console.print(table)


def _set_table(name: str, section: dict[str, Any]) -> Table:
    """One row per head, narrow enough for an 80-column terminal or a CI log."""
    from interaction_classifier.evaluation.card import interval_text

    table = Table("head", "n", "macro-F1", "95% CI", "acc.", "ECE", "AUC/rev.",
                  title=f"{name} set", title_justify="left")
    for head, m in section.items():
        if not isinstance(m, dict) or "macro_f1" not in m:
            continue
        auc = m.get("roc_auc_urgent")
        review = m.get("abstain", {}).get("review_rate")
        last = f"{auc:.3f}" if auc is not None else f"{review:.1%}" if review is not None else ""
        table.add_row(escape(head), str(m["n"]), f"{m['macro_f1']:.3f}", interval_text(m),
                      f"{m['accuracy']:.3f}", f"{m['ece']:.3f}" if "ece" in m else "", last)
    return table


def print_report(report: dict[str, Any]) -> None:
    """The report of either shape: the default model's (test, gold, SemEval) or one set's."""
    sets = {s: report[s] for s in ("test", "gold") if isinstance(report.get(s), dict)} \
        or {"evaluation": report}
    for name, section in sets.items():
        console.print(_set_table(name, section))
    console.print("AUC: urgency ROC-AUC, critical/high against the rest. rev.: share of rows "
                  "below the review threshold.")
    if s := report.get("semeval_heldout"):
        console.print(f"SemEval-2016 test (n={s['n']}): macro recall "
                      f"{s['model_macro_recall']:.3f} vs VADER {s['vader_macro_recall']:.3f}")
