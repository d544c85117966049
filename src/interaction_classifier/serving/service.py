"""What the HTTP service does with a model: load it once, score items, swap it whole.

``ModelHolder`` loads the worker's model in a thread after start-up, so ``/healthz`` answers at
once and ``/readyz`` says 503 until the model is loaded, checksum-verified (``load_model``)
and has answered a probe message; a request that arrives meanwhile waits for it (up to its
timeout) instead of failing. A reload builds and verifies the new model beside the old one
and replaces it in one assignment, so a request is scored wholly by one model or the other,
and a model that fails leaves the old one serving.

``score_values`` validates every item with the validator every entry point shares
(``text.validate.text_status``) and sends
only valid texts to the model (``Predictor.predict_many``, one vectorised call, each result
``predict()``'s dict); the others get a flagged result with that status.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from interaction_classifier.data.registry import sha256_of
from interaction_classifier.models.artifact import MANIFEST
from interaction_classifier.serving.logs import service_log
from interaction_classifier.serving.predictor import Overrides, Predictor, load_model
from interaction_classifier.text.validate import OK, REASONS, as_text, text_status

PROBE = "Where is my parcel? It was due yesterday."
MAX_LOGGED_IDS = 100
T = TypeVar("T")


class NotReady(RuntimeError):
    """No model to score with yet (still loading, or the first load failed)."""


class RequestTimeout(RuntimeError):
    """The work of one request took longer than the request timeout."""


@dataclass(frozen=True)
class Loaded:
    """A verified model with what ``/v1/model`` reports about it."""

    predictor: Predictor
    manifest_sha256: str
    loaded_at: str


def load_verified(source: str | None, loader: Callable[[str | None], Predictor] = load_model
                  ) -> Loaded:
    """Load (checksums verified by ``load_model``) and answer one probe message: a model that
    cannot predict is refused here, before it serves anything."""
    predictor = loader(source)
    predictor.predict(PROBE)
    return Loaded(predictor, sha256_of(Path(predictor.path) / MANIFEST),
                  dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))


class ModelHolder:
    """The worker's one model (see the module docstring).

    The first load is a ``concurrent.futures`` future, not an asyncio one, so that any event
    loop can wait for it (a test client may run each request in a loop of its own).
    """

    def __init__(self, source: str | None, executor: Executor,
                 loader: Callable[[str | None], Predictor] = load_model) -> None:
        self.source = source
        self.executor = executor
        self.loader = loader
        self.current: Loaded | None = None
        self.error: str | None = None
        self._first: Future | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Begin the first load in a worker thread, once (later calls do nothing)."""
        with self._start_lock:
            if self._first is None:
                self._first = self.executor.submit(load_verified, self.source, self.loader)
                self._first.add_done_callback(self._installed)

    def _installed(self, future: Future) -> None:
        exc = None if future.cancelled() else future.exception()
        if future.cancelled() or exc is not None:
            self.error = f"{type(exc).__name__}: {exc}" if exc else "loading was cancelled"
            service_log.error("model load failed", extra={
                "error_type": type(exc).__name__ if exc else "Cancelled",
                "detail": str(exc) if exc else ""})
            return
        if self.current is None:  # a reload that finished first wins
            self.current = future.result()
            service_log.info("model ready", extra={
                "model_version": self.current.predictor.version,
                "manifest_sha256": self.current.manifest_sha256})

    async def ready(self, timeout: float) -> Loaded:
        """The current model, waiting up to ``timeout`` s for the first load to finish."""
        if self.current is not None:
            return self.current
        self.start()
        assert self._first is not None
        if not self._first.done():
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._first)),
                                       timeout)
            except TimeoutError:
                raise NotReady("the model is still loading; retry shortly") from None
            except Exception:  # the failure is in self.error, reported below
                pass
        if self.current is None:
            raise NotReady(f"the model failed to load: {self.error}")
        return self.current

    async def reload(self, source: str | None, timeout: float) -> tuple[Loaded | None, Loaded]:
        """Load and verify ``source`` (default: this worker's own), then swap; returns the old
        and the new model. Any failure raises and leaves the old model in place (callers
        run one reload at a time)."""
        target = self.source if source is None else source
        new = await run_in(self.executor, timeout, load_verified, target, self.loader)
        old, self.current, self.source = self.current, new, target
        self.error = None
        service_log.info("model reloaded", extra={
            "previous_version": old.predictor.version if old else None,
            "model_version": new.predictor.version, "manifest_sha256": new.manifest_sha256})
        return old, new


async def run_in(executor: Executor, timeout: float, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread, given up after ``timeout`` s (``RequestTimeout``).

    A thread cannot be stopped: work that has started runs to its end in the background, and
    only its answer is dropped; work still queued is cancelled.
    """
    future = asyncio.get_running_loop().run_in_executor(executor, fn, *args)
    try:
        return await asyncio.wait_for(future, timeout)
    except TimeoutError:
        raise RequestTimeout(f"no answer within the request timeout of {timeout:g} s") from None


def flagged(predictor: Predictor, status: str) -> dict[str, Any]:
    """The result of an item that is not scored: null labels, review, and why."""
    result: dict[str, Any] = dict.fromkeys(predictor.output_columns)
    result.update(needs_review=True, probabilities=None, confidence=None,
                  reasons=[REASONS[status]], model_version=predictor.version,
                  status=status)
    return result


def checked_scorer(predictor: Predictor, review: Overrides, priority: Overrides) -> Predictor:
    """The predictor with a call's thresholds, refused (``ValueError``) before any work when
    a head, tier or value is unknown or out of range."""
    return predictor.with_thresholds(review, priority) if review or priority else predictor


def score_values(scorer: Predictor, values: Sequence[Any]) -> list[dict[str, Any]]:
    """One result per value, in order: ``predict()``'s dict plus ``status: ok`` for valid
    text, a flagged result for anything else."""
    statuses = [text_status(v) for v in values]
    scored = iter(scorer.predict_many([as_text(v) for v, s in zip(values, statuses, strict=True)
                                       if s == OK]))
    return [{**next(scored), "status": OK} if s == OK else flagged(scorer, s)
            for s in statuses]


def summary(values: Sequence[Any], results: Sequence[dict[str, Any]], heads: Sequence[str],
            ids: Sequence[Any] | None = None) -> dict[str, Any]:
    """What the access log says about a predict request: counts, lengths, labels, statuses,
    flagged ids; never the text itself."""
    lengths = [len(v) for v in values if isinstance(v, str)]
    out: dict[str, Any] = {
        "items": len(values), "text_chars_total": sum(lengths),
        "text_chars_max": max(lengths, default=0),
        "statuses": dict(Counter(r["status"] for r in results)),
        "needs_review": sum(bool(r["needs_review"]) for r in results),
        "labels": {h: dict(Counter(r[h] for r in results if r["status"] == OK))
                   for h in heads}}
    if ids is not None:
        bad = [i for i, r in zip(ids, results, strict=True) if r["status"] != OK]
        out["flagged_ids"] = bad[:MAX_LOGGED_IDS]
    return out
