"""Prometheus metrics of the HTTP service (``GET /metrics``), with the official client.

Requests and latencies per endpoint, method and status; items scored per status; predictions
per head and label; items flagged for review. Label values come from the route template and
the model's own labels, never from a request, so a scanner cannot blow up the series count
and no message text can reach a metric.

With several uvicorn workers, each worker is a process with its own counters: ``serve``
then points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start, the
client writes every worker's values there, and ``/metrics`` (whichever worker answers) sums
them. Without that variable the page shows the answering worker's own counters.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "interaction_classifier_"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """One app's metrics, in a registry of its own (several apps can live in one process,
    as in the tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            f"{PREFIX}http_requests", "HTTP requests answered, by endpoint, method and status.",
            ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            f"{PREFIX}http_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["endpoint", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.items = Counter(
            f"{PREFIX}items", "Messages received in predict requests, by status (ok: scored).",
            ["status"], registry=self.registry)
        self.predictions = Counter(
            f"{PREFIX}predictions", "Labels predicted for scored messages, by head and label.",
            ["head", "label"], registry=self.registry)
        self.needs_review = Counter(
            f"{PREFIX}needs_review", "Scored messages flagged for review (divide by "
            f"{PREFIX}items_total{{status=\"ok\"}} for the rate).", registry=self.registry)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        labels = (endpoint, method, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_results(self, results: Iterable[dict], heads: Iterable[str]) -> None:
        """Count statuses, labels and review flags of one request's results."""
        heads = list(heads)
        statuses: Tally[str] = Tally()
        labels: Tally[tuple[str, str]] = Tally()
        review = 0
        for result in results:
            statuses[result["status"]] += 1
            if result["status"] == "ok":
                labels.update((h, str(result[h])) for h in heads)
                review += bool(result["needs_review"])
        for status, n in statuses.items():
            self.items.labels(status).inc(n)
        for (head, label), n in labels.items():
            self.predictions.labels(head, label).inc(n)
        if review:
            self.needs_review.inc(review)

    def exposition(self) -> bytes:
        """The Prometheus text page: all workers' sums in multiprocess mode, else ours."""
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
