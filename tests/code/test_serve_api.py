"""The HTTP service in-process (FastAPI's TestClient): parity with ``predict()``, bad requests,
limits, auth, reload, timeouts, logs and metrics without message text, and the committed
OpenAPI document. The real server, through the CLI, is in ``tests/e2e/test_serve.py``."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from interaction_classifier import load_model, predict
from interaction_classifier.serving.http import create_app, openapi_json
from interaction_classifier.serving.logs import ACCESS_LOGGER, JsonFormatter
from interaction_classifier.serving.predictor import Predictor
from interaction_classifier.serving.settings import ServeSettings
from tests.helpers.serving import CARD, EMAIL, SECRET_TEXT, assert_same
from tests.helpers.tiny_model import build_tiny_model

ROOT = Path(__file__).resolve().parents[2]
JSON = {"content-type": "application/json"}
BAD_TEXTS = [(None, "missing_text"), (12, "non_text"), (1.5, "non_text"), (True, "non_text"),
             (["a list"], "non_text"), ({"an": "object"}, "non_text"), ("", "empty_text"),
             ("  \n\t ", "empty_text"), ("caf\ufffd au lait", "undecodable"),
             ("a lone surrogate \ud800", "undecodable")]


@pytest.fixture(scope="module")
def client() -> TestClient:
    with TestClient(create_app(ServeSettings())) as c:
        yield c


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_single_and_batch_equal_predict_on_200_messages(client: TestClient,
                                                        messages: list[str]) -> None:
    texts = messages[:200]
    expected = [predict(t) for t in texts]
    for text, want in zip(texts, expected, strict=True):
        response = client.post("/v1/predict", json={"text": text})
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        assert_same(response.json(), want)
    batch = client.post("/v1/predict/batch",
                        json={"items": [{"id": f"m{i}", "text": t} for i, t in enumerate(texts)]})
    assert batch.status_code == 200
    results = batch.json()["results"]
    assert [r["id"] for r in results] == [f"m{i}" for i in range(200)]
    for got, want in zip(results, expected, strict=True):
        assert got["status"] == "ok"
        assert_same(got, want)
    plain = client.post("/v1/predict/batch", json={"texts": texts[:20]}).json()["results"]
    assert [r["id"] for r in plain] == [None] * 20
    for got, want in zip(plain, expected[:20], strict=True):
        assert_same(got, want)


def test_per_call_thresholds_are_predicts(client: TestClient) -> None:
    text = "Where is my parcel?"
    body = {"text": text, "review": {"journey_stage": 1.0}, "priority": {"critical": 0.01}}
    served = client.post("/v1/predict", json=body).json()
    assert served["needs_review"] is True and served["priority"] == "critical"
    assert_same(served, predict(text, review={"journey_stage": 1.0},
                                priority={"critical": 0.01}))
    refused = client.post("/v1/predict", json={"text": text, "review": {"nope": 0.5}})
    assert refused.status_code == 422 and "unknown head 'nope'" in refused.json()["message"]
    out_of_range = client.post("/v1/predict/batch", json={"texts": [text],
                                                         "priority": {"high": 2}})
    assert out_of_range.status_code == 422 and "[0, 1]" in out_of_range.json()["message"]


@pytest.mark.parametrize(("value", "status"), BAD_TEXTS, ids=[s for _, s in BAD_TEXTS])
def test_a_bad_text_is_a_flagged_result_not_a_label(client: TestClient, value: Any,
                                                   status: str) -> None:
    # json.dumps escapes a lone surrogate ("\\ud800"), which the service reads back as one
    response = client.post("/v1/predict", content=json.dumps({"text": value}), headers=JSON)
    assert response.status_code == 200
    result = response.json()
    assert result["status"] == status
    assert result["needs_review"] is True
    assert result["probabilities"] is None and result["confidence"] is None
    for column in ("interaction_type", "journey_stage", "sentiment", "urgency", "priority"):
        assert result[column] is None
    assert result["reasons"][0].startswith(status)


def test_a_batch_flags_each_bad_item_in_place(client: TestClient) -> None:
    good = "My card was stolen, block it now!"
    items = [{"id": 0, "text": good}, *[{"id": i + 1, "text": v}
                                         for i, (v, _) in enumerate(BAD_TEXTS)],
             {"id": "absent"}, {"id": "last", "text": good}]
    results = client.post("/v1/predict/batch", content=json.dumps({"items": items}),
                          headers=JSON).json()["results"]
    assert [r["id"] for r in results] == [i["id"] for i in items]
    assert [r["status"] for r in results] == ["ok", *[s for _, s in BAD_TEXTS],
                                              "missing_text", "ok"]
    assert results[0]["interaction_type"] == results[-1]["interaction_type"] \
        == predict(good)["interaction_type"]
    assert all(r["interaction_type"] is None for r in results[1:-1])
    texts = client.post("/v1/predict/batch", json={"texts": [None, "None", 123, "123"]})
    assert [r["status"] for r in texts.json()["results"]] == ["missing_text", "ok",
                                                              "non_text", "ok"]


@pytest.mark.parametrize(("content", "headers", "status", "error"), [
    (b'{"text": "unterminated', JSON, 422, "invalid_request"),
    (b"not json at all", JSON, 422, "invalid_request"),
    (b"\xff\xfe\x00{", JSON, 422, "invalid_request"),
    (b'{"text": "caf\xe9"}', JSON, 400, "bad_request"),  # Latin-1, not UTF-8
    (b'{"text": "hello"}', {"content-type": "text/plain"}, 415, "unsupported_media_type"),
    (b'{"text": "hello"}', {"content-type": "application/x-www-form-urlencoded"}, 415,
     "unsupported_media_type"),
    (b'{"text": "hello"}', {}, 415, "unsupported_media_type"),
    (b'["hello"]', JSON, 422, "invalid_request"),
    (b'"hello"', JSON, 422, "invalid_request"),
    (b"{}", JSON, 422, "invalid_request"),
    (b'{"text": "hello", "extra": 1}', JSON, 422, "invalid_request"),
    (b'{"text": "hello", "review": {"sentiment": "high"}}', JSON, 422, "invalid_request"),
])
def test_malformed_requests_get_a_json_error_and_the_worker_keeps_serving(
        client: TestClient, content: bytes, headers: dict, status: int, error: str) -> None:
    response = client.post("/v1/predict", content=content, headers=headers)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and body["message"]
    if status == 422:
        assert body["problems"] and all("input" not in p for p in body["problems"])
    assert client.post("/v1/predict", json={"text": "hi"}).json()["status"] == "ok"


@pytest.mark.parametrize("body", [{"texts": "not a list"}, {"items": [{"text": "a", "x": 1}]},
                                  {"texts": ["a"], "items": []}, {"items": [{"id": 1.5}]},
                                  {"nothing": []}, {}])
def test_malformed_batches_are_422_naming_the_problem(client: TestClient, body: dict) -> None:
    response = client.post("/v1/predict/batch", json=body)
    assert response.status_code == 422
    assert response.json()["problems"][0]["loc"][0] == "body"


def test_limits_give_413_before_the_work(client: TestClient) -> None:
    ten_mb = json.dumps({"text": "x" * 10 * 2**20}).encode()
    response = client.post("/v1/predict", content=ten_mb, headers=JSON)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    many = client.post("/v1/predict/batch", json={"texts": ["hi"] * 10_001})
    assert many.status_code == 413 and "10,001 items" in many.json()["message"]
    assert client.post("/v1/predict/batch", json={"texts": ["hi"] * 1000}).status_code == 200
    with TestClient(create_app(ServeSettings(max_batch_items=2, max_body_bytes=200))) as small:
        assert small.post("/v1/predict/batch", json={"texts": ["a"] * 3}).status_code == 413
        assert small.post("/v1/predict", json={"text": "a" * 300}).status_code == 413
        assert small.get("/v1/model").json()["limits"] == {
            "max_chars": 5000, "max_body_bytes": 200, "max_batch_items": 2,
            "request_timeout_s": 30.0}


def _post_chunked(app: Any, chunks: int, declared: int | None = None) -> tuple[int, int]:
    """Send a body of ``chunks`` x 64 KiB straight to the ASGI app; returns the status and
    how many chunks the app read."""
    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": read < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/v1/predict",
             "raw_path": b"/v1/predict", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], read


def test_a_10_mb_body_is_refused_without_being_read() -> None:
    app = create_app(ServeSettings())  # 4 MiB limit
    status, read = _post_chunked(app, chunks=160, declared=160 * 65536)
    assert (status, read) == (413, 0)  # Content-Length says too much: not a byte read
    status, read = _post_chunked(app, chunks=160)  # chunked, no length: stops at the limit
    assert status == 413 and read == 4 * 16 + 1


def test_auth_on_every_v1_route_only(tiny_dir: Path) -> None:
    settings = ServeSettings(model=str(tiny_dir), api_token="s3cret-token")
    with TestClient(create_app(settings)) as c:
        for method, path, body in [("post", "/v1/predict", {"text": "hi"}),
                                   ("post", "/v1/predict/batch", {"texts": ["hi"]}),
                                   ("get", "/v1/model", None)]:
            for headers in [{}, {"Authorization": "Bearer wrong"},
                            {"Authorization": "Basic czNjcmV0LXRva2Vu"},
                            {"Authorization": "s3cret-token"}]:
                refused = getattr(c, method)(path, headers=headers,
                                             **({"json": body} if body else {}))
                assert refused.status_code == 401, (path, headers)
                assert refused.json()["error"] == "unauthorized"
                assert refused.headers["www-authenticate"] == "Bearer"
            ok = getattr(c, method)(path, headers={"Authorization": "Bearer s3cret-token"},
                                    **({"json": body} if body else {}))
            assert ok.status_code == 200
        for open_path in ("/healthz", "/readyz", "/metrics"):
            assert c.get(open_path).status_code == 200
        assert c.post("/v1/admin/reload").status_code == 404  # no admin token: no route


def test_reload_verifies_the_new_model_before_swapping(tiny_dir: Path,
                                                       tmp_path: Path) -> None:
    admin = {"Authorization": "Bearer admin-token"}
    settings = ServeSettings(admin_token="admin-token", api_token="api-token")
    tampered = tmp_path / "tampered"
    shutil.copytree(tiny_dir, tampered)
    with (tampered / "weights.npz").open("ab") as f:
        f.write(b"\0")
    api = {"Authorization": "Bearer api-token"}
    with TestClient(create_app(settings)) as c:
        default = c.get("/v1/model", headers=api).json()
        assert c.post("/v1/admin/reload", json={"model": str(tiny_dir)}).status_code == 401
        assert c.post("/v1/admin/reload", json={"model": str(tiny_dir)},
                      headers=api).status_code == 401  # the API token is not the admin's
        for bad in (str(tampered), str(tmp_path / "missing"), str(tmp_path)):
            refused = c.post("/v1/admin/reload", json={"model": bad}, headers=admin)
            assert refused.status_code == 422, bad
            assert "old one keeps serving" in refused.json()["message"]
            assert c.get("/v1/model", headers=api).json()["version"] == default["version"]
            assert c.post("/v1/predict", json={"text": "hi"}, headers=api).status_code == 200
        assert "checksum mismatch" in c.post("/v1/admin/reload", json={"model": str(tampered)},
                                             headers=admin).json()["message"]
        done = c.post("/v1/admin/reload", json={"model": str(tiny_dir)}, headers=admin).json()
        assert done["previous_version"] == default["version"]
        assert done["model_version"] == "tiny-test"
        assert list(c.get("/v1/model", headers=api).json()["heads"]) == ["topic", "intent"]
        again = c.post("/v1/admin/reload", headers=admin)  # no body: the same model, re-read
        assert again.status_code == 200 and again.json()["previous_version"] == "tiny-test"


def test_a_model_without_urgency_serves_its_own_heads(tiny_dir: Path) -> None:
    tiny = load_model(tiny_dir)
    with TestClient(create_app(ServeSettings(model=str(tiny_dir)))) as c:
        info = c.get("/v1/model").json()
        assert info["heads"] == tiny.describe()["heads"]
        assert info["capabilities"] == {"urgency": False, "sentiment_score": False}
        assert info["output_columns"] == ["topic", "intent", "language", "needs_review"]
        text = "my invoice was reversed this morning"
        served = c.post("/v1/predict", json={"text": text}).json()
        assert_same(served, tiny.predict(text))
        results = c.post("/v1/predict/batch", json={"texts": [text, None]}).json()["results"]
        for result in results:
            assert not {"urgency", "priority", "sentiment_score"} & set(result)
        assert results[1] | {"reasons": []} == {
            "topic": None, "intent": None, "language": None, "needs_review": True,
            "probabilities": None,
            "confidence": None, "reasons": [], "model_version": "tiny-test",
            "status": "missing_text", "id": None}
        assert c.post("/v1/predict", json={"text": text, "priority": {"high": 0.5}}
                      ).status_code == 422


def wait_ready(client: TestClient) -> None:
    """Poll /readyz (bounded): with a short request timeout, a request sent while the model
    still loads would rightly get 503."""
    deadline = time.monotonic() + 120
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the model did not load"
        time.sleep(0.05)


class Gated(Predictor):
    """The tiny model, held at a gate while ``armed`` (no sleeps: the test opens it)."""

    armed = threading.Event()
    gate = threading.Event()

    def predict_many(self, texts: Any, **kwargs: Any) -> list[dict]:
        if self.armed.is_set():
            self.gate.wait(30)
        return super().predict_many(texts, **kwargs)


def test_a_request_past_its_timeout_is_504_and_the_worker_recovers(tiny_dir: Path) -> None:
    def loader(source: str | None) -> Predictor:
        tiny = load_model(tiny_dir)
        return Gated(tiny.model, tiny.manifest, tiny.path)

    Gated.armed.clear(), Gated.gate.clear()
    with TestClient(create_app(ServeSettings(request_timeout=0.2), loader=loader)) as c:
        wait_ready(c)
        assert c.post("/v1/predict", json={"text": "hi"}).status_code == 200
        Gated.armed.set()
        late = c.post("/v1/predict/batch", json={"texts": ["hi", "parcel"]})
        assert late.status_code == 504 and late.json()["error"] == "timeout"
        Gated.armed.clear(), Gated.gate.set()
        assert c.post("/v1/predict", json={"text": "hi"}).status_code == 200


def test_not_ready_until_the_model_is_loaded_and_verified(tiny_dir: Path,
                                                          tmp_path: Path) -> None:
    release = threading.Event()

    def slow_loader(source: str | None) -> Predictor:
        release.wait(30)
        return load_model(tiny_dir)

    with TestClient(create_app(ServeSettings(request_timeout=0.2), loader=slow_loader)) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        waiting = c.get("/readyz")
        assert waiting.status_code == 503 and waiting.json()["error"] == "not_ready"
        assert waiting.headers["retry-after"]
        assert c.post("/v1/predict", json={"text": "hi"}).status_code == 503
        release.set()
        wait_ready(c)
        assert c.post("/v1/predict", json={"text": "hi"}).status_code == 200
        assert c.get("/readyz").json() == {"status": "ready", "model_version": "tiny-test"}
    broken = tmp_path / "broken"
    shutil.copytree(tiny_dir, broken)
    (broken / "manifest.json").write_text("{}")
    with TestClient(create_app(ServeSettings(model=str(broken)))) as c:
        assert c.get("/healthz").status_code == 200
        refused = c.post("/v1/predict", json={"text": "hi"})
        assert refused.status_code == 503 and "failed to load" in refused.json()["message"]
        assert "ArtifactError" in c.get("/readyz").json()["message"]


def test_logs_and_metrics_never_hold_message_text(client: TestClient,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.post("/v1/predict", json={"text": SECRET_TEXT}, headers={"X-Request-ID": "req-42"})
    client.post("/v1/predict/batch", json={"items": [
        {"id": "T-1", "text": SECRET_TEXT}, {"id": "T-2", "text": SECRET_TEXT * 200},
        {"id": "T-3", "text": 5}]})
    client.post("/v1/predict", json={"text": SECRET_TEXT, "unexpected": SECRET_TEXT})
    client.post("/v1/predict", json={"text": SECRET_TEXT, "review": {EMAIL: 0.5}})
    client.post("/v1/predict", content=SECRET_TEXT.encode(), headers=JSON)
    lines = [JsonFormatter().format(r) for r in caplog.records]
    page = client.get("/metrics").text
    for secret in (EMAIL, CARD, "charged twice"):
        assert not [line for line in lines if secret in line]
        assert secret not in page
    access = [json.loads(line) for line in lines if f'"logger": "{ACCESS_LOGGER}"' in line]
    first = next(a for a in access if a["request_id"] == "req-42")
    assert first["status"] == 200 and first["endpoint"] == "/v1/predict"
    assert first["text_chars_total"] == len(SECRET_TEXT) and first["duration_ms"] > 0
    assert first["labels"]["interaction_type"] == {predict(SECRET_TEXT)["interaction_type"]: 1}
    batch = next(a for a in access if a["endpoint"] == "/v1/predict/batch")
    assert batch["statuses"] == {"ok": 2, "non_text": 1}  # a long text is scored
    assert batch["flagged_ids"] == ["T-3"]
    assert [a["status"] for a in access[-3:]] == [422, 422, 422]


def test_metrics_count_requests_labels_statuses_and_reviews() -> None:
    with TestClient(create_app(ServeSettings())) as c:
        c.post("/v1/predict/batch", json={"texts": ["My card was stolen!", None, ""],
                                          "review": {"sentiment": 1.0}})
        c.post("/v1/predict", json={"text": "x"}, headers={"content-type": "text/plain"})
        c.get("/nowhere")
        page = c.get("/metrics")
        assert page.headers["content-type"].startswith("text/plain")
        text = page.text
    label = predict("My card was stolen!")["interaction_type"]
    for line in [
        'interaction_classifier_http_requests_total{endpoint="/v1/predict/batch",'
        'method="POST",status="200"} 1.0',
        'interaction_classifier_http_requests_total{endpoint="/v1/predict",method="POST",'
        'status="415"} 1.0',
        'interaction_classifier_http_requests_total{endpoint="unmatched",method="GET",'
        'status="404"} 1.0',
        f'interaction_classifier_predictions_total{{head="interaction_type",label="{label}"}}'
        ' 1.0',
        'interaction_classifier_items_total{status="ok"} 1.0',
        'interaction_classifier_items_total{status="missing_text"} 1.0',
        'interaction_classifier_items_total{status="empty_text"} 1.0',
        "interaction_classifier_needs_review_total 1.0",
        'interaction_classifier_http_request_duration_seconds_count{endpoint="/v1/predict/'
        'batch",method="POST",status="200"} 1.0']:
        assert line in text.splitlines(), line


def test_every_error_is_json_with_a_stable_code(client: TestClient) -> None:
    for response, status, error in [
        (client.get("/nowhere"), 404, "not_found"),
        (client.get("/v1/predict"), 405, "method_not_allowed"),
        (client.delete("/healthz"), 405, "method_not_allowed"),
    ]:
        assert response.status_code == status and response.json()["error"] == error
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    assert len(client.get("/healthz", headers={"X-Request-ID": "bad id\n"}
                          ).headers["x-request-id"]) == 32


def test_a_lone_surrogate_id_is_escaped_not_a_crash(client: TestClient) -> None:
    response = client.post("/v1/predict/batch", content=b'{"items": [{"id": "\\ud800", '
                           b'"text": "hi \\udfff"}]}', headers=JSON)
    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == "\ud800"


def test_model_info_is_describe_plus_digest(client: TestClient) -> None:
    from interaction_classifier.data.registry import sha256_of
    from interaction_classifier.serving.predictor import default_model

    info = client.get("/v1/model").json()
    described = default_model().describe()
    assert {k: info[k] for k in described} == described
    assert info["manifest_sha256"] == sha256_of(default_model().path / "manifest.json")
    assert info["output_columns"] == default_model().output_columns


def test_committed_openapi_is_the_apps() -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == json.loads(openapi_json()), (
        "docs/openapi.json differs from the app's; regenerate it with\n"
        "  interaction-classifier serve --openapi > docs/openapi.json")
    assert set(committed["paths"]) == {"/v1/predict", "/v1/predict/batch", "/v1/model",
                                       "/healthz", "/readyz", "/metrics"}


def test_settings_from_the_environment_and_refused_values() -> None:
    settings = ServeSettings.from_env({"INTERACTION_CLASSIFIER_MAX_BATCH_ITEMS": "7",
                                       "INTERACTION_CLASSIFIER_REQUEST_TIMEOUT": "2.5",
                                       "INTERACTION_CLASSIFIER_API_TOKEN": "",
                                       "INTERACTION_CLASSIFIER_ADMIN_TOKEN": "tok-XYZ"})
    assert (settings.max_batch_items, settings.request_timeout) == (7, 2.5)
    assert settings.api_token is None and settings.admin_token == "tok-XYZ"
    assert "tok-XYZ" not in repr(settings) and "tok-XYZ" not in str(settings.to_env())
    assert ServeSettings.from_env(settings.to_env()).max_batch_items == 7
    for bad in ({"INTERACTION_CLASSIFIER_MAX_BODY_BYTES": "ten"},
                {"INTERACTION_CLASSIFIER_MAX_BATCH_ITEMS": "0"},
                {"INTERACTION_CLASSIFIER_REQUEST_TIMEOUT": "-1"}):
        with pytest.raises(ValueError):
            ServeSettings.from_env(bad)


def test_worker_sockets_share_the_port_and_get_nodelay_connections() -> None:
    from interaction_classifier.serving.workers import check_free, listening_socket

    first = listening_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = listening_socket("127.0.0.1", port)  # SO_REUSEPORT: a second worker binds too
    try:
        assert first.proto == second.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY
        with pytest.raises(OSError):
            check_free("127.0.0.1", port)  # what serve checks before starting workers
    finally:
        first.close(), second.close()
    check_free("127.0.0.1", port)
