"""The HTML report: self-contained, escaped, right for a model with and without urgency, and its
charts and priority bars really render in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import lxml.html
import pandas as pd
import pytest

from interaction_classifier.batch.report import priority_bars, render
from interaction_classifier.batch.run import ScoreOptions, run
from interaction_classifier.config import PROJECT_ROOT
from tests.helpers.tiny_model import build_tiny_model, generate

EXAMPLES = PROJECT_ROOT / "examples" / "messages.csv"
SCRIPT = "<script>alert(1)</script>"
SEVERITY = ["critical", "high", "normal", "low"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=10000", "--dump-dom"]
# Appended to a copy of the report: after load, writes what rendered into the DOM.
PROBE = """<script>
window.addEventListener('load', () => {
  const charts = [...document.querySelectorAll('img.chart')];
  const drawn = charts.filter(i => i.complete && i.naturalWidth > 0 &&
                                   i.getBoundingClientRect().width > 0);
  const bars = [...document.querySelectorAll('#priority-bars .bar')];
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({charts: charts.length, drawn: drawn.length,
    queue_rows: document.querySelectorAll('#queue tbody tr').length,
    bars: bars.map(b => [b.dataset.tier, b.getBoundingClientRect().width]),
    headings: [...document.querySelectorAll('h2')].map(h => h.textContent)});
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    """The browser binary; missing fails under CI (it is installed by .ci/run)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    message = "headless Chromium not found (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model's report on the example messages, one of them hostile markup."""
    tmp = tmp_path_factory.mktemp("report")
    frame = pd.read_csv(EXAMPLES, dtype=str)
    frame.loc[0, "text"] = f"Fraud on my card, block it now! {SCRIPT}"
    source = tmp / "messages.csv"
    frame.to_csv(source, index=False)
    path = tmp / "report.html"
    run(ScoreOptions(input=source, output=tmp / "scored.csv", id_column="ticket_id",
                     time_column="received_at", report=path, quiet=True))
    return path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A model without urgency (labels such as ``Billing & Payments``) and its input, with
    a hostile message and an empty one."""
    tmp = tmp_path_factory.mktemp("tiny")
    model = build_tiny_model(tmp / "model")
    frame = pd.DataFrame(generate(30, seed=3))[["text"]]
    frame.insert(0, "ticket_id", [f"T-{i:03d}" for i in range(len(frame))])
    frame.loc[2, "text"] = f"my invoice charge was reversed {SCRIPT}"
    frame.loc[5, "text"] = ""
    source = tmp / "in.csv"
    frame.to_csv(source, index=False)
    return model, source


def score_tiny(tiny_run: tuple[Path, Path], tmp_path: Path, queue_by: str | None = None
               ) -> tuple[dict, lxml.html.HtmlElement, str]:
    model, source = tiny_run
    path = tmp_path / "report.html"
    summary = run(ScoreOptions(input=source, output=tmp_path / "out.csv", model=model,
                               id_column="ticket_id", report=path, queue_by=queue_by,
                               review={"topic": 0.75}, quiet=True))
    page = path.read_text(encoding="utf-8")
    return summary, lxml.html.fromstring(page), page


def queue(doc: lxml.html.HtmlElement) -> tuple[list[str], list[dict[str, object]]]:
    """Header and rows of the queue table; each row's cells by header, reasons as a list."""
    header = [th.text_content() for th in doc.xpath("//table[@id='queue']//th")]
    rows = []
    for tr in doc.xpath("//table[@id='queue']/tbody/tr"):
        cells = dict(zip(header, [td.text_content() for td in tr.xpath("td")], strict=True))
        cells["reasons"] = [li.text_content() for li in tr.xpath("td[@class='reasons']//li")]
        rows.append(cells)
    return header, rows


def test_report_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page and "@import" not in page
    assert page.count('src="data:image/png;base64,') == 4


def test_default_report_escapes_text_and_shows_reasons_review_and_tiers(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    doc = lxml.html.fromstring(page)
    assert not doc.xpath("//body//script")
    header, rows = queue(doc)
    assert header[:5] == ["#", "ticket_id", "received_at", "urgency", "priority"]
    assert {"interaction_type", "journey_stage", "sentiment", "review", "reasons"} <= set(header)
    urgency = [float(r["urgency"]) for r in rows]
    assert urgency == sorted(urgency, reverse=True) and len(rows) == 50
    assert all(r["review"] in ("yes", "no") for r in rows)
    assert {"yes", "no"} == {r["review"] for r in rows}
    assert all(r["reasons"][0].startswith(f"priority {r['priority']}: urgency") for r in rows)
    flagged = [r for r in rows if r["review"] == "yes"]
    assert all(any(x.startswith("low confidence in") for x in r["reasons"]) for r in flagged)
    tiers = [b.get("data-tier") for b in doc.xpath("//div[@id='priority-bars']//div[@data-tier]")]
    assert tiers == [t for t in SEVERITY if t in tiers] and len(tiers) >= 3


def test_report_of_a_model_without_urgency(tiny_run: tuple[Path, Path], tmp_path: Path) -> None:
    summary, doc, page = score_tiny(tiny_run, tmp_path)
    headings = [h.text_content() for h in doc.xpath("//h2")]
    assert headings == ["Label distribution per head", "Top 30 of the queue"]
    assert "urgency" not in page.lower() and "priority" not in page.lower()
    assert SCRIPT not in page and "&lt;script&gt;" in page
    assert "Billing &amp; Payments" in page and "Billing & Payments" not in page
    header, rows = queue(doc)
    assert header == ["#", "ticket_id", "lowest confidence", "topic", "intent", "review",
                      "reasons", "text"]
    reviewed = [r["review"] == "yes" for r in rows[:-1]]
    assert reviewed == sorted(reviewed, reverse=True) and any(reviewed)  # flagged first
    for r in rows[:-1]:
        low = [x for x in r["reasons"] if x.startswith("low confidence in")]
        assert bool(low) == (r["review"] == "yes"), r
    assert rows[-1]["ticket_id"] == "T-005" and rows[-1]["reasons"] == [
        "not scored: empty_text"]
    assert summary["queue_by"] == "review"


def test_report_ordered_by_a_label_probability(tiny_run: tuple[Path, Path],
                                               tmp_path: Path) -> None:
    _, doc, page = score_tiny(tiny_run, tmp_path, queue_by="topic=Billing & Payments")
    header, rows = queue(doc)
    assert header[2] == "P(topic = Billing & Payments)"
    assert "P(topic = Billing &amp; Payments)" in page
    values = [float(r[header[2]]) for r in rows[:-1]]
    assert values == sorted(values, reverse=True)
    for r in rows[:-1]:
        shown = r["reasons"][0].removeprefix("P(topic = Billing & Payments) = ")
        assert float(shown) == pytest.approx(float(r[header[2]]), abs=0.006)


def test_priority_bars_in_severity_order_whatever_the_counts() -> None:
    counts = {"low": 5, "normal": 40, "critical": 2, "high": 9}
    cutoffs = {"critical": 0.8, "high": 0.5, "normal": 0.2}
    bars = priority_bars(counts, cutoffs)
    assert [b["tier"] for b in bars] == SEVERITY
    assert [b["width"] for b in bars] == [5.0, 22.5, 100.0, 12.5]
    assert bars[-1]["cutoff"] is None


def test_rows_carrying_predictor_reasons_show_them() -> None:
    top = pd.DataFrame({"text": ["card stolen"], "priority": ["critical"], "urgency": [0.9],
                        "needs_review": [False], "status": ["ok"],
                        "reasons": [["risk: card <stolen>", "dissatisfaction: complaint"]]})
    summary = {"input": "in.csv", "model_version": "v", "rows_in": 1, "rows_out": 1,
               "scored": 1, "flagged": 0, "flagged_by_reason": {}, "needs_review": 0,
               "labels": {"priority": {"critical": 1}}, "queue_by": "urgency",
               "thresholds": {"review": {}, "priority": {"critical": 0.8}}}
    stats = {"labels": {"priority": {"critical": 1}}}
    doc = lxml.html.fromstring(render(summary, stats, top, ScoreOptions(input=Path("in.csv"))))
    _, rows = queue(doc)
    assert rows[0]["reasons"] == ["priority critical: urgency 0.90 >= cut-off 0.80",
                                  "risk: card <stolen>", "dissatisfaction: complaint"]


@pytest.mark.browser
def test_report_charts_render_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")
    result = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         probe.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    found = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert found, f"no probe output; chromium said: {result.stderr[-2000:]}"
    seen = json.loads(found.group(1))
    assert seen["charts"] == seen["drawn"] == 4
    assert seen["queue_rows"] == 50
    assert seen["headings"][:5] == ["Label distribution per head", "Priority", "Urgency",
                                    "Interaction type by journey stage", "Sentiment over time"]
    tiers = [tier for tier, _ in seen["bars"]]
    assert tiers == [t for t in SEVERITY if t in tiers] and len(tiers) >= 3
    assert all(width > 0 for _, width in seen["bars"])
