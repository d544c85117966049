"""Several worker processes for ``serve --workers N``, each with a listening socket of its own.

uvicorn's own multi-process mode shares one listening socket, and Linux then hands new
connections mostly to the same worker: a worker busy scoring still accepts (the model runs in
a thread), so under light or bursty load one worker took every connection and the second core
sat idle (measured: all 80 batch requests of a run on one worker). Here every worker binds the
address with ``SO_REUSEPORT``, and the kernel spreads connections over the sockets by their
address hash, whatever each worker is doing.

The parent only supervises: it checks the port is free, starts the workers (``spawn``),
replaces a worker that dies, and on SIGTERM or SIGINT sends SIGTERM to every worker, waits for
them to finish their requests in flight, and returns. ``serve`` execs into this module's
``main`` (same process id), so the supervisor does not keep the ~200 MB that the CLI's imports
take. Linux only (``SO_REUSEPORT``).
"""

from __future__ import annotations

import argparse
import logging.config
import multiprocessing
import shutil
import signal
import socket
import sys
import threading
import time
from typing import Any

from interaction_classifier.serving.logs import log_config, service_log

APP_FACTORY = "interaction_classifier.serving.http:app_from_env"
STARTUP_FAILURE = 3  # uvicorn's exit code when a server cannot start
BACKLOG = 2048


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_free(host: str, port: int) -> None:
    """Raise ``OSError`` if something already listens on ``host:port`` (a plain bind fails
    then, even against a ``SO_REUSEPORT`` socket)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def listening_socket(host: str, port: int) -> socket.socket:
    """A worker's own socket on the shared address. ``IPPROTO_TCP`` explicitly, as uvicorn
    does: asyncio sets ``TCP_NODELAY`` only on connections of such a socket, and without it
    every small response waited ~40 ms for a delayed ACK (measured: p50 48 ms, not 3.6)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    return sock


def _stop(signum: int, frame: object) -> None:
    """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown: a clean stop exits 0."""
    raise SystemExit(0)


def worker(app: str, host: str, port: int, options: dict[str, Any]) -> None:
    """One worker process: its own ``SO_REUSEPORT`` socket, one uvicorn server."""
    import uvicorn

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server = uvicorn.Server(uvicorn.Config(app, factory=True, host=host, port=port, **options))
    server.run(sockets=[listening_socket(host, port)])
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def run_workers(app: str, host: str, port: int, workers: int, options: dict[str, Any],
                graceful_timeout: float) -> int:
    """Run ``workers`` processes until SIGTERM/SIGINT; returns the exit code for ``serve``
    (0 after a clean stop, ``STARTUP_FAILURE`` when a worker cannot start)."""
    check_free(host, port)
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=worker, args=(app, host, port, options),
                                  name="interaction-classifier-worker")
        process.start()
        return process

    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    processes = [start() for _ in range(workers)]
    code = 0
    try:
        while not stop.wait(0.5):
            for i, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    service_log.error("worker failed to start; stopping",
                                      extra={"worker_pid": process.pid})
                    code = STARTUP_FAILURE
                    stop.set()
                    break
                service_log.warning("worker died; starting another", extra={
                    "worker_pid": process.pid, "exit_code": process.exitcode})
                processes[i] = start()
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn's graceful shutdown in the worker
        deadline = time.monotonic() + graceful_timeout + 10
        for process in processes:
            process.join(max(deadline - time.monotonic(), 0.1))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def uvicorn_options(log_level: str, graceful_timeout: float) -> dict[str, Any]:
    """What every server of ``serve`` runs with: JSON logs, our access log, graceful stop."""
    return {"log_config": log_config(log_level), "access_log": False,
            "timeout_graceful_shutdown": graceful_timeout}


def main(argv: list[str] | None = None) -> int:
    """``python -m interaction_classifier.serving.workers``: the supervisor that
    ``serve --workers N`` execs into, after it has verified the model and set the workers'
    environment."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--graceful-timeout", type=float, default=30.0)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--remove-dir", default=None, help="removed at exit (metrics)")
    args = parser.parse_args(argv)
    options = uvicorn_options(args.log_level, args.graceful_timeout)
    logging.config.dictConfig(options["log_config"])
    try:
        return run_workers(APP_FACTORY, args.host, args.port, args.workers, options,
                           args.graceful_timeout)
    except OSError as exc:
        print(f"Error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return STARTUP_FAILURE
    finally:
        if args.remove_dir:
            shutil.rmtree(args.remove_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
