"""The model card: rendered through a Jinja2 template from the manifest's evaluation report and
the results the benchmarks recorded, so no number on it is typed by hand.

The card is Markdown, which Jinja2 cannot autoescape: every label, head name or other text a
user controls goes through the ``md`` filter, which escapes what Markdown (and the HTML a
Markdown viewer passes through) would interpret. The same module reads and writes the
benchmark results (``benchmarks/results/NAME.json``), so their schema lives in one place.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from interaction_classifier.config import PROJECT_ROOT
from interaction_classifier.io import write_text

RESULTS_DIR = PROJECT_ROOT / "benchmarks" / "results"
SPLITS = ("test", "gold")
# Quality targets checked on the gold set, per profile (the fast model's from the first model
# issue, the accurate profile's from issue #21): gold macro-F1 per head, urgency ROC-AUC,
# SemEval-2016 macro recall, and its margin over VADER.
GATES = {
    "fast": {"source": "the model issue",
             "gold": {"interaction_type": 0.70, "journey_stage": 0.60, "sentiment": 0.70},
             "urgency_auc": 0.85, "semeval": 0.65, "semeval_over_vader": 0.10},
    "accurate": {"source": "the accurate profile's issue (#21)",
                 "gold": {"interaction_type": 0.80, "journey_stage": 0.70, "sentiment": 0.80},
                 "urgency_auc": 0.90, "semeval": 0.70, "semeval_over_vader": 0.10},
}
LIBRARIES = ("numpy", "scipy", "scikit-learn", "spacy", "pandas")

_MD_SPECIAL = re.compile(r"([\\`*\[\]|])")
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md(value: Any) -> str:
    """Text safe inside a Markdown paragraph or table cell: HTML-escaped (a viewer passes
    raw HTML through), Markdown punctuation and table pipes backslash-escaped, line breaks
    flattened. Intra-word underscores stay as they are: they never start emphasis."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_UNDERSCORE.sub(r"\\_", _MD_SPECIAL.sub(r"\\\1", text))


def num(value: Any, digits: int = 3) -> str:
    """A metric as the card prints it; missing or NaN is a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def measure(value: float, unit: str, signed: bool = False) -> str:
    """A benchmark figure with its unit, at the precision the measurement supports."""
    sign = "+" if signed else ""
    if unit in ("MB", "rows/s"):
        return f"{value:{sign},.0f} {unit}"
    if unit == "x":
        return f"{value:{sign}.1f}x"
    return f"{value:{sign}.3g} {unit}"


def interval_text(metrics: dict[str, Any]) -> str:
    """The bootstrap interval of macro-F1, for reports that carry one."""
    ci = metrics.get("macro_f1_ci95")
    return f"{ci['low']:.3f}-{ci['high']:.3f}" if ci else ""


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("interaction_classifier.evaluation", "templates"),
                      autoescape=False, undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(md=md, num=num, measure=measure, interval=interval_text)
    return env


def _sets(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Evaluation set -> head -> metrics, for both report shapes: the default model's
    (``{"test": {head: ...}, "gold": {...}, ...}``) and a retrained model's per-head report
    (``{head: ..., "score": ...}``, measured on its test split)."""
    test = metrics.get("test")
    if isinstance(test, dict) and "macro_f1" not in test:
        return {s: metrics[s] for s in SPLITS if s in metrics}
    return {"test": {h: m for h, m in metrics.items() if isinstance(m, dict) and "n" in m}}


