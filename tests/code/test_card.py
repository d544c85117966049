"""The model card: rendered from a template for both kinds of manifest, user text escaped,
benchmark figures only from recorded results."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from interaction_classifier import load_model
from interaction_classifier.config import DEFAULT_MODEL_DIR, PROFILES
from interaction_classifier.evaluation import card
from interaction_classifier.evaluation.metrics import abstain_table, head_metrics
from interaction_classifier.evaluation.report import evaluation_report, without_texts
from tests.helpers.tiny_model import build_tiny_model, generate

HOSTILE = ["Billing & Payments | <b>", "*starred* [link](http://x.example)", "plain_label",
           "_under_"]
HOSTILE_HEAD = "team|<i>"
TEMPLATES = Path(card.__file__).parent / "templates"


class Cells(HTMLParser):
    """Table cells (text) and the tags of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def as_html(markdown: str) -> Cells:
    """The card as a GitHub-like viewer shows it (tables on, raw HTML passed through)."""
    parser = Cells()
    parser.feed(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))
    return parser


def default_manifest() -> dict:
    return json.loads((DEFAULT_MODEL_DIR / "manifest.json").read_text(encoding="utf-8"))


def retrained_manifest() -> dict:
    """What training on user labels writes: ``metrics`` is one report per head, measured
    on the test split, with no gold set, SemEval or urgency."""
    truth = pd.Series(HOSTILE * 10)
    pred = pd.Series(HOSTILE[1:] + HOSTILE[:1] + HOSTILE * 9)
    proba = pd.get_dummies(pred).reindex(columns=HOSTILE, fill_value=0).astype(float) * 0.9
    proba.columns = [f"p_category__{label}" for label in HOSTILE]
    report = {head: {**head_metrics(truth, pred, HOSTILE), "ece": 0.05,
                     "abstain": abstain_table(truth, proba)}
              for head in (HOSTILE_HEAD, "category")}
    report["score"] = 0.5
    return {"name": "interaction-classifier-retrained", "version": "20261205-1200-ab12",
            "heads": {HOSTILE_HEAD: HOSTILE, "category": HOSTILE},
            "data_fingerprint": "abc123", "rows": {"train": 80, "valid": 10, "test": 40},
            "metrics": report}


def test_default_manifest_renders_every_section(tmp_path: Path) -> None:
    manifest = default_manifest()
    text = card.render(manifest, results_dir=tmp_path)
    for heading in ("## Intended use", "## Model", "## Data", "## Metrics",
                    "## Speed and memory", "## Known limitations"):
        assert heading in text
    cells = as_html(text).rows
    gold_type = manifest["metrics"]["gold"]["interaction_type"]
    assert ["gold", "interaction_type", str(gold_type["n"]), f"{gold_type['macro_f1']:.3f}",
            card.interval_text(gold_type), f"{gold_type['accuracy']:.3f}",
            f"{gold_type['ece']:.3f}", "-"] in cells
    per_class = [r[:2] for r in cells if len(r) == 6]
    assert [r for r in per_class if r[0] == "urgency"] == [
        ["urgency", tier] for tier in ("critical", "high", "normal", "low")]
    assert "SemEval-2016" in text and "urgency ROC-AUC" in text
    assert "journey_stage macro-F1 >= 0.60" in text


def test_accurate_card_checks_its_own_targets_and_names_the_fine_tuned_encoder(
    tmp_path: Path,
) -> None:
    """The accurate profile is held to issue #21's targets, not the fast model's."""
    manifest = json.loads((PROFILES["accurate"] / "manifest.json").read_text(encoding="utf-8"))
    text = card.render(manifest, results_dir=tmp_path)
    assert "accurate profile's issue (#21)" in text
    assert "journey_stage macro-F1 >= 0.70" in text and "urgency ROC-AUC" in text
    assert "journey_stage macro-F1 >= 0.60" not in text
    assert "fine-tuned on the corpus" in text
    assert "fine-tuned" not in card.render(default_manifest(), results_dir=tmp_path)


def test_default_card_does_not_depend_on_dict_order(tmp_path: Path) -> None:
    def reverse(value: object) -> object:
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        return value

    manifest = default_manifest()
    assert (card.render(manifest, results_dir=tmp_path)
            == card.render({**manifest, "metrics": reverse(manifest["metrics"])},
                           results_dir=tmp_path))


def test_retrained_manifest_renders_with_hostile_labels_escaped(tmp_path: Path) -> None:
    text = card.render(retrained_manifest(), results_dir=tmp_path)
    page = as_html(text)
    assert not {"b", "i"} & set(page.tags), "a label's HTML reached the page"
    assert "a" not in page.tags, "a label's Markdown link became a link"
    per_class = [r for r in page.rows if len(r) == 6 and r[0] == HOSTILE_HEAD]
    assert [r[1] for r in per_class] == HOSTILE  # one cell each, text as written
    assert all(len(r) == 7 for r in page.rows if r and r[0] == "test")  # no AUC column
    assert "Test set, per class" in text
    assert "ROC-AUC" not in text and "Urgency:" not in text
    assert "gold set:" not in text and "SemEval" not in text


