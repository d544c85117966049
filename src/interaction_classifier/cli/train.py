"""``corpus build|stats``, ``train`` and ``compare``: building data and models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from interaction_classifier.cli.evaluate import print_report
from interaction_classifier.cli.keys import KeyOption, signer_for
from interaction_classifier.config import DEFAULT_CONFIG, MODELS_DIR, RESOURCES, read_toml

corpus_app = typer.Typer(help="Build the labelled training corpus.", no_args_is_help=True)
console = Console()
RETRAIN_CONFIG = RESOURCES / "retrain.toml"  # shipped: retraining works from a wheel


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


def cli_overrides(data: Path | None, text_column: str | None, label_column: list[str] | None,
                  split_column: str | None, budget: float | None,
                  corrections: list[Path] | None = None, corpus: bool = False
                  ) -> dict[str, Any]:
    """The command-line options as a config fragment merged over the config file
    (``--corrections`` go to ``[corpus]`` for a corpus config, else to ``[data]``)."""
    given = {"path": str(data) if data else None, "text_column": text_column,
             "label_columns": label_column or None, "split_column": split_column}
    overrides: dict[str, Any] = {}
    if any(v is not None for v in given.values()):
        overrides["data"] = {k: v for k, v in given.items() if v is not None}
    if corrections:
        table = "corpus" if corpus and data is None else "data"
        overrides.setdefault(table, {})["corrections"] = [str(p.resolve()) for p in corrections]
    if budget is not None:
        overrides["search"] = {"budget_minutes": budget}
    return overrides


def set_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """``--set section.key=value`` pairs as a config fragment (spaCy's ``--section.key``
    overrides): the value is read as TOML (``true``, ``0.5``, ``[1, 2]``, ``"text"``), a bare
    word as a string. The config's schema then checks every key and value."""
    import tomllib

    from interaction_classifier.config import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        path = key.strip().split(".")
        if not sep or not all(path):
            raise ConfigError(f"--set {pair!r}: expected section.key=value, e.g. "
                              "urgency.fit_cutoffs=true")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        table = out
        for part in path[:-1]:
            table = table.setdefault(part, {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {pair!r}: {part!r} is set to a value above")
        table[path[-1]] = value
    return out


def train(
    config: Annotated[Path | None, typer.Option(
        help="Training config (TOML). Default: configs/default.toml, or configs/retrain.toml "
             "with --data.")] = None,
    output: Annotated[Path, typer.Option(help="Model directory to write.")] = MODELS_DIR
    / "candidate",
    track: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    data: Annotated[Path | None, typer.Option(
        help="Train on your own labelled table (CSV, TSV, Parquet, JSONL).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Column holding the text.")] = None,
    label_column: Annotated[list[str] | None, typer.Option(
        help="Label column; repeat for one head per column.")] = None,
    split_column: Annotated[str | None, typer.Option(
        help="Optional column with train/valid/test per row.")] = None,
    budget: Annotated[float | None, typer.Option(
        help="Minutes of model selection (successive halving); 0: none.")] = None,
    signing_key: KeyOption = None,
    unsigned: Annotated[bool, typer.Option(
        help="Save the model unsigned (it then loads only with --trust-unsigned).")] = False,
    log_examples: Annotated[bool, typer.Option(
        help="Keep example texts of confused labels in evaluation.json and MLflow, masked "
             "(text.redact); default: their row ids only.")] = False,
    corrections: Annotated[list[Path] | None, typer.Option(
        help="A corrections file from `review import` (repeatable): folded in with origin "
             "`review`; its sha256 goes to the manifest and the registered version.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override one config key, section.key=value (repeatable), e.g. "
                      "urgency.fit_cutoffs=true; applied last.")] = None,
) -> None:
    """Train a model from a config: the four-head default model (a `\\[corpus]` table)
    or a model on your own labels (`\\[data]`, or --data); evaluate, save and track it."""
    from interaction_classifier.config import ConfigError
    from interaction_classifier.data.registry import DataError as RegistryError
    from interaction_classifier.training.config import load_config, merge
    from interaction_classifier.training.data import DataError
    from interaction_classifier.training.run import run

    base = config or (RETRAIN_CONFIG if data is not None else DEFAULT_CONFIG)
    signer = signer_for(signing_key, unsigned)
    try:
        overrides = merge(cli_overrides(data, text_column, label_column, split_column, budget,
                                        corrections, "corpus" in read_toml(base)),
                          set_overrides(set_))
        cfg = load_config(base, overrides)
        result = run(cfg, output, track=track, config_path=base, signer=signer,
                     log_examples=log_examples)
    except (ConfigError, DataError, RegistryError, RuntimeError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from exc
    print_report(result.report)
    console.print(escape(f"model {result.manifest['version']} written to {output}; "
                         f"configuration to {result.config_path}"))
    if "mlflow" in result.manifest:
        console.print(f"MLflow run {result.manifest['mlflow']['run_id']}")


def compare(
    run_a: Annotated[str, typer.Argument(help="MLflow run id A.")],
    run_b: Annotated[str, typer.Argument(help="MLflow run id B.")],
) -> None:
    """Show two MLflow runs (of any kind) side by side: the params that differ and the
    headline metrics."""
    from interaction_classifier.training import tracking

    tracking.connect()
    params, metrics = tracking.compare_runs(run_a, run_b)
    for frame in (params, metrics):
        table = Table(*frame.columns)
        for row in frame.itertuples(index=False):
            table.add_row(*(f"{v:.4f}" if isinstance(v, float) else escape(str(v)) for v in row))
        console.print(table)
