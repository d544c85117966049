"""ASGI middleware of the HTTP service: the body guard and the request observer.

``BodyGuard`` refuses a body over the size limit before the app reads it: a declared
``Content-Length`` over the limit gets 413 without a byte of the body being read, and a
chunked body is counted as it arrives and refused as soon as it passes the limit, so memory
stays bounded by the limit whatever a client sends. It also refuses a body that is not JSON
(415) instead of letting it fail as a confusing schema error.

``RequestObserver`` (outermost) times every request, gives it an id (the client's
``X-Request-ID`` when it is a plain token, else a new one, echoed in the response), counts it
in the metrics by route (``unmatched`` for any other path), and writes the access log line,
with what the endpoint left in ``scope["state"]["log"]`` (counts, lengths, labels; never
text).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interaction_classifier.serving.logs import access_log
from interaction_classifier.serving.metrics import Metrics

REQUEST_ID = "x-request-id"
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class AsciiJSONResponse(JSONResponse):
    """JSON with non-ASCII escaped: always encodable, even an id holding a lone surrogate
    (valid in JSON text, not in UTF-8), which would crash a UTF-8 encoder."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


def error_response(status: int, error: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The one shape of every error body (``schemas.ErrorResponse``)."""
    return AsciiJSONResponse({"error": error, "message": message}, status_code=status,
                             headers=headers)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body without a declared length passes the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit:,} bytes")


def too_large(limit: int) -> JSONResponse:
    return error_response(413, "payload_too_large",
                          f"request body over the limit of {limit:,} bytes; send fewer or "
                          "shorter messages per request")


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


class BodyGuard:
    """Size limit and JSON content type for request bodies (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        length = int(declared) if declared and declared.isdigit() else None
        if length is not None and length > self.limit:
            await too_large(self.limit)(scope, receive, send)
            return
        has_body = bool(length) or "chunked" in headers.get("transfer-encoding", "").lower()
        if has_body and not is_json(headers.get("content-type")):
            await error_response(415, "unsupported_media_type",
                                 "send the body as JSON with Content-Type: application/json"
                                 )(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)


class RequestObserver:
    """Request id, metrics and the JSON access log of every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics, paths: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = paths  # the app's routes: a request refused before routing keeps its path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        given = Headers(scope=scope).get(REQUEST_ID, "")
        request_id = given if _PLAIN_ID.match(given) else uuid.uuid4().hex
        fields: dict[str, Any] = {}
        scope.setdefault("state", {})["log"] = fields
        status = 500  # what the client gets if the app raises before answering

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"],
                                      (REQUEST_ID.encode(), request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            seconds = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None)
            endpoint = route or (scope["path"] if scope["path"] in self.paths else "unmatched")
            self.metrics.observe_request(endpoint, scope["method"], status, seconds)
            declared = Headers(scope=scope).get("content-length")
            access_log.info("request", extra={
                "request_id": request_id, "method": scope["method"], "endpoint": endpoint,
                "status": status, "duration_ms": round(seconds * 1e3, 3),
                "body_bytes": int(declared) if declared and declared.isdigit() else None,
                **fields})
