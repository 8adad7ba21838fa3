"""Probes, Prometheus metrics, request ids, the JSON access log, and keeping secrets out of logs and errors."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServedProxy
from tests.hardening.conftest import ProxyProcess, assert_ollama_error, backend_entry, lines, wait_until
from tests.support.fake_backend import FakeBackend, Reply, free_port, text_stream

CHAT = "chat/completions"


def chat_body(stream: bool, model: str = "test-model", content: str = "hi") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": content}], "stream": stream}


def samples(url: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.fixture
def fake(new_backend: Callable[..., FakeBackend]) -> FakeBackend:
    return new_backend()


# --- probes ------------------------------------------------------------------------------------------


def test_health_and_ready_never_touch_the_backend(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy]
) -> None:
    served = new_proxy(fake.url, models_ttl=60.0)
    assert wait_until(lambda: httpx.get(f"{served.url}/ready", timeout=5).status_code == 200, 10)
    fake.reset()
    for _ in range(20):
        assert httpx.get(f"{served.url}/health", timeout=5).json()["status"] == "ok"
        assert httpx.head(f"{served.url}/health", timeout=5).status_code == 200
        assert httpx.get(f"{served.url}/ready", timeout=5).status_code == 200
    assert fake.requests == []


def test_health_answers_when_the_backend_is_down(new_proxy: Callable[..., ServedProxy]) -> None:
    served = new_proxy(f"http://127.0.0.1:{free_port()}/v1")
    assert httpx.get(f"{served.url}/health", timeout=5).status_code == 200


def test_ready_is_503_when_no_backend_is_reachable(
    new_backend: Callable[..., FakeBackend],
    new_proxy: Callable[..., ServedProxy],
    config_file: Callable[[dict[str, Any]], Path],
) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    path = config_file(
        {
            "backends": [
                {"name": "a", "base_url": down},
                {"name": "b", "base_url": down.replace("/v1", "/x/v1")},
            ]
        }
    )
    served = new_proxy(down, config=path, models_ttl=60.0)
    response = httpx.get(f"{served.url}/ready", timeout=5)
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert wait_until(lambda: "unreachable" in str(httpx.get(f"{served.url}/ready", timeout=5).json()), 10)
    assert httpx.get(f"{served.url}/ready", timeout=5).status_code == 503
    assert httpx.get(f"{served.url}/health", timeout=5).status_code == 200


def test_ready_is_200_when_one_backend_listed(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], config_file: Callable[[dict[str, Any]], Path]
) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    path = config_file({"backends": [{"name": "down", "base_url": down}, backend_entry(fake, "up")]})
    served = new_proxy(fake.url, config=path, models_ttl=60.0)
    assert wait_until(lambda: httpx.get(f"{served.url}/ready", timeout=5).status_code == 200, 10)
    body = httpx.get(f"{served.url}/ready", timeout=5).json()
    assert body["backends"]["up"] == "ok"
    assert body["backends"]["down"] != "ok"


# --- metrics -----------------------------------------------------------------------------------------


def test_metrics_count_requests_tokens_ttft_and_retries(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], config_file: Callable[[dict[str, Any]], Path]
) -> None:
    # In-process proxies share one registry: unique backend and model names keep this test's series apart.
    name = f"m{uuid.uuid4().hex[:8]}"
    path = config_file(
        {
            "backends": [backend_entry(fake, name)],
            "aliases": {f"{name}-model": {"model": "test-model", "backend": name}},
        }
    )
    served = new_proxy(fake.url, config=path, models_ttl=60.0)
    model = f"{name}-model:latest"
    fake.enqueue(CHAT, Reply(503, json={"error": "busy"}))  # one retried request
    for stream in (False, False, True, True, True):
        assert (
            httpx.post(f"{served.url}/api/chat", json=chat_body(stream, model), timeout=20).status_code == 200
        )
    assert httpx.post(f"{served.url}/api/chat", json=chat_body(False, "nope"), timeout=20).status_code == 404
    url = served.url
    assert (
        samples(
            url, "ollama_proxy_requests_total", route="/api/chat", model=model, backend=name, status="200"
        )
        == 5
    )
    usage = list(fake.received(CHAT))
    assert len(usage) == 6  # five answers and the retried 503
    assert samples(url, "ollama_proxy_tokens_total", kind="prompt", backend=name) == 5 * 7
    assert samples(url, "ollama_proxy_tokens_total", kind="completion", backend=name) == 5 * 5
    assert samples(url, "ollama_proxy_time_to_first_token_seconds_count", route="/api/chat", model=model) == 3
    assert samples(url, "ollama_proxy_retries_total", backend=name, status="503") == 1
    assert samples(url, "ollama_proxy_request_duration_seconds_count", route="/api/chat") >= 6
    assert samples(url, "ollama_proxy_in_flight_requests") >= 1  # the /metrics request itself


def test_metrics_count_backend_errors(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], config_file: Callable[[dict[str, Any]], Path]
) -> None:
    name = f"e{uuid.uuid4().hex[:8]}"
    served = new_proxy(fake.url, config=config_file({"backends": [backend_entry(fake, name, retries=0)]}))
    fake.enqueue(CHAT, Reply(500, json={"error": "boom"}))
    assert httpx.post(f"{served.url}/api/chat", json=chat_body(False), timeout=20).status_code == 502
    assert samples(served.url, "ollama_proxy_backend_errors_total", backend=name, status="502") == 1
    assert (
        samples(served.url, "ollama_proxy_requests_total", route="/api/chat", backend=name, status="502") == 1
    )


# --- request ids ---------------------------------------------------------------------------------------


def test_request_id_is_echoed_or_generated(fake: FakeBackend, new_proxy: Callable[..., ServedProxy]) -> None:
    served = new_proxy(fake.url)
    for path in ("/api/version", "/api/tags", "/health", "/nope"):
        sent = httpx.get(served.url + path, headers={"X-Request-ID": "trace-abc-123"}, timeout=10)
        assert sent.headers["x-request-id"] == "trace-abc-123"
        made = httpx.get(served.url + path, timeout=10)
        assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"]), made.headers
    streamed = httpx.post(
        f"{served.url}/api/chat", json=chat_body(True), headers={"X-Request-ID": "s-1"}, timeout=20
    )
    assert streamed.headers["x-request-id"] == "s-1"
    error = httpx.post(f"{served.url}/api/chat", content=b"{", headers={"X-Request-ID": "e-1"}, timeout=20)
    assert error.status_code == 400
    assert error.headers["x-request-id"] == "e-1"
    ids = {httpx.get(f"{served.url}/api/version", timeout=10).headers["x-request-id"] for _ in range(10)}
    assert len(ids) == 10


# --- access log, and secrets kept out of logs and errors --------------------------------------------------

PROMPT_SECRET = "PINEAPPLE-prompt-secret-4242"
INBOUND_KEY = "inbound-KEY-secret-777777"
BACKEND_KEY = "sk-backendSECRET0123456789abcdef"


@pytest.fixture
def logged(fake: FakeBackend, proxy_process: Callable[..., ProxyProcess]) -> ProxyProcess:
    env = {
        "OPENAI_BASE_URL": fake.url,
        "OPENAI_API_KEY": BACKEND_KEY,
        "OLLAMA_PROXY_API_KEYS": INBOUND_KEY,
        "OLLAMA_PROXY_BACKEND_PROFILE": "generic",
        "OLLAMA_PROXY_LOG_LEVEL": "debug",  # the most verbose level must not leak either
    }
    return proxy_process(env)


def test_one_access_log_line_per_request(fake: FakeBackend, logged: ProxyProcess) -> None:
    auth = {"Authorization": f"Bearer {INBOUND_KEY}"}
    sent: dict[str, tuple[str, bool]] = {}
    for i, stream in enumerate([False, True, False, True]):
        rid = f"req-{i}-{uuid.uuid4().hex[:6]}"
        sent[rid] = ("/api/chat", stream)
        body = chat_body(stream, content=f"{PROMPT_SECRET} number {i}")
        response = httpx.post(
            f"{logged.url}/api/chat", json=body, headers={**auth, "X-Request-ID": rid}, timeout=20
        )
        assert response.status_code == 200
    rid = "req-embed"
    response = httpx.post(
        f"{logged.url}/api/embed",
        json={"model": "test-model", "input": PROMPT_SECRET},
        headers={**auth, "X-Request-ID": rid},
        timeout=20,
    )
    assert response.status_code == 200
    unauthorized = httpx.get(f"{logged.url}/api/tags", headers={"X-Request-ID": "req-401"}, timeout=10)
    assert unauthorized.status_code == 401

    def entries() -> list[dict[str, Any]]:
        return [o for o in logged.log_objects() if o.get("event") == "request"]

    assert wait_until(lambda: any(e.get("request_id") == "req-401" for e in entries()), 5)
    by_id: dict[str, list[dict[str, Any]]] = {}
    for entry in entries():
        by_id.setdefault(entry["request_id"], []).append(entry)
    for rid, (route, _stream) in sent.items():
        assert len(by_id[rid]) == 1, by_id.get(rid)
        entry = by_id[rid][0]
        assert entry["route"] == route
        assert entry["model"] == "test-model:latest"
        assert entry["backend"] == "default"
        assert entry["status"] == 200
        assert entry["duration_ms"] > 0
        assert entry["prompt_tokens"] == 7
        assert entry["completion_tokens"] == 5
        assert entry["level"] == "info"
        assert "timestamp" in entry
    streamed = [by_id[r][0] for r, (_, s) in sent.items() if s]
    assert all(e["ttft_ms"] and e["ttft_ms"] > 0 for e in streamed)
    assert by_id["req-embed"][0]["route"] == "/api/embed"
    assert by_id["req-401"][0]["status"] == 401


def test_no_prompt_or_key_in_any_log_line(fake: FakeBackend, logged: ProxyProcess) -> None:
    auth = {"Authorization": f"Bearer {INBOUND_KEY}"}
    # Successful calls, a failing backend that echoes keys, a broken stream, a bad request and a bad key.
    for stream in (False, True):
        assert (
            httpx.post(
                f"{logged.url}/api/chat",
                json=chat_body(stream, content=PROMPT_SECRET),
                headers=auth,
                timeout=20,
            ).status_code
            == 200
        )
    # (What a backend echoes is its business: only keys are scrubbed from it, so it echoes no prompt here.)
    echo = f"Incorrect API key provided: {BACKEND_KEY}. Bearer {INBOUND_KEY}."
    fake.handler = lambda rec: (
        Reply(500, json={"error": {"message": echo}}) if rec.path.endswith(CHAT) else None
    )
    failed = httpx.post(
        f"{logged.url}/api/chat", json=chat_body(False, content=PROMPT_SECRET), headers=auth, timeout=20
    )
    assert failed.status_code == 502
    fake.handler = None
    fake.enqueue(CHAT, Reply(events=[*text_stream("partial")[:2], {"error": {"message": echo}}]))
    httpx.post(
        f"{logged.url}/api/chat", json=chat_body(True, content=PROMPT_SECRET), headers=auth, timeout=20
    )
    fake.enqueue(CHAT, Reply(events=["not json"]))
    httpx.post(
        f"{logged.url}/api/chat", json=chat_body(True, content=PROMPT_SECRET), headers=auth, timeout=20
    )
    httpx.post(
        f"{logged.url}/api/chat",
        json={"model": "test-model", "messages": PROMPT_SECRET},
        headers=auth,
        timeout=20,
    )
    httpx.post(
        f"{logged.url}/api/generate",
        json={
            "model": "test-model",
            "prompt": PROMPT_SECRET,
            "options": {"num_ctx": 4096, "bogus": PROMPT_SECRET},
        },
        headers=auth,
        timeout=20,
    )
    httpx.get(f"{logged.url}/api/tags", headers={"Authorization": f"Bearer {INBOUND_KEY}-wrong"}, timeout=10)
    time.sleep(0.3)
    log = logged.log()
    assert "request" in log
    for secret in (PROMPT_SECRET, INBOUND_KEY, BACKEND_KEY, BACKEND_KEY[8:]):
        offending = [line for line in log.splitlines() if secret in line]
        assert not offending, f"{secret!r} logged: {offending[:3]}"


ECHOED_KEY = "sk-proj-ABCDEF0123456789secretsecret"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500, 503])
@pytest.mark.parametrize(
    "path", ["/api/chat", "/api/generate", "/api/embed", "/v1/chat/completions", "/v1/embeddings"]
)
def test_backend_errors_echoing_a_key_are_redacted(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy], status: int, path: str
) -> None:
    served = new_proxy(fake.url, OPENAI_API_KEY=ECHOED_KEY, models_ttl=60.0)
    message = f"Incorrect API key provided: {ECHOED_KEY}; header was Authorization: Bearer {ECHOED_KEY}"
    key = "embeddings" if "embed" in path else CHAT
    fake.handler = lambda rec: (
        Reply(status, json={"error": {"message": message}}) if rec.path.endswith(key) else None
    )
    body = {"model": "test-model", "stream": False, "messages": [{"role": "user", "content": "hi"}]}
    body |= {"prompt": "hi", "input": "hi"}
    response = httpx.post(served.url + path, json=body, timeout=20)
    assert response.status_code >= 400
    assert ECHOED_KEY not in response.text, response.text
    assert ECHOED_KEY[10:] not in response.text, response.text
    if not path.startswith("/v1"):
        assert "Incorrect API key" in assert_ollama_error(response)


def test_stream_error_event_echoing_a_key_is_redacted(
    fake: FakeBackend, new_proxy: Callable[..., ServedProxy]
) -> None:
    served = new_proxy(fake.url)
    message = f"upstream rejected key {ECHOED_KEY}"
    fake.enqueue(CHAT, Reply(events=[*text_stream("a")[:2], {"error": {"message": message}}]))
    objects = lines(httpx.post(f"{served.url}/api/chat", json=chat_body(True), timeout=20))
    assert set(objects[-1]) == {"error"}
    assert "upstream rejected key" in objects[-1]["error"]
    assert ECHOED_KEY not in objects[-1]["error"]


# --- several workers -----------------------------------------------------------------------------------


def test_metrics_sum_across_workers(fake: FakeBackend, proxy_process: Callable[..., ProxyProcess]) -> None:
    env = {
        "OPENAI_BASE_URL": fake.url,
        "OLLAMA_PROXY_BACKEND_PROFILE": "generic",
        "OLLAMA_PROXY_LOG_LEVEL": "warning",
    }
    proc = proxy_process(env, "--workers", "2")
    n = 60

    def hit(_: int) -> int:
        with httpx.Client(timeout=20) as client:  # a new connection each time: spread over the workers
            return client.post(f"{proc.url}/api/chat", json=chat_body(False)).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(hit, range(n))) == [200] * n
    for _ in range(3):  # whichever worker answers /metrics, the totals are the same
        total = samples(proc.url, "ollama_proxy_requests_total", route="/api/chat", status="200")
        assert total == n
        assert samples(proc.url, "ollama_proxy_tokens_total", kind="completion") == n * 5


def test_log_bodies_switch_logs_redacted_request_bodies(
    fake: FakeBackend, proxy_process: Callable[..., ProxyProcess]
) -> None:
    proc = proxy_process(
        {
            "OPENAI_BASE_URL": fake.url,
            "OLLAMA_PROXY_BACKEND_PROFILE": "generic",
            "OLLAMA_PROXY_LOG_BODIES": "true",
        }
    )
    content = f"{PROMPT_SECRET} and my key {BACKEND_KEY}"
    response = httpx.post(
        f"{proc.url}/api/chat",
        json=chat_body(False, content=content),
        headers={"X-Request-ID": "bodylog"},
        timeout=20,
    )
    assert response.status_code == 200

    def entry() -> dict[str, Any] | None:
        return next((o for o in proc.log_objects() if o.get("request_id") == "bodylog"), None)

    assert wait_until(lambda: entry() is not None, 5)
    logged_body = entry()["body"]  # type: ignore[index]
    assert PROMPT_SECRET in logged_body  # the switch does log prompts: that is what it is for
    assert BACKEND_KEY not in logged_body  # but never keys
    assert "sk-backe" in logged_body
