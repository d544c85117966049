"""The HTTP service (FastAPI): ``create_app`` builds it, ``app_from_env`` is each worker's entry.

Routes: ``POST /v1/predict`` and ``POST /v1/predict/batch`` (``predict()``'s dict per message,
bad items flagged with the batch scorer's statuses), ``GET /v1/model``, ``GET /healthz``,
``GET /readyz``, ``GET /metrics``, and ``POST /v1/admin/reload`` only when an admin token is
set. Every error is a JSON ``{"error", "message"}`` with a stable code (``docs/serving.md``
lists them). Model work runs in a small thread pool so the event loop keeps answering
health checks, and each request has a deadline (504 past it). Responses are ASCII JSON, so an
id holding a lone surrogate is escaped rather than crashing the encoder.
"""

from __future__ import annotations

import hmac
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Discriminator, Tag
from starlette.exceptions import HTTPException
from starlette.responses import Response

from interaction_classifier.serving.logs import service_log
from interaction_classifier.serving.metrics import CONTENT_TYPE, Metrics
from interaction_classifier.serving.middleware import (
    AsciiJSONResponse,
    BodyGuard,
    RequestObserver,
    error_response,
)
from interaction_classifier.serving.predictor import Overrides, Predictor, load_model
from interaction_classifier.serving.schemas import (
    BatchResponse,
    ErrorResponse,
    Health,
    ItemsBatch,
    ModelInfo,
    Prediction,
    PredictRequest,
    Ready,
    ReloadRequest,
    ReloadResponse,
    TextsBatch,
)
from interaction_classifier.serving.service import (
    ModelHolder,
    NotReady,
    RequestTimeout,
    checked_scorer,
    run_in,
    score_values,
    summary,
)
from interaction_classifier.serving.settings import ServeSettings

ERROR_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 422: "invalid_request", 503: "not_ready",
               504: "timeout"}
API_VERSION = "1"  # of the /v1 API (docs/openapi.json), not of the package
RELOAD_TIMEOUT = 300.0  # an MLflow URI may have to be downloaded first


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorResponse, "description": ERROR_CODES[code]} for code in codes}


PREDICT_ERRORS = _errors(400, 401, 413, 415, 422, 503, 504)


def _batch_kind(body: Any) -> str:
    return "items" if isinstance(body, dict) and "items" in body else "texts"


BatchRequest = Annotated[Annotated[TextsBatch, Tag("texts")] | Annotated[ItemsBatch, Tag("items")],
                         Discriminator(_batch_kind)]


