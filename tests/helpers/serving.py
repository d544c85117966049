"""Helpers for the HTTP service tests: result comparison with ``predict()``, a free loopback
port, and the real server started through the CLI (``running``)."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

CLI = [sys.executable, "-m", "interaction_classifier.cli"]
EMAIL, CARD = "jane.doe@example.org", "4111 1111 1111 1111"
SECRET_TEXT = f"My card {CARD} was charged twice, write to {EMAIL} today!"


def assert_same(served: dict[str, Any], expected: dict[str, Any]) -> None:
    """Exact labels, reasons and flags; every score and probability within 1e-9."""
    assert set(served) - {"status", "id"} == set(expected)
    for key, value in expected.items():
        if key in ("probabilities", "confidence"):
            flat = _flat(value)
            got = _flat(served[key])
            assert got.keys() == flat.keys(), key
            assert all(abs(got[k] - flat[k]) <= 1e-9 for k in flat), key
        elif isinstance(value, float):
            assert math.isclose(served[key], value, rel_tol=0, abs_tol=1e-9), key
        else:
            assert served[key] == value, key


def _flat(tree: dict) -> dict[tuple[str, str], float]:
    return {(h, k): v for h, d in tree.items()
            for k, v in (d.items() if isinstance(d, dict) else [("", d)])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(command: list[str], log: Path, env: dict[str, str] | None = None,
            ready: str = "/readyz", port: int | None = None, wait: float = 180.0
            ) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start ``command`` (a server listening on ``port``) in its own process group, wait
    until ``ready`` answers 200, yield the process and its base URL; stop it afterwards
    (SIGTERM; 30 s later SIGKILL to whatever is left of its process group)."""
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        deadline = time.monotonic() + wait
        while True:
            assert proc.poll() is None, f"server exited {proc.returncode}:\n{log.read_text()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + ready, timeout=5).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"not ready in {wait} s:\n{log.read_text()}"
            time.sleep(0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        with contextlib.suppress(ProcessLookupError):  # the group it started, nothing else
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
