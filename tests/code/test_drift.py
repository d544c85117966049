"""Drift: PSI, chi-square and rate verdicts; a real shift is flagged, a random split is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from interaction_classifier.batch.report import render_drift
from interaction_classifier.cli.main import app
from interaction_classifier.loop.drift import compare, psi, summarise, verdict
from tests.helpers.tiny_model import VOCABULARY, build_tiny_model, generate


def test_psi_is_zero_for_equal_shares_and_grows_with_the_shift() -> None:
    assert psi([50, 30, 20], [500, 300, 200]) == 0.0
    small, large = psi([55, 28, 17], [50, 30, 20]), psi([90, 5, 5], [50, 30, 20])
    assert 0 < small < 0.1 <= 0.25 <= large
    assert [verdict(v, (0.1, 0.25)) for v in (0.05, 0.1, 0.3, None)] == [
        "stable", "watch", "act", "n/a"]


def tiny_scored(n: int, seed: int, topic_weights: list[float] | None = None) -> pd.DataFrame:
    """A scored table of the tiny model's heads with a chosen topic mix."""
    rng = np.random.default_rng(seed)
    labels = list(VOCABULARY["topic"])
    topics = rng.choice(labels, size=n, p=topic_weights)
    p = np.full((n, len(labels)), 0.1)
    p[np.arange(n), [labels.index(t) for t in topics]] = 0.8
    frame = pd.DataFrame({"text": [r["text"] for r in generate(n, seed)], "topic": topics,
                          **{f"p_topic__{lab}": p[:, j] for j, lab in enumerate(labels)},
                          "language": "en", "needs_review": rng.random(n) < 0.1})
    return frame


def test_a_changed_label_mix_is_act_and_the_same_mix_is_stable() -> None:
    reference = summarise(tiny_scored(600, 1))
    same = compare(summarise(tiny_scored(600, 2)), reference)
    shifted = compare(summarise(tiny_scored(600, 3, [0.9, 0.05, 0.05])), reference)
    assert same["heads"]["topic"]["labels"]["verdict"] == "stable"
    assert same["overall"] == "stable"
    assert shifted["heads"]["topic"]["labels"]["verdict"] == "act"
    assert shifted["heads"]["topic"]["labels"]["chi2_p"] < 1e-6
    assert shifted["overall"] == "act"


def test_rate_changes_within_sampling_noise_are_stable() -> None:
    small = tiny_scored(40, 1).assign(needs_review=[True] * 8 + [False] * 32)
    ref = tiny_scored(40, 2).assign(needs_review=[True] * 4 + [False] * 36)
    rates = compare(summarise(small), summarise(ref))["rates"]
    assert rates["needs_review_rate"]["change"] == 0.1
    assert rates["needs_review_rate"]["verdict"] == "stable"  # 8 vs 4 of 40: noise
    big = compare(summarise(pd.concat([small] * 50)), summarise(pd.concat([ref] * 50)))
    assert big["rates"]["needs_review_rate"]["verdict"] == "act"


def test_drift_cli_against_a_reference_file_and_html(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "model")
    current, reference = tmp_path / "now.csv", tmp_path / "ref.csv"
    tiny_scored(300, 3, [0.9, 0.05, 0.05]).to_csv(current, index=False)
    tiny_scored(300, 1).to_csv(reference, index=False)
    html = tmp_path / "drift.html"
    result = CliRunner().invoke(app, ["drift", str(current), "--reference", str(reference),
                                      "--model", str(model), "--json", "--html", str(html)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["heads"]["topic"]["labels"]["verdict"] == "act"
    assert 0 <= report["rates"]["oov_rate"]["current"] <= 1
    page = html.read_text()
    assert 'id="drift-table"' in page and "label distribution" in page
    assert render_drift("x <b>", report).count("x &lt;b&gt;") == 2  # autoescaped title


def test_training_reference_missing_is_a_clear_error(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "model")
    scored = tmp_path / "now.csv"
    tiny_scored(50, 1).to_csv(scored, index=False)
    result = CliRunner().invoke(app, ["drift", str(scored), "--model", str(model)])
    assert result.exit_code == 2 and "reference.json" in result.output


def scored_texts(texts: list[str]) -> pd.DataFrame:
    """The shipped model's scored table of ``texts`` (what `score` writes, text included)."""
    from interaction_classifier import predict_batch

    return predict_batch(texts).assign(text=texts)


@pytest.mark.slow
def test_card_questions_against_tweets_act_and_a_random_split_stays_quiet(shared_data) -> None:
    from interaction_classifier import load_model
    from interaction_classifier.data.loaders import load

    tweets = load("twcs")
    tweets = tweets[tweets["inbound"].astype(str).str.lower() == "true"]
    tweets = tweets.sample(n=800, random_state=7)["text"].tolist()
    cards = load("banking77")
    cards = cards[cards["category"].str.contains("card")].sample(n=400, random_state=7)
    model = load_model().model

    def profile(texts: list[str]) -> dict:
        return summarise(scored_texts(texts), model.oov_rate(texts))

    first, second = profile(tweets[:400]), profile(tweets[400:])
    quiet = compare(second, first)
    shifted = compare(profile(cards["text"].tolist()), first)
    assert quiet["overall"] == "stable", quiet
    assert shifted["overall"] == "act"
    acted = {h for h, m in shifted["heads"].items() if m["labels"]["verdict"] == "act"}
    assert acted & {"interaction_type", "sentiment", "journey_stage"}, shifted["heads"]


def test_score_report_gets_the_drift_section_when_a_reference_is_given(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "model")
    runner = CliRunner()
    for name, seed in (("ref", 1), ("now", 2)):
        pd.DataFrame(generate(80, seed))[["text"]].to_csv(tmp_path / f"{name}.csv", index=False)
    base = ["score", "--model", str(model), "--quiet"]
    result = runner.invoke(app, [*base, str(tmp_path / "ref.csv"), "-o",
                                 str(tmp_path / "ref.scored.csv")])
    assert result.exit_code == 0, result.output
    report = tmp_path / "report.html"
    result = runner.invoke(app, [*base, str(tmp_path / "now.csv"), "--report", str(report),
                                 "--drift-reference", str(tmp_path / "ref.scored.csv")])
    assert result.exit_code == 0, result.output
    page = report.read_text()
    assert 'id="drift-table"' in page and "ref.scored.csv" in page
    result = runner.invoke(app, [*base, str(tmp_path / "now.csv"), "-o", str(tmp_path / "x.csv"),
                                 "--drift-reference", "training"])
    assert result.exit_code == 2 and "--report" in result.output


def test_oov_rate_reads_the_word_block_s_terms_as_the_spacy_reference_does() -> None:
    # The batch tokenizer's terms, checked against the spaCy reference pipeline's normalised
    # text on the shipped example tickets plus words no model has seen.
    from interaction_classifier import load_model
    from interaction_classifier.config import PROJECT_ROOT
    from interaction_classifier.text.pipeline import prepare_many

    model = load_model().model
    texts = [*pd.read_csv(PROJECT_ROOT / "examples" / "messages.csv")["text"], "zzqxj blorfle!"]
    normalised, _ = prepare_many(texts, model.featurizer.mark_negation)
    tokens = [token for text in normalised for token in text.split()]
    expected = np.mean([t not in model.featurizer.word.vocabulary for t in tokens])
    assert 0 < expected < 0.5
    assert model.oov_rate(texts) == pytest.approx(expected, abs=1e-12)
    assert model.oov_rate(["zzqxj blorfle"]) == 1.0 and model.oov_rate([]) == 0.0