def _heads(manifest: dict[str, Any], sets: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Head -> labels in the model's order: the manifest's heads, then the taxonomy for heads
    the model declares no labels of (urgency tiers), else the order the report lists them in."""
    declared = {**(manifest.get("taxonomy") or {}), **(manifest.get("heads") or {})}
    found = {h: list(m.get("per_class", {})) for s in sets.values() for h, m in s.items()}
    return {h: list(declared.get(h) or found[h]) for h in [*declared, *found]
            if h in found}


def _per_class(metrics: dict[str, Any], labels: list[str]) -> list[dict[str, Any]]:
    """Per-class rows in the model's label order, whichever order the report's dict is in."""
    per_class = metrics.get("per_class", {})
    order = [lab for lab in labels if lab in per_class]
    return [{"label": lab, **per_class[lab]}
            for lab in order + sorted(set(per_class) - set(order))]


def _per_source(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The per-source table: ``source``, ``n``, then the measures in name order."""
    columns = sorted({c for r in rows for c in r} - {"source", "n"})
    return {"columns": ["source", "n", *columns],
            "rows": [[r.get(c) for c in ["source", "n", *columns]] for r in rows]}


def _gates(sets: dict[str, Any], semeval: dict[str, Any] | None,
           targets: dict[str, Any]) -> list[dict[str, Any]]:
    """The profile's quality targets (a ``GATES`` entry) that this report can check, each met
    or missed."""
    gold = sets.get("gold", {})
    gates = [{"what": f"{head} macro-F1", "target": target, "value": gold[head]["macro_f1"],
              "interval": interval_text(gold[head])}
             for head, target in targets["gold"].items() if head in gold]
    if (auc := gold.get("urgency", {}).get("roc_auc_urgent")) is not None:
        gates.append({"what": "urgency ROC-AUC (critical/high vs rest)",
                      "target": targets["urgency_auc"], "value": auc, "interval": ""})
    if semeval:
        recall, vader = semeval["model_macro_recall"], semeval["vader_macro_recall"]
        gates.append({"what": "SemEval macro recall", "target": targets["semeval"],
                      "value": recall, "interval": ""})
        gates.append({"what": "SemEval macro recall minus VADER's",
                      "target": targets["semeval_over_vader"], "value": recall - vader,
                      "interval": ""})
    return [{**g, "met": g["value"] >= g["target"]} for g in gates]


def read_results(directory: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    """Benchmark name -> its latest recorded run (empty when none was recorded, e.g. in an
    installed wheel, which ships no benchmarks)."""
    if not directory.is_dir():
        return {}
    results = {}
    for path in sorted(directory.glob("*.json")):
        run = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(run, dict) or "benchmark" not in run:
            raise ValueError(f"{path} is not a benchmark record (written by record_result); "
                             "an experiment's results belong in docs/experiments/results/")
        results[run["benchmark"]] = run
    return results


def context(manifest: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Everything the template shows, in one dict (also what a test inspects)."""
    metrics = manifest["metrics"]
    sets = _sets(metrics)
    heads = _heads(manifest, sets)
    detail = "gold" if "gold" in sets else "test"
    semeval = metrics.get("semeval_heldout")
    targets = GATES.get(manifest.get("profile", "fast"), GATES["fast"])
    return {
        "manifest": manifest, "sets": sets, "heads": heads, "detail_set": detail,
        "per_class": {h: _per_class(sets[detail][h], labels) for h, labels in heads.items()
                      if h in sets[detail]},
        "abstain": [(s, h, by_head[h]["abstain"]) for s, by_head in sets.items()
                    for h in heads if isinstance(by_head.get(h, {}).get("abstain"), dict)],
        "semeval": semeval,
        "per_source": {title: _per_source(metrics[key]) for title, key in (
            ("Test split", "test_per_source"), ("Gold set", "gold_per_source"))
            if metrics.get(key)},
        "gates": _gates(sets, semeval, targets),
        "gates_source": targets["source"],
        "has_urgency": "urgency" in heads,
        "results": results,
    }


def render(manifest: dict[str, Any], results_dir: Path = RESULTS_DIR) -> str:
    """Markdown model card from a manifest that holds the evaluation report, with the
    benchmark results recorded in ``results_dir``."""
    template = _environment().get_template("model_card.md.j2")
    return template.render(context(manifest, read_results(results_dir)))


def write_card(directory: Path, manifest: dict[str, Any]) -> Path:
    """Write ``MODEL_CARD.md`` into a model directory (atomically)."""
    return write_text(directory / "MODEL_CARD.md", render(manifest))


def machine() -> dict[str, Any]:
    """What the benchmark ran on: CPU model, cores, OS, Python and the numeric libraries."""
    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = re.findall(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        cpu = names[0].strip() if names else cpu
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = version(name)
        except PackageNotFoundError:
            continue
    return {"cpu": cpu or platform.machine(), "cores": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(),
            "libraries": libraries}


def record_result(benchmark: str, results: dict[str, Any], *, model_version: str,
                  args: dict[str, Any], targets: dict[str, float] | None = None,
                  directory: Path = RESULTS_DIR) -> Path:
    """Write one benchmark run as ``directory/BENCHMARK.json`` (the latest run; git keeps
    the earlier ones). ``targets`` maps a result key to its upper bound."""
    record = {"benchmark": benchmark,
              "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": machine(), "model_version": model_version, "args": args,
              "results": results, "targets": targets or {}}
    return write_text(directory / f"{benchmark}.json", json.dumps(record, indent=2) + "\n")
