"""Contract tests: schemathesis generates requests from the app's own OpenAPI document (data
that fits it and data that does not) and sends them to the app in-process (ASGI). No input
may get a 5xx, and every response must match what the document says: a documented status,
content type, headers and body schema. Bounded: a few dozen examples per operation and mode.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from interaction_classifier.serving.http import create_app
from interaction_classifier.serving.settings import ServeSettings

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
MAX_EXAMPLES = 50

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ServeSettings()))
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_generated_request_gets_a_documented_non_5xx_answer(case) -> None:
    case.call_and_validate(checks=CHECKS)
