"""Structured JSON logs of the HTTP service: one JSON object per line on stderr.

The access log (logger ``interaction_classifier.access``) says who asked what and what came
back: endpoint, status, latency, request id, body size, item counts, text lengths, labels,
statuses and the ids of flagged items. It never holds message text, and neither does any other
line: errors are logged by exception type and traceback frames, not by message (a pydantic
or model error message can quote the input). uvicorn's own lines go through the same
formatter; its access log is off (ours replaces it).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from typing import Any

ACCESS_LOGGER = "interaction_classifier.access"
SERVICE_LOGGER = "interaction_classifier.serve"
# Attributes every LogRecord has; anything else was passed in ``extra`` and is logged as is.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "pid", "event", ...extra}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name, "pid": record.process,
            "event": record.getMessage()}
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
            entry["traceback"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(entry, ensure_ascii=True, default=str)  # always encodable


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn and the app: every line JSON on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json",
               "stream": "ext://sys.stderr"}
    loggers = {name: {"handlers": ["json"], "level": level.upper(), "propagate": False}
               for name in ("uvicorn", "uvicorn.error", ACCESS_LOGGER, SERVICE_LOGGER)}
    loggers["uvicorn.access"] = {"handlers": [], "level": "WARNING", "propagate": False}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": JsonFormatter}},
            "handlers": {"json": handler}, "loggers": loggers}


access_log = logging.getLogger(ACCESS_LOGGER)
service_log = logging.getLogger(SERVICE_LOGGER)
