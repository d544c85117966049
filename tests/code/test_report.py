"""The HTML report: self-contained, and its charts really render in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from interaction_classifier.batch.run import ScoreOptions, run
from interaction_classifier.config import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples" / "messages.csv"
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
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({charts: charts.length, drawn: drawn.length,
    queue_rows: document.querySelectorAll('tbody tr').length,
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
    tmp = tmp_path_factory.mktemp("report")
    path = tmp / "report.html"
    run(ScoreOptions(input=EXAMPLES, output=tmp / "scored.csv", id_column="ticket_id",
                     time_column="received_at", report=path, quiet=True))
    return path


def test_report_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "<link" not in page and "@import" not in page
    assert page.count('src="data:image/png;base64,') == 4


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
    assert seen["headings"][:4] == ["Label distribution per head", "Urgency",
                                    "Interaction type by journey stage", "Sentiment over time"]
