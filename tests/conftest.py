"""Shared fixtures. Data-dependent tests fail (never skip) when CI=true and data is missing."""

from __future__ import annotations

import os

import pytest

from interaction_classifier.data.registry import DataError, resolve


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
