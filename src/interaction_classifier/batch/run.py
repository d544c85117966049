"""Batch scoring of large files: streaming, parallel, resumable, nothing lost.

The input is read in chunks of ``chunk_size`` rows (``readers``). Each chunk is scored (by
``chunks.score_chunk``, in a worker process: ``workers``) and committed to the work
directory ``<output>.parts/`` as one chunk file (``chunkfiles``), so a chunk is either
fully there or absent whatever kills the run; ``--resume`` skips committed chunks. Once
every chunk is committed the outputs (scored rows, quarantine, queue, report, summary
JSON) are written aside and renamed into place (``outputs``), then the work directory is
removed.

Everything that depends on the model (its heads, whether it has urgency, the queue rule,
threshold overrides) is settled from ``Predictor.describe()`` before any row is scored.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interaction_classifier.batch import triage
from interaction_classifier.batch.chunkfiles import (
    digest,
    fingerprint,
    locked,
    prepare_work_dir,
    remove_leftovers,
)
from interaction_classifier.batch.chunks import OK, READ_STATUS
from interaction_classifier.batch.columns import OutputColumns, score_added
from interaction_classifier.batch.formats import (
    BatchError,
    CountMismatch,
    detect_format,
    sibling,
)
from interaction_classifier.batch.outputs import Finaliser
from interaction_classifier.batch.overrides import check_overrides, effective_thresholds
from interaction_classifier.batch.readers import MAX_RECORD_LINES, READ_LINES, ChunkReader
from interaction_classifier.batch.report import write_report
from interaction_classifier.batch.stats import merge_stats
from interaction_classifier.batch.workers import JobConfig, Progress, score_all, start_pool
from interaction_classifier.io import write_text
from interaction_classifier.loop.drift import drift_report
from interaction_classifier.models.artifact import ArtifactError
from interaction_classifier.serving.predictor import Predictor, load_model
from interaction_classifier.text.redact import Redactor


@dataclass
class ScoreOptions:
    """Everything ``score`` accepts; paths are resolved by ``run``."""

    input: Path
    output: Path | None = None
    text_column: str = "text"
    id_column: str | None = None
    time_column: str | None = None
    workers: int = 1
    chunk_size: int = 10_000
    resume: bool = False
    quiet: bool = False
    model: Path | None = None
    queue: Path | None = None
    report: Path | None = None
    queue_by: str | None = None
    review: dict[str, float] = field(default_factory=dict)
    priority: dict[str, float] = field(default_factory=dict)
    output_prefix: str = ""
    max_record_lines: int = MAX_RECORD_LINES
    redact: tuple[str, ...] = ()
    redact_patterns: dict[str, str] = field(default_factory=dict)
    drift_reference: str | None = None  # `training` or a scored file: the report's drift

    def resolved_output(self) -> Path:
        if self.output is not None:
            return self.output
        fmt = detect_format(self.input)
        stem = self.input.name[: len(self.input.name) - len(fmt.suffix)]
        return self.input.with_name(f"{stem}.scored{fmt.suffix}")


@dataclass(frozen=True)
class Plan:
    """What the model and the options decide before scoring starts."""

    model: Predictor
    description: dict[str, Any]
    rule: triage.QueueRule
    columns: OutputColumns

    @property
    def label_columns(self) -> tuple[str, ...]:
        """Categorical outputs to count: the heads, and the priority tier with urgency."""
        heads = tuple(self.description["heads"])
        return (*heads, "priority") if self.description["capabilities"]["urgency"] else heads


def plan(options: ScoreOptions) -> Plan:
    """Load the model and check the queue rule and overrides against it (BatchError)."""
    try:
        model = load_model(options.model)
    except (FileNotFoundError, ArtifactError) as exc:  # ArtifactError: unsigned or tampered
        raise BatchError(str(exc)) from exc
    description = model.describe()
    try:
        rule = triage.parse_rule(options.queue_by, description)
    except ValueError as exc:
        raise BatchError(str(exc)) from exc
    check_overrides(description, options.review, options.priority)
    return Plan(model, description, rule, OutputColumns.of(model, options.output_prefix))


def _check_first_row(options: ScoreOptions, plan: Plan) -> None:
    """Fail before any work on what the first row already shows (no text column, input
    columns the output would overwrite, a missing id or time column where the file has a
    header): the same reader and scoring code, on the header alone."""
    reader = ChunkReader(options.input, 1, options.text_column, options.max_record_lines)
    first = next(iter(reader), None)
    if first is not None:
        inputs = first.drop(columns=[READ_STATUS, READ_LINES], errors="ignore")
        plan.columns.check(inputs.columns)
        if reader.format.kind != "jsonl":  # JSON lines may add keys later: checked at the end
            _check_columns(options, list(inputs.columns))
        score_added(plan.model, first.iloc[:0], options.text_column,
                    review=options.review or None, priority=options.priority or None)


def _manifest(options: ScoreOptions, plan: Plan) -> dict[str, Any]:
    """What must not change between a run and its resume (JSON values, compared as read):
    the input's fingerprint, the config, and the config's digest (also in every chunk)."""
    config = {"text_column": options.text_column,
              "time_column": options.time_column, "chunk_size": options.chunk_size,
              "model_version": plan.model.version, "queue_by": plan.rule.spec,
              "review_thresholds": dict(sorted(options.review.items())),
              "priority_cutoffs": dict(sorted(options.priority.items())),
              "output_prefix": options.output_prefix,
              "max_record_lines": options.max_record_lines,
              "redact": list(options.redact),
              "redact_patterns": dict(sorted(options.redact_patterns.items()))}
    return {"fingerprint": fingerprint(options.input), **config,
            "config_digest": digest(config)}


def run(options: ScoreOptions, say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score ``options.input`` end to end and return the summary (also written as JSON).

    Holds the work directory's lock throughout: a second run on the same output refuses.
    """
    say = say or (lambda message: None)
    started = time.monotonic()
    _validate(options)
    output = options.resolved_output()
    work = output.with_name(output.name + ".parts")
    settled = plan(options)
    _check_first_row(options, settled)
    with locked(work):
        manifest = _manifest(options, settled)
        prepare_work_dir(work, manifest, options.resume, say)
        remove_leftovers(_outputs(options))
        summary = _score(options, output, settled, manifest, started)
        summary["throughput"]["total_seconds"] = round(time.monotonic() - started, 3)
        write_text(sibling(output, "summary", ".json"),
                   json.dumps(summary, indent=2, default=str))
        shutil.rmtree(work)
    return summary


