"""Fixtures for the hardening tests: fresh scripted backends, proxies with their own settings (in-thread
or as a real subprocess), YAML configuration files, and bounded waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from tests.conftest import ServedProxy, make_settings
from tests.support.fake_backend import FakeBackend, free_port
from tests.support.processes import proxy_command, stop_process, wait_answering

TRACEBACK_MARKERS = ("Traceback", 'File "', "site-packages", '.py", line')
MODELS = [{"id": "test-model", "object": "model", "owned_by": "test", "created": 1700000000}]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "soak: long-running load test (opt in: -m soak or OLLAMA_PROXY_SOAK=1)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = "soak" in (config.getoption("markexpr", "") or "") or os.environ.get("OLLAMA_PROXY_SOAK") == "1"
    if wanted:
        return
    skip = pytest.mark.skip(reason="soak test: run with -m soak (or OLLAMA_PROXY_SOAK=1)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is truthy or ``timeout`` seconds passed; never waits unbounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def assert_ollama_error(response: httpx.Response, status: int | None = None) -> str:
    """The response is an Ollama error: exactly ``{"error": <str>}``, no traceback; returns the message."""
    if status is not None:
        assert response.status_code == status, (response.status_code, response.text)
    assert response.status_code >= 400, response.text
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str), body
    assert body["error"], body
    for marker in TRACEBACK_MARKERS:
        assert marker not in body["error"], body
    return str(body["error"])


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    """The NDJSON objects of a streamed answer (every line a JSON object, no blank lines)."""
    raw = response.content.split(b"\n")
    assert raw[-1] == b"", response.content[-200:]
    objects = [orjson.loads(line) for line in raw[:-1]]
    assert all(isinstance(o, dict) for o in objects)
    return objects


def proxy_clients(served: ServedProxy) -> list[Any]:
    """The BackendClient objects of an in-thread proxy (to check that no slot leaked)."""
    app: Any = served.server.config.app
    return list(app.state.proxy.clients)


def assert_no_leak(served: ServedProxy, *backends: FakeBackend, timeout: float = 5.0) -> None:
    """Every backend request ended, and the proxy holds no concurrency slot any more."""
    for fake in backends:
        assert wait_until(lambda f=fake: f.active == 0, timeout), f"backend still answering: {fake.active}"
    assert wait_until(lambda: all(c.in_flight == 0 for c in proxy_clients(served)), timeout), [
        c.in_flight for c in proxy_clients(served)
    ]


@pytest.fixture
def new_backend() -> Iterator[Callable[..., FakeBackend]]:
    """Start fresh scripted backends (stopped after the test)."""
    started: list[FakeBackend] = []

    def start(models: list[dict[str, Any]] | None = None) -> FakeBackend:
        fake = FakeBackend(models=models if models is not None else list(MODELS)).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def backend_serving(models: list[dict[str, Any]]) -> Iterator[FakeBackend]:
    """A scripted backend listing ``models``, for a fixture to yield from (stopped after it)."""
    fake = FakeBackend(models=list(models)).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def module_backend() -> Iterator[FakeBackend]:
    """One scripted backend for a whole test module."""
    yield from backend_serving(MODELS)


@pytest.fixture(scope="module")
def module_proxy(module_backend: FakeBackend) -> Iterator[ServedProxy]:
    """One proxy in front of ``module_backend`` for a whole test module (generic profile)."""
    served = ServedProxy(make_settings(module_backend.url, backend_profile="generic")).start()
    yield served
    served.stop()


@pytest.fixture
def new_proxy() -> Iterator[Callable[..., ServedProxy]]:
    """Start a proxy in this process (real socket, Uvicorn in a thread) with its own settings."""
    started: list[ServedProxy] = []

    def start(backend_url: str, **overrides: Any) -> ServedProxy:
        overrides.setdefault("backend_profile", "generic")
        served = ServedProxy(make_settings(backend_url, **overrides)).start()
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Write a YAML configuration file (OLLAMA_PROXY_CONFIG) and return its path."""

    def write(content: dict[str, Any]) -> Path:
        path = tmp_path / f"config-{len(list(tmp_path.glob('config-*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump(content), encoding="utf-8")
        return path

    return write


def backend_entry(fake: FakeBackend, name: str = "main", **extra: Any) -> dict[str, Any]:
    return {"name": name, "base_url": fake.url, "profile": "generic", **extra}


class ProxyProcess:
    """The proxy as a real subprocess (``python -m ollama_openai_proxy``), stderr captured to a file."""

    def __init__(self, env: dict[str, str], args: list[str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "OPENAI_"))}
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        full_env["OLLAMA_PROXY_STATE_DIR"] = str(log_path.parent)  # the store, never the user's home
        full_env.update(env)
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            proxy_command(self.port, *args),
            env=full_env,
            cwd=log_path.parent,  # no stray .env file
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 20.0) -> ProxyProcess:
        wait_answering(self.proc, f"{self.url}/health", self.log, "proxy", timeout)
        return self

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_objects(self) -> list[dict[str, Any]]:
        out = []
        for text in self.log().splitlines():
            try:
                obj = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        stop_process(self.proc, 15)
        self._log.close()


@pytest.fixture
def proxy_process(tmp_path: Path) -> Iterator[Callable[..., ProxyProcess]]:
    """Start the proxy as a subprocess with the given environment (stopped after the test)."""
    started: list[ProxyProcess] = []

    def start(env: dict[str, str], *args: str) -> ProxyProcess:
        proc = ProxyProcess(env, list(args), tmp_path / f"proxy-{len(started)}.log")
        started.append(proc)
        return proc.wait_ready()

    yield start
    for proc in started:
        proc.stop()