def _token_check(expected: str | None, scheme: HTTPBearer):
    """A dependency that refuses (401) a request without ``Bearer <expected>``; a no-op when
    no token is configured. Compared in constant time."""

    # A default, not Annotated: FastAPI resolves annotations in the module's globals, where
    # this closure's ``scheme`` is not.
    async def check(credentials: HTTPAuthorizationCredentials | None = Security(scheme)  # noqa: B008
                    ) -> None:
        if expected is None:
            return
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, expected.encode()):
            raise HTTPException(401, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    return check


def create_app(settings: ServeSettings | None = None, *,
               loader: Callable[[str | None], Predictor] = load_model) -> FastAPI:
    """The service for one worker; ``loader`` stands for ``load_model`` (tests)."""
    settings = settings or ServeSettings()
    executor = ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="model")
    holder = ModelHolder(settings.model, executor, loader)
    metrics = Metrics()
    reloading = threading.Lock()
    timeout = settings.request_timeout

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The pool outlives a lifespan: an app can be started again (as a test client does),
        # and its idle threads end with the process.
        holder.start()
        yield

    app = FastAPI(title="interaction-classifier", version=API_VERSION, lifespan=lifespan,
        docs_url=None, redoc_url=None, default_response_class=AsciiJSONResponse,
        description="Interaction type, journey stage, sentiment and urgency for customer "
        "messages, over HTTP. See docs/serving.md. Bearer auth applies to /v1 routes only "
        "when the server sets INTERACTION_CLASSIFIER_API_TOKEN.")
    app.state.holder, app.state.metrics, app.state.settings = holder, metrics, settings
    bearer = HTTPBearer(auto_error=False, description="Required only when the server sets "
                        "INTERACTION_CLASSIFIER_API_TOKEN.")
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(_token_check(settings.api_token,
                                                                    bearer))])

    async def ready_model(deadline: float) -> Predictor:
        return (await holder.ready(max(deadline - time.monotonic(), 0.001))).predictor

    async def scored(request: Request, predictor: Predictor, values: list[Any],
                     review: Overrides, priority: Overrides, deadline: float,
                     ids: list[Any] | None = None) -> list[dict[str, Any]]:
        try:
            scorer = checked_scorer(predictor, review, priority)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        results = await run_in(executor, max(deadline - time.monotonic(), 0.001),
                               score_values, scorer, values)
        request.state.log.update(summary(values, results, predictor.heads, ids))
        metrics.observe_results(results, predictor.heads)
        return results

    @v1.post("/predict", response_model=None, summary="Classify one message",
             responses={200: {"model": Prediction}, **PREDICT_ERRORS})
    async def predict(body: PredictRequest, request: Request) -> Response:
        """``predict()``'s dict for the text plus ``status``; a null, non-string, empty or
        over-long text comes back flagged (200), not scored."""
        deadline = time.monotonic() + timeout
        predictor = await ready_model(deadline)
        results = await scored(request, predictor, [body.text], body.review, body.priority,
                               deadline)
        return AsciiJSONResponse(results[0])

    @v1.post("/predict/batch", response_model=None, summary="Classify many messages",
             responses={200: {"model": BatchResponse}, **PREDICT_ERRORS})
    async def predict_batch(body: Annotated[BatchRequest, Body()], request: Request
                            ) -> Response:
        """One result per input, in order, each with the item's ``id`` (null for
        ``texts``); bad items are flagged with a status, never scored."""
        deadline = time.monotonic() + timeout
        if isinstance(body, ItemsBatch):
            values, ids = [i.text for i in body.items], [i.id for i in body.items]
        else:
            values, ids = list(body.texts), [None] * len(body.texts)
        if len(values) > settings.max_batch_items:
            raise HTTPException(413, f"{len(values):,} items; at most "
                                f"{settings.max_batch_items:,} per request")
        predictor = await ready_model(deadline)
        results = await scored(request, predictor, values, body.review, body.priority,
                               deadline, ids if isinstance(body, ItemsBatch) else None)
        return AsciiJSONResponse({"model_version": predictor.version, "results": [
            {**r, "id": i} for r, i in zip(results, ids, strict=True)]})

    @v1.get("/model", response_model=ModelInfo, summary="The model being served",
            responses=_errors(401, 503))
    async def model_info() -> dict[str, Any]:
        """Version, heads and labels, capabilities, default thresholds, output columns,
        manifest digest and the limits in force."""
        loaded = await holder.ready(timeout)
        predictor = loaded.predictor
        return {**predictor.describe(), "output_columns": predictor.output_columns,
                "manifest_sha256": loaded.manifest_sha256, "loaded_at": loaded.loaded_at,
                "limits": {"max_chars": predictor.max_chars, **settings.limits()}}

    if settings.admin_token:
        admin = _token_check(settings.admin_token, bearer)

        @app.post("/v1/admin/reload", response_model=ReloadResponse, dependencies=[
            Depends(admin)], summary="Load, verify and swap in a model (this worker)",
            responses=_errors(400, 401, 409, 415, 422))
        async def reload(body: Annotated[ReloadRequest | None, Body()] = None
                         ) -> dict[str, Any]:
            """The new model is loaded beside the old one, checksum-verified and probed; only
            then does it replace the old one. Any failure leaves the old model serving."""
            if not reloading.acquire(blocking=False):
                raise HTTPException(409, "a reload is already running")
            try:
                old, new = await holder.reload(body.model if body else None,
                                               max(timeout, RELOAD_TIMEOUT))
            except Exception as exc:  # any reason the new model is unusable: keep the old
                service_log.warning("reload refused", extra={
                    "error_type": type(exc).__name__, "detail": str(exc)})
                raise HTTPException(422, f"model not loaded, the old one keeps serving: "
                                    f"{type(exc).__name__}: {exc}") from None
            finally:
                reloading.release()
            return {"status": "reloaded", "pid": os.getpid(),
                    "previous_version": old.predictor.version if old else None,
                    "model_version": new.predictor.version,
                    "manifest_sha256": new.manifest_sha256}

    app.include_router(v1)

    @app.get("/healthz", response_model=Health, summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=Ready, summary="The model is loaded and verified",
             responses=_errors(503))
    async def readyz() -> dict[str, str]:
        holder.start()
        if holder.current is None:
            raise NotReady(f"the model failed to load: {holder.error}" if holder.error
                           else "the model is still loading")
        return {"status": "ready", "model_version": holder.current.predictor.version}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response, responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    async def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    _handle_errors(app)
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RequestObserver, metrics=metrics,
                       paths=frozenset(app.openapi()["paths"]))
    return app


def _handle_errors(app: FastAPI) -> None:
    """Every error as ``{"error", "message"}`` (422 adds ``problems``, never the input)."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = ERROR_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail),
                              dict(exc.headers) if exc.headers else None)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [{"loc": [str(p) if not isinstance(p, int) else p for p in e["loc"]],
                     "msg": e["msg"] + (f": {e['ctx']['error']}" if e["type"] == "json_invalid"
                                        else ""), "type": e["type"]} for e in exc.errors()]
        return AsciiJSONResponse({"error": "invalid_request", "message": "the request does "
                                  "not match the API: " + "; ".join(
                                      f"{'.'.join(map(str, p['loc']))}: {p['msg']}"
                                      for p in problems[:5]), "problems": problems},
                                 status_code=422)

    @app.exception_handler(NotReady)
    async def not_ready(request: Request, exc: NotReady) -> Response:
        return error_response(503, "not_ready", str(exc), {"Retry-After": "2"})

    @app.exception_handler(RequestTimeout)
    async def timed_out(request: Request, exc: RequestTimeout) -> Response:
        return error_response(504, "timeout", str(exc))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        service_log.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error; see the server log")


def openapi_json() -> str:
    """The OpenAPI document of the default service (no tokens set, so no admin route), as
    committed in ``docs/openapi.json``: ``interaction-classifier serve --openapi``."""
    import json

    return json.dumps(create_app(ServeSettings()).openapi(), indent=2) + "\n"


def app_from_env() -> FastAPI:
    """Each uvicorn worker's app, from the ``INTERACTION_CLASSIFIER_*`` variables that
    ``serve`` sets (``settings.ServeSettings.from_env``)."""
    return create_app(ServeSettings.from_env())