def _score(options: ScoreOptions, output: Path, settled: Plan, manifest: dict[str, Any],
           started: float) -> dict[str, Any]:
    """Score every chunk not committed yet, then write the outputs; returns the summary.

    The input must be the file it was when the run started: one changed while it was read
    would give rows of two versions.
    """
    work = output.with_name(output.name + ".parts")
    reader = ChunkReader(options.input, options.chunk_size, options.text_column,
                         options.max_record_lines)
    config = JobConfig(options.text_column, options.time_column, str(work), settled.rule,
                       settled.label_columns, settled.columns, manifest["fingerprint"],
                       manifest["config_digest"], options.review or None,
                       options.priority or None, options.redact,
                       tuple(sorted(options.redact_patterns.items())))
    pool = start_pool(options.workers, config, settled.model)
    progress = Progress(options.quiet, reader)
    try:
        chunks, scored_now = score_all(pool, options.workers, reader, config, progress)
    finally:
        progress.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    seconds = time.monotonic() - started
    throughput = {
        "rows_scored_this_run": scored_now, "scoring_seconds": round(seconds, 3),
        "rows_per_second": round(scored_now / seconds, 1) if seconds else 0.0,
        "workers": options.workers, "chunk_size": options.chunk_size,
    }
    if fingerprint(options.input) != manifest["fingerprint"]:
        raise BatchError(f"{options.input} changed while it was being scored; score it again "
                         "once it is complete")
    finaliser = Finaliser.load(work, chunks, settled.columns)
    _check_columns(options, finaliser.columns)
    summary = _finalise(options, output, finaliser, settled, throughput)
    summary["input_lines"] = reader.lines
    return summary


def _outputs(options: ScoreOptions) -> list[Path]:
    """Every file a run writes, by role (the order names them in errors)."""
    output = options.resolved_output()
    named = [output, sibling(output, "quarantine"), sibling(output, "summary", ".json"),
             options.queue, options.report]
    return [p for p in named if p is not None]


def _validate(options: ScoreOptions) -> None:
    if not options.input.is_file():
        raise BatchError(f"input file not found: {options.input}")
    if options.workers < 1 or options.chunk_size < 1:
        raise BatchError("--workers and --chunk-size must be at least 1")
    if options.max_record_lines < 1:
        raise BatchError("--max-record-lines must be at least 1")
    try:
        Redactor(options.redact_patterns)
    except ValueError as exc:
        raise BatchError(f"--redact-pattern: {exc}") from exc
    for path in (options.input, options.resolved_output(), options.queue):
        if path is not None:
            detect_format(path)
    if options.report is not None and options.report.suffix.lower() not in (".html", ".htm"):
        raise BatchError(f"{options.report}: the report is HTML; name it *.html")
    _check_distinct(options)


def _check_distinct(options: ScoreOptions) -> None:
    """The input, output, quarantine, summary, queue and report must be six files: one
    written over another (or over the input) would silently replace it."""
    roles = ["the input", "-o", "the quarantine", "the summary", "--queue", "--report"]
    paths = [options.input, *_outputs(options)]
    if options.queue is None:
        roles.remove("--queue")
    if options.report is None:
        roles.remove("--report")
    seen: dict[object, str] = {}
    for role, path in zip(roles, paths, strict=True):
        key = _identity(path)
        if key in seen:
            raise BatchError(f"{role} and {seen[key]} are the same file ({path}); "
                             "give each output its own path")
        seen[key] = role


