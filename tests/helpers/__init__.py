"""Builders shared by tests (import as ``tests.helpers``; the suite runs as ``python -m pytest``
from the repository root, which puts the root on ``sys.path``)."""