def test_card_from_the_trainers_report_of_a_model_without_urgency(tmp_path: Path) -> None:
    model = load_model(build_tiny_model(tmp_path / "model"))
    report = evaluation_report(model, pd.DataFrame(generate(60, seed=9)))
    manifest = {"name": "interaction-classifier", "version": model.version,
                "heads": model.describe()["heads"], "metrics": without_texts(report)}
    page = as_html(card.render(manifest, results_dir=tmp_path))
    labels = {r[1] for r in page.rows if len(r) == 6 and r[0] == "topic"}
    assert labels == set(model.describe()["heads"]["topic"])  # "Billing & Payments" as written
    abstain = [r for r in page.rows if len(r) == 6 and r[0] == "test"]
    assert [r[1] for r in abstain] == ["topic", "intent"]


def test_md_filter_escapes_markdown_and_html() -> None:
    assert card.md("A & B | <script>") == "A &amp; B \\| &lt;script&gt;"
    assert card.md("*x* [y](z) `c`") == "\\*x\\* \\[y\\](z) \\`c\\`"
    assert card.md("snake_case_name") == "snake_case_name"
    assert card.md("_lead and trail_") == "\\_lead and trail\\_"
    assert card.md("two\nlines") == "two lines"


def test_card_without_benchmark_results_says_so(tmp_path: Path) -> None:
    text = card.render(default_manifest(), results_dir=tmp_path / "missing")
    section = text[text.index("## Speed and memory"):text.index("## Known limitations")]
    assert "No benchmark results were recorded" in section
    assert not re.search(r"\d\s*(ms|MB|rows/s)\b", section)


def test_card_shows_recorded_benchmark_results(tmp_path: Path) -> None:
    manifest = default_manifest()
    card.record_result("predict_latency",
                       {"predict_p50_ms": 0.8764, "predict_p99_ms": 6.5,
                        "cold_start_s_median_of_3": 1.234, "rss_after_load_mb_max_of_3": 171.4,
                        "predict_batch_rows_per_s": 2345.6},
                       model_version=manifest["version"], args={"n": 7},
                       targets={"predict_p50_ms": 1.0, "predict_p99_ms": 5.0},
                       directory=tmp_path)
    card.record_result("service_memory",
                       {"after_load_rss_mb": 200.0, "calls": 300, "novel_words": 3000,
                        "baseline": {"rss_mb": 250.0}, "novel": {"rss_mb": 281.0}},
                       model_version="an-older-model", args={"n": 300}, directory=tmp_path)
    recorded = json.loads((tmp_path / "predict_latency.json").read_text())
    assert recorded["machine"]["cores"] >= 1 and recorded["date"][:4].isdigit()
    text = card.render(manifest, results_dir=tmp_path)
    rows = {r[0]: r[1:] for r in as_html(text).rows if len(r) == 4}
    assert rows["predict() p50"] == ["0.876 ms", "1 ms", "met"]
    assert rows["predict() p99"] == ["6.5 ms", "5 ms", "missed"]
    assert rows["predict_batch throughput, 1 core"] == ["2,346 rows/s", "", ""]
    assert "--n 7" in text and recorded["date"][:10] in text
    memory = text[text.index("A long-running process"):]
    assert "an-older-model" in memory and "another model" in memory
    assert "+31 MB" in memory and "3,000 never-seen words" in memory


def test_every_shipped_benchmark_result_is_a_record() -> None:
    """The card reads every file in benchmarks/results: an experiment's own JSON there
    (not written by record_result) breaks signing, so it belongs in docs/experiments."""
    results = card.read_results()
    assert results and all(r["benchmark"] == name for name, r in results.items())


def test_a_file_that_is_not_a_record_is_named(tmp_path: Path) -> None:
    (tmp_path / "experiment.json").write_text(json.dumps({"pool": 3}))
    with pytest.raises(ValueError, match=r"experiment\.json is not a benchmark record"):
        card.read_results(tmp_path)


def test_no_benchmark_figure_is_written_in_code() -> None:
    """Speed and memory figures come from the results JSON: neither the module nor its
    templates may carry a number with a unit."""
    figure = re.compile(r"\d[\d.,]*\s*(ms|MB|GB|rows/s|messages/s|s)\b")
    for path in [Path(card.__file__), *TEMPLATES.glob("*.j2")]:
        found = [m.group(0) for m in figure.finditer(path.read_text(encoding="utf-8"))]
        assert not found, f"{path.name}: {found}"


def test_write_card_is_atomic_and_matches_render(tmp_path: Path) -> None:
    manifest = retrained_manifest()
    path = card.write_card(tmp_path, manifest)
    assert path == tmp_path / "MODEL_CARD.md"
    assert path.read_text(encoding="utf-8") == card.render(manifest)
    assert [p.name for p in tmp_path.iterdir()] == ["MODEL_CARD.md"]


@pytest.mark.parametrize("pattern", ["evaluation/templates/*", "batch/templates/*"])
def test_templates_are_package_data(pattern: str) -> None:
    pyproject = (Path(card.__file__).parents[3] / "pyproject.toml").read_text()
    assert f'"{pattern}"' in pyproject