def _identity(path: Path) -> object:
    """The file itself (device and inode: symlinks and hard links too), else its path."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return path.resolve()
    return (stat.st_dev, stat.st_ino)


def _check_columns(options: ScoreOptions, columns: list[str]) -> None:
    """Optional columns must exist: a typo would silently lose the queue's tie-break."""
    for flag, name in (("--id-column", options.id_column),
                       ("--time-column", options.time_column)):
        if name is not None and name not in columns:
            raise BatchError(f"{flag} {name!r} is not a column of {options.input}")


def _finalise(options: ScoreOptions, output: Path, fin: Finaliser, settled: Plan,
              throughput: dict[str, Any]) -> dict[str, Any]:
    """Write output, quarantine, queue and report; return the summary."""
    stats: dict[str, Any] = {}
    for header in fin.headers:
        stats = merge_stats(stats, header["stats"]) if stats else header["stats"]
    rows_in = sum(h["rows"] for h in fin.headers)
    quarantine = sibling(output, "quarantine")
    rows_out, quarantined = fin.write_scored(output, quarantine)
    if options.queue is not None:
        queued = fin.write_queue(options.queue)
        if queued != rows_in:
            raise CountMismatch(f"queue has {queued} rows for {rows_in} input rows")
    if rows_out != rows_in:
        raise CountMismatch(f"wrote {rows_out} rows for {rows_in} input rows")
    summary = _summary(options, output, quarantine, settled, rows_in, rows_out, stats)
    summary["rows_quarantined"] = quarantined
    summary["throughput"] = throughput
    if options.report is not None:
        top = settled.columns.unprefixed(fin.top_of_queue(50))
        try:  # the outputs are complete; a bad reference stops before the report
            drift = None if options.drift_reference is None else drift_report(
                output, options.drift_reference, settled.model, options.text_column)
        except (ValueError, OSError) as exc:
            raise BatchError(f"--drift-reference: {exc}") from exc
        write_report(options.report, summary, stats, top, options, drift)
    return summary


def _summary(options: ScoreOptions, output: Path, quarantine: Path, settled: Plan,
             rows_in: int, rows_out: int, stats: dict[str, Any]) -> dict[str, Any]:
    status = stats.get("status", {})
    scored = status.get(OK, 0)
    return {
        "input": str(options.input), "output": str(output), "quarantine": str(quarantine),
        "queue": str(options.queue) if options.queue else None,
        "report": str(options.report) if options.report else None,
        "model_version": settled.model.version,
        "capabilities": settled.description["capabilities"],
        "thresholds": effective_thresholds(settled.description, options.review,
                                           options.priority),
        "queue_by": settled.rule.spec, "queue_rule": settled.rule.describe(),
        "rows_in": rows_in, "rows_out": rows_out, "rows_in_equals_rows_out": rows_in == rows_out,
        "scored": scored, "flagged": rows_in - scored,
        "flagged_by_reason": {k: v for k, v in sorted(status.items()) if k != OK},
        "needs_review": stats.get("needs_review", 0),
        "labels": stats.get("labels", {}),
        "priority_tiers": stats.get("labels", {}).get("priority", {}),
        "options": {k: str(v) if isinstance(v, Path) else v
                    for k, v in asdict(options).items()},
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The human-readable summary printed at the end of a run."""
    t = summary.get("throughput", {})
    check = "yes" if summary["rows_in_equals_rows_out"] else "NO"
    lines = [
        f"rows in {summary['rows_in']:,} | rows out {summary['rows_out']:,} "
        f"(rows in = rows out: {check})",
        f"scored {summary['scored']:,} | flagged {summary['flagged']:,} "
        + (f"{summary['flagged_by_reason']}" if summary["flagged"] else ""),
        f"needs review {summary['needs_review']:,}",
    ]
    for head, counts in summary["labels"].items():
        shown = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda x: -x[1]))
        lines.append(f"{head}: {shown}")
    lines.append(f"throughput {t.get('rows_per_second', 0):,.0f} rows/s "
                 f"({t.get('rows_scored_this_run', 0):,} rows in {t.get('scoring_seconds', 0)} s, "
                 f"{t.get('workers', 1)} worker(s)); model {summary['model_version']}")
    lines.append(f"output {summary['output']}; quarantine {summary['quarantine']}")
    if summary.get("queue"):
        lines.append(f"queue {summary['queue']} (by {summary['queue_rule']})")
    if summary.get("report"):
        lines.append(f"report {summary['report']}")
    return "\n".join(lines)
