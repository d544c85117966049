"""The HTTP service as a platform engineer runs it: the real server through the CLI on a free
loopback port (and the container's entry point, run outside a container since no container
runtime runs here), a retrained model without urgency, several workers, SIGTERM with a request
in flight, and the second way to serve, ``mlflow models serve``."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from interaction_classifier import load_model, predict
from tests.helpers.serving import CARD, CLI, EMAIL, SECRET_TEXT, assert_same, free_port, running
from tests.helpers.tiny_model import build_tiny_model

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def serve(port: int, *args: str) -> list[str]:
    return [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), *args]


def send_with_expect(port: int, body: bytes) -> socket.socket:
    """Send a request's headers with ``Expect: 100-continue`` and wait for the server's
    ``100 Continue``, which uvicorn sends only when the app starts reading the body: from
    then on the request is in flight in the app. The body is not sent yet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(b"POST /v1/predict/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_serve_is_ready_matches_predict_and_stops_cleanly_on_sigterm(
        tmp_path: Path, messages: list[str]) -> None:
    port, log = free_port(), tmp_path / "server.log"
    with running(serve(port), log, port=port) as (proc, base):
        client = httpx.Client(base_url=base, timeout=60)
        for text in messages[:50]:
            assert_same(client.post("/v1/predict", json={"text": text}).json(), predict(text))
        batch = client.post("/v1/predict/batch", json={"items": [
            {"id": i, "text": t} for i, t in enumerate([*messages[50:80], None, 7, ""])]})
        results = batch.json()["results"]
        assert [r["status"] for r in results[-3:]] == ["missing_text", "non_text", "empty_text"]
        for got, text in zip(results, messages[50:80], strict=False):
            assert_same(got, predict(text))
        assert client.post("/v1/predict", json={"text": SECRET_TEXT}).status_code == 200
        assert client.post("/v1/predict", content=b"x" * 11 * 2**20, headers={
            "content-type": "application/json"}).status_code == 413
        page = client.get("/metrics").text
        assert 'endpoint="/v1/predict",method="POST",status="200"} 51.0' in page

        body = json.dumps({"texts": messages[:300]}).encode()
        sock = send_with_expect(port, body)
        proc.send_signal(signal.SIGTERM)  # while the batch is in the app, waiting for its body
        sock.sendall(body)
        status, answer = read_response(sock)
        assert status == 200 and len(answer["results"]) == 300
        assert proc.wait(60) == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(base + "/healthz", timeout=5)
    output = log.read_text(encoding="utf-8")
    for secret in (EMAIL, CARD, "charged twice"):
        assert secret not in output and secret not in page
    access = [json.loads(line) for line in output.splitlines()
              if '"interaction_classifier.access"' in line]
    assert len(access) >= 55 and all(a["duration_ms"] >= 0 for a in access)
    assert access[-1]["endpoint"] == "/v1/predict/batch" and access[-1]["items"] == 300


def test_a_retrained_model_without_urgency_is_served_as_it_is(tmp_path: Path) -> None:
    tiny_dir = build_tiny_model(tmp_path / "tiny")
    tiny = load_model(tiny_dir)
    port = free_port()
    with running(serve(port, "--model", str(tiny_dir)), tmp_path / "log", port=port) as (_, base):
        info = httpx.get(base + "/v1/model").json()
        assert info["heads"] == tiny.describe()["heads"] and info["version"] == "tiny-test"
        for text in ("my invoice was reversed this morning", "why has my parcel arrived?"):
            served = httpx.post(base + "/v1/predict", json={"text": text}).json()
            assert not {"urgency", "priority", "sentiment_score"} & set(served)
            assert_same(served, tiny.predict(text))


def test_two_workers_sum_their_metrics_and_refuse_an_admin_token(tmp_path: Path) -> None:
    port = free_port()
    with running(serve(port, "--workers", "2"), tmp_path / "log", port=port) as (proc, base):
        for i in range(40):  # a new connection each time, so both workers take some
            assert httpx.post(base + "/v1/predict", json={"text": f"parcel {i}"}
                              ).status_code == 200
        pages = [httpx.get(base + "/metrics").text for _ in range(6)]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    line = 'interaction_classifier_http_requests_total{endpoint="/v1/predict",method="POST",' \
           'status="200"} 40.0'
    assert all(line in page.splitlines() for page in pages)
    access = [json.loads(x) for x in (tmp_path / "log").read_text().splitlines()
              if '"interaction_classifier.access"' in x and '"/v1/predict"' in x]
    assert len(access) == 40
    assert len({a["pid"] for a in access}) == 2  # both workers took connections
    refused = subprocess.run(serve(free_port(), "--workers", "2"), capture_output=True,
                             text=True, env={**os.environ,
                                             "INTERACTION_CLASSIFIER_ADMIN_TOKEN": "x"})
    assert refused.returncode == 2 and "one worker" in refused.stderr


