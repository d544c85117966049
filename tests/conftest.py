"""Shared fixtures and the test tiers.

Data-dependent tests fail (never skip) when CI=true and data is missing. Markers are applied
here, so a test file needs no decorator: ``spark`` (starts Spark), ``browser`` (drives
Chromium), ``needs_data`` (reads ../shared through ``shared_data`` or ``require()``), ``slow``
(trains models, runs notebooks, scores big files; see ``SLOW``). ``pytest -m "not slow"`` is the
developer's fast tier; the plain ``pytest`` of the README and ``.ci/run`` runs everything.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest

from interaction_classifier.data.registry import DataError, resolve

FIXTURES = Path(__file__).parent / "data" / "fixtures"

# Tests that take more than ~15 s here (pytest --durations on this 2-core machine): node id
# prefixes relative to tests/, and fixtures that make every test using them slow.
SLOW = (
    "code/test_batch.py::test_sigkill_then_resume_gives_every_row_exactly_once",  # 35 s
    "code/test_spark.py::test_parquet_parity_with_bad_rows",  # 28 s
    "code/test_spark.py::test_directory_of_parts",  # 13 s
    "model/test_notebook.py",  # executes the retraining notebook
    "model/test_retrain.py::test_banking77_reaches_its_bar_through_the_cli",  # 59 s
    "model/test_retrain.py::test_compare_a_default_model_run_with_a_retrained_one",  # 46 s
    "model/test_retrain.py::test_search_within_budget_writes_a_repeatable_choice",  # 21 s
    "model/test_quality.py::test_semeval_heldout_beats_vader",  # 18 s
    "model/test_accurate.py::test_semeval_heldout_floor",  # 20,526 texts through the encoder
    "model/test_accurate_training.py",  # fits the accurate profile twice (~550 rows), ~20 s
    "e2e/",  # user journeys: retrain BANKING77, score, Spark
)
# data/test_corpus.py builds the corpus (50 s); model/test_reproducible.py retrains the default
# model (its same-machine test on ~1,100 written rows, 12 s, stays in the fast tier).
SLOW_FIXTURES = frozenset({"built", "retrained"})
SPARK_FILES = ("code/test_spark.py",)
BROWSER_NAMES = frozenset({"chromium", "browser", "sync_playwright", "playwright"})


TEST_KEYS = "ic-test-keys-"


def pytest_configure(config: pytest.Config) -> None:
    """A signing key of the test session's own, trusted in it: models the tests train or
    build are signed with it and load without ``trust_unsigned`` (child processes, the CLI
    and notebooks included, inherit the environment). The user's own keys are never read."""
    from interaction_classifier.models import signing

    if Path(os.environ.get(signing.ENV_HOME, "/")).name.startswith(TEST_KEYS):
        return  # a nested pytest (or xdist worker) keeps its parent's session key
    home = Path(tempfile.mkdtemp(prefix=TEST_KEYS))
    config.add_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))
    os.environ[signing.ENV_HOME] = str(home)
    os.environ.pop(signing.ENV_SIGNING_KEY, None)
    os.environ.pop(signing.ENV_TRUSTED_KEYS, None)
    signing.trust_key(signing.generate_key(signing.default_key_path()).public_key())


def require(name: str, key: str) -> None:
    """Skip locally, fail under CI, when a registered file cannot be found."""
    try:
        resolve(name, key, download=False)
    except DataError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and required data is missing: {exc}")
        pytest.skip(f"data missing: {exc}")


@pytest.fixture(scope="session")
def shared_data() -> None:
    """Every registered dataset must be present (CI runs with ../shared beside the repo)."""
    from interaction_classifier.data.registry import registry

    for name, ds in registry().items():
        for key in ds.files:
            require(name, key)


@pytest.fixture(scope="session")
def messages() -> list[str]:
    """1,500 customer-style messages the tests own: the hand-written ones in
    data/fixtures/messages.txt, the worked pattern examples, and seeded recombinations of them
    (for parity tests that must never depend on ../shared)."""
    written = (FIXTURES / "messages.txt").read_text(encoding="utf-8").splitlines()
    examples = [json.loads(line)["text"] for line in
                (FIXTURES / "pattern_examples.jsonl").read_text(encoding="utf-8").splitlines()
                if line.strip()]
    base = list(dict.fromkeys(t for t in written + examples if t.strip()))
    rng = random.Random(18)
    texts = list(base)
    while len(texts) < 1500:
        texts.append(_recombine(rng, base))
    return texts


def _recombine(rng: random.Random, base: list[str]) -> str:
    """Two or three messages joined the way people write, sometimes re-cased or signed."""
    parts = rng.sample(base, rng.randint(2, 3))
    text = rng.choice([" ", "\n\n", " - ", "... "]).join(parts)
    shape = rng.random()
    if shape < 0.15:
        text = text.lower()
    elif shape < 0.2:
        text = text.upper()
    extras = ["", "", f" Order #{rng.randint(1000, 99999)}.", " 😡", " :)",
              "\nSent from my phone", f" See https://example.com/o/{rng.randint(1, 999)}"]
    greeting = rng.choice(["", "", "Hi, ", "hello team ", "Dear Sir/Madam, "])
    return greeting + text + rng.choice(extras)


# ---- markers ---------------------------------------------------------------------------------

def _calls_require(item: pytest.Item) -> bool:
    """True when the test function's body calls ``require(...)``."""
    function = getattr(item, "function", None)
    code = getattr(function, "__code__", None)
    return code is not None and "require" in code.co_names


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every collected test with its tier, from where it lives and what it uses."""
    root = Path(__file__).parent
    for item in items:
        rel = Path(str(item.path)).relative_to(root).as_posix()
        node = rel + item.nodeid.partition(".py")[2]
        fixtures = set(getattr(item, "fixturenames", ()))
        if rel in SPARK_FILES or "spark" in fixtures:
            item.add_marker(pytest.mark.spark)
        if _uses_browser(item):
            item.add_marker(pytest.mark.browser)
        if "shared_data" in fixtures or _calls_require(item):
            item.add_marker(pytest.mark.needs_data)
        if any(node.startswith(prefix) for prefix in SLOW) or fixtures & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


def _uses_browser(item: pytest.Item) -> bool:
    """A test drives Chromium when its body or one of its fixtures names it."""
    function = getattr(item, "function", None)
    code = getattr(function, "__code__", None)
    names = {n.lower() for n in (code.co_names + code.co_varnames if code else ())}
    names |= {n.lower() for n in getattr(item, "fixturenames", ())}
    return bool(names & BROWSER_NAMES)
