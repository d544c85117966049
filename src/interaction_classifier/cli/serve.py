"""``serve``: the model as an HTTP service (FastAPI on uvicorn); see docs/serving.md.

The model is resolved (an MLflow URI downloaded once) and its checksums verified here, before
any worker starts, so a wrong path or a tampered model stops the command with exit code 2
instead of leaving workers that are never ready. Each worker then loads the verified directory
itself (``serving.http.app_from_env``); with ``--workers`` > 1 this process execs into the
supervisor of ``serving.workers``, where each worker listens on a socket of its own. SIGTERM
or Ctrl-C stops accepting connections, lets requests in flight finish (up to
``--graceful-timeout``) and exits 0.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from typing import Annotated

import typer

from interaction_classifier.cli.predict import USAGE_ERROR


def _stop(signum: int, frame: object) -> None:
    """What SIGTERM does outside uvicorn's own handling: uvicorn finishes the requests in
    flight, then raises the signal again for this handler; a clean stop exits 0."""
    raise SystemExit(0)


def serve_cmd(
    model: Annotated[str | None, typer.Option(
        help="fast, accurate, a model directory or an MLflow URI [default: "
        "$INTERACTION_CLASSIFIER_MODEL, else fast, the shipped model].")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0: every "
                                      "interface, as in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes, each with its own "
                                         "copy of the model (~200 MB).")] = 1,
    max_body_bytes: Annotated[int, typer.Option(
        min=1, help="Largest request body; larger ones get 413.")] = 4 * 2**20,
    max_batch_items: Annotated[int, typer.Option(
        min=1, help="Most messages in one batch request; more get 413.")] = 1000,
    request_timeout: Annotated[float, typer.Option(
        min=0.001, help="Seconds a request may take (model loading included); then 504.")
    ] = 30.0,
    threads: Annotated[int, typer.Option(
        min=1, help="Model threads per worker (the model itself runs one text at a time "
        "per process: more workers, not threads, use more cores).")] = 4,
    graceful_timeout: Annotated[float, typer.Option(
        min=0, help="Seconds requests in flight get to finish after SIGTERM.")] = 30.0,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    openapi: Annotated[bool, typer.Option(
        "--openapi", help="Print the API's OpenAPI document (docs/openapi.json) and exit.")
    ] = False,
) -> None:
    """Serve the model over HTTP: POST /v1/predict, /v1/predict/batch; GET /v1/model,
    /healthz, /readyz, /metrics. Tokens come from the environment only:
    INTERACTION_CLASSIFIER_API_TOKEN (bearer auth on /v1) and
    INTERACTION_CLASSIFIER_ADMIN_TOKEN (enables POST /v1/admin/reload)."""
    if openapi:
        from interaction_classifier.serving.http import openapi_json

        typer.echo(openapi_json(), nl=False)
        return
    import uvicorn

    from interaction_classifier.models.artifact import ArtifactError, verify_artifact
    from interaction_classifier.serving.metrics import MULTIPROC_ENV
    from interaction_classifier.serving.predictor import ENV_MODEL, resolve_model_dir
    from interaction_classifier.serving.settings import ADMIN_TOKEN_ENV, ServeSettings
    from interaction_classifier.serving.workers import APP_FACTORY, uvicorn_options

    def fail(message: str) -> None:
        typer.echo(f"Error: {message}", err=True)
        raise typer.Exit(USAGE_ERROR)

    if workers > 1 and os.environ.get(ADMIN_TOKEN_ENV):
        fail(f"{ADMIN_TOKEN_ENV} with --workers {workers}: a reload would reach one worker "
             "only; run one worker per container (and more containers), or unset the token")
    try:
        directory = resolve_model_dir(model or os.environ.get(ENV_MODEL) or None)
        verify_artifact(directory)
        settings = ServeSettings.from_env({**os.environ, ENV_MODEL: str(directory)})
        settings = ServeSettings(
            model=str(directory), max_body_bytes=max_body_bytes,
            max_batch_items=max_batch_items, request_timeout=request_timeout,
            threads=threads, api_token=settings.api_token, admin_token=settings.admin_token)
    except (ArtifactError, FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    os.environ.update(settings.to_env())
    if workers == 1:
        signal.signal(signal.SIGTERM, _stop)
        uvicorn.run(APP_FACTORY, factory=True, host=host, port=port,
                    **uvicorn_options(log_level, graceful_timeout))
        return
    command = [sys.executable, "-m", "interaction_classifier.serving.workers", "--host", host,
               "--port", str(port), "--workers", str(workers), "--graceful-timeout",
               str(graceful_timeout), "--log-level", log_level]
    if not os.environ.get(MULTIPROC_ENV):  # one directory for all workers' metrics
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="ic-metrics-")
        command += ["--remove-dir", os.environ[MULTIPROC_ENV]]
    sys.stdout.flush(), sys.stderr.flush()
    os.execv(sys.executable, command)  # the same process, without the CLI's imports


def export_mlflow_cmd(
    output: Annotated[str, typer.Argument(help="New folder for the MLflow model.")],
    model: Annotated[str | None, typer.Option(
        help="Model directory or MLflow URI [default: the shipped model].")] = None,
) -> None:
    """Write a model as an MLflow pyfunc folder, the second way to serve it:
    ``mlflow models serve -m OUTPUT --env-manager local``."""
    from pathlib import Path

    from interaction_classifier.serving.predictor import ENV_MODEL, resolve_model_dir
    from interaction_classifier.serving.pyfunc import save_pyfunc

    if Path(output).exists():
        typer.echo(f"Error: {output} exists; MLflow writes a new folder", err=True)
        raise typer.Exit(USAGE_ERROR)
    directory = resolve_model_dir(model or os.environ.get(ENV_MODEL) or None)
    save_pyfunc(directory, output)
    typer.echo(f"MLflow model written to {output}; serve it with: mlflow models serve -m "
               f"{output} --env-manager local --host 127.0.0.1 --port 5001")