def test_a_missing_or_tampered_model_stops_serve_before_it_listens(tmp_path: Path) -> None:
    tiny_dir = build_tiny_model(tmp_path / "tiny")
    (tiny_dir / "weights.npz").write_bytes(b"tampered")
    for model in (tmp_path / "nowhere", tiny_dir):
        proc = subprocess.run(serve(free_port(), "--model", str(model)), capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("Error: ") and "Traceback" not in proc.stderr


def test_a_port_in_use_is_exit_code_3_with_one_worker_or_two(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for workers in ("1", "2"):
            proc = subprocess.run(serve(port, "--workers", workers), capture_output=True,
                                  text=True, timeout=300)
            assert proc.returncode == 3, (workers, proc.stderr[-2000:])
            assert "address already in use" in proc.stderr.lower(), proc.stderr[-2000:]


def dockerfile_command() -> tuple[list[str], list[str]]:
    """ENTRYPOINT + CMD and the HEALTHCHECK command of the Dockerfile (JSON forms)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    found = {k: json.loads(v) for k, v in re.findall(
        r"^(ENTRYPOINT|CMD)\s+(\[.*\])\s*$", text, re.M)}
    health = re.search(r"^HEALTHCHECK .*?CMD\s+(\[.*\])\s*$", text, re.M)
    assert health and set(found) == {"ENTRYPOINT", "CMD"}, text
    return [*found["ENTRYPOINT"], *found["CMD"]], json.loads(health.group(1))


def test_the_container_entry_point_serves_and_its_healthcheck_passes(tmp_path: Path) -> None:
    """No container runtime runs here (the docker CLI has no daemon): the image's exact
    command runs outside a container, on a free loopback port instead of 0.0.0.0:8000."""
    command, health = dockerfile_command()
    assert command[:2] == ["interaction-classifier", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert any("/readyz" in part for part in health)
    port = free_port()
    local = [*CLI, *command[1:]]
    local[local.index("--host") + 1] = "127.0.0.1"
    local[local.index("--port") + 1] = str(port)
    with running(local, tmp_path / "log", port=port) as (_, base):
        check = [sys.executable if health[0] == "python" else health[0], *health[1:]]
        check = [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in check]
        assert subprocess.run(check, timeout=60).returncode == 0, shlex.join(check)
        assert httpx.post(base + "/v1/predict", json={"text": "hi"}).status_code == 200


def test_the_shipped_model_served_by_mlflow_models_serve(tmp_path: Path) -> None:
    exported = tmp_path / "pyfunc"
    proc = subprocess.run([*CLI, "export-mlflow", str(exported)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    port = free_port()
    mlflow = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(exported),
              "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]
    texts = ["My card was stolen yesterday, block it now!", "Where is my parcel?",
             "Love the new app, thank you!"]
    with running(mlflow, tmp_path / "log", ready="/ping", port=port) as (_, base):
        records = [{"text": t} for t in texts] + [{"text": None}, {"text": ""}]
        answer = httpx.post(base + "/invocations", json={"dataframe_records": records},
                            timeout=120)
        assert answer.status_code == 200, answer.text
        rows = answer.json()["predictions"]
        strict = httpx.post(base + "/invocations", timeout=120, json={
            "dataframe_records": records[:1], "params": {"review.sentiment": 1.0}}).json()
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "missing_text", "empty_text"]
    for row, text in zip(rows, texts, strict=False):
        expected = predict(text)
        for key in ("interaction_type", "journey_stage", "sentiment", "priority",
                    "needs_review", "model_version"):
            assert row[key] == expected[key], key
        for key in ("sentiment_score", "urgency"):
            assert abs(row[key] - expected[key]) <= 1e-9, key
        for head, probabilities in expected["probabilities"].items():
            for label, p in probabilities.items():
                assert abs(row[f"p_{head}__{label}"] - p) <= 1e-9
    assert all(r["needs_review"] for r in rows[3:])
    assert strict["predictions"][0]["needs_review"] is True
