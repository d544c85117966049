"""Settings of the HTTP service: limits, timeout and tokens, from options or the environment.

Each uvicorn worker builds its own app in its own process, so ``interaction-classifier serve``
hands its options to the workers as environment variables (``to_env``), and a worker reads
them back (``from_env``): one path, whether the service runs one worker or eight, from the CLI
or as the container's entry point. Tokens are read from the environment only, never from the
command line, where ``ps`` would show them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from interaction_classifier.serving.predictor import ENV_MODEL

API_TOKEN_ENV = "INTERACTION_CLASSIFIER_API_TOKEN"
ADMIN_TOKEN_ENV = "INTERACTION_CLASSIFIER_ADMIN_TOKEN"
MAX_BODY_ENV = "INTERACTION_CLASSIFIER_MAX_BODY_BYTES"
MAX_BATCH_ENV = "INTERACTION_CLASSIFIER_MAX_BATCH_ITEMS"
TIMEOUT_ENV = "INTERACTION_CLASSIFIER_REQUEST_TIMEOUT"
THREADS_ENV = "INTERACTION_CLASSIFIER_THREADS"


@dataclass(frozen=True)
class ServeSettings:
    """What one worker needs besides the model; every limit is checked here, at start-up.

    ``model`` is a local model directory (``serve`` downloads an MLflow URI once, before the
    workers start); ``None`` means ``$INTERACTION_CLASSIFIER_MODEL`` or the shipped model.
    """

    model: str | None = None
    max_body_bytes: int = 4 * 2**20
    max_batch_items: int = 1000
    request_timeout: float = 30.0
    threads: int = 4
    api_token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_batch_items", "threads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if not self.request_timeout > 0:
            raise ValueError(f"request_timeout must be > 0 seconds, not {self.request_timeout!r}")
        for name in ("api_token", "admin_token"):  # an empty variable means "not set"
            if not getattr(self, name):
                object.__setattr__(self, name, None)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """Settings from ``INTERACTION_CLASSIFIER_*`` variables; unset ones keep defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {"model": env.get(ENV_MODEL) or None,
                                     "api_token": env.get(API_TOKEN_ENV),
                                     "admin_token": env.get(ADMIN_TOKEN_ENV)}
        for name, variable, kind in (("max_body_bytes", MAX_BODY_ENV, int),
                                     ("max_batch_items", MAX_BATCH_ENV, int),
                                     ("request_timeout", TIMEOUT_ENV, float),
                                     ("threads", THREADS_ENV, int)):
            if env.get(variable):
                try:
                    values[name] = kind(env[variable])
                except ValueError:
                    raise ValueError(f"{variable}={env[variable]!r} is not a valid "
                                     f"{kind.__name__}") from None
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The variables ``from_env`` reads, for the workers (tokens are not copied: they
        are already in the environment the workers inherit)."""
        env = {MAX_BODY_ENV: str(self.max_body_bytes), MAX_BATCH_ENV: str(self.max_batch_items),
               TIMEOUT_ENV: repr(self.request_timeout), THREADS_ENV: str(self.threads)}
        if self.model:
            env[ENV_MODEL] = self.model
        return env

    def limits(self) -> dict[str, float | int]:
        """The limits in force, as ``GET /v1/model`` reports them."""
        return {"max_body_bytes": self.max_body_bytes, "max_batch_items": self.max_batch_items,
                "request_timeout_s": self.request_timeout}
