"""``score --redact``: realistic personal data never reaches any output, and labels are the
ones the raw text gets.

The input mixes ordinary tickets, flagged rows (no text, a contact column holding PII) and an
unclosed quote whose raw line ends up in the quarantine; the scored file, quarantine, queue,
report, summary and the command's own output are searched for every planted value.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from tests.helpers.pii import messages

CLI = [sys.executable, "-m", "interaction_classifier.cli"]


def score(csv: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "score", str(csv), "-o", str(out), "--id-column", "id",
                           "--queue", str(out.with_name(out.stem + "-queue.csv")),
                           "--report", str(out.with_name(out.stem + ".html")), *extra],
                          capture_output=True, text=True, timeout=600, check=False)


def test_no_planted_value_reaches_any_output(tmp_path: Path) -> None:
    generated = messages(40, seed=3)
    rows = [{"id": f"T{i}", "text": text, "contact": "reach me: ann.lee@example.org"}
            for i, (text, _) in enumerate(generated)]
    rows.append({"id": "T-empty", "text": "", "contact": "+44 7400 123456"})
    secrets = {value for _, values in generated for label, value in values if label != "NEAR"}
    secrets |= {"ann.lee@example.org", "+44 7400 123456"}
    csv = tmp_path / "tickets.csv"
    frame = pd.DataFrame(rows)
    text = frame.to_csv(index=False)
    broken = 'T-broken,"my card 4111 1111 1111 1111 was stolen,reach me: bo@example.net\n'
    csv.write_text(text + broken)  # an unclosed quote running to the end of the file
    secrets |= {"4111 1111 1111 1111", "bo@example.net"}

    raw = score(csv, tmp_path / "raw.csv")
    masked = score(csv, tmp_path / "masked.csv", "--redact", "--redact-column", "contact")
    assert raw.returncode == 0 and masked.returncode == 0, masked.stderr

    written = [p for p in tmp_path.iterdir() if p.name.startswith("masked") and p.is_file()]
    assert {p.suffix for p in written} >= {".csv", ".html", ".json"}
    for path in written:
        body = path.read_text(encoding="utf-8")
        leaked = [s for s in secrets if s in body]
        assert not leaked, (path.name, leaked)
    assert not [s for s in secrets if s in masked.stdout + masked.stderr]
    # the raw run does hold them: the check above can fail
    assert any(s in (tmp_path / "raw.csv").read_text() for s in secrets)

    before = pd.read_csv(tmp_path / "raw.csv", dtype=str, keep_default_na=False)
    after = pd.read_csv(tmp_path / "masked.csv", dtype=str, keep_default_na=False)
    labels = [c for c in before.columns if c not in ("text", "contact")]
    pd.testing.assert_frame_equal(before[labels], after[labels])
    assert after["text"].str.contains("<CARD>|<PHONE>|<EMAIL>|<IBAN>").any()
    assert after["contact"].head(len(generated)).eq("reach me: <EMAIL>").all()


def test_a_bad_redaction_pattern_is_a_usage_error(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    pd.DataFrame({"id": ["a"], "text": ["order #1234567 late"]}).to_csv(csv, index=False)
    result = score(csv, tmp_path / "o.csv", "--redact-pattern", "ORDER=(#\\d+")
    assert result.returncode == 2
    assert "--redact-pattern" in result.stderr + result.stdout
