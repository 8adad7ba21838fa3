"""Shared fixtures: a scripted backend and the proxy served by a real Uvicorn on a free port."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from ollama_openai_proxy.app import create_app
from ollama_openai_proxy.config import Settings
from tests.support.fake_backend import FakeBackend, free_port
from tests.support.services import Postgres, postgres_or_skip


class ServedProxy:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> ServedProxy:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("proxy did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def make_settings(backend_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "OPENAI_BASE_URL": backend_url,
        "models_ttl": 0.0,
        "_env_file": None,
        # each proxy keeps its virtual models in a folder of its own, never the user's home
        "state_dir": tempfile.mkdtemp(prefix="oop-state-"),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def backend() -> Iterator[FakeBackend]:
    fake = FakeBackend(
        models=[
            {"id": "test-model", "object": "model", "owned_by": "test", "created": 1700000000},
            {"id": "org/Model-Name:free", "object": "model", "owned_by": "test"},
            {"id": "text-embedding-small", "object": "model", "owned_by": "test"},
            # Not a valid Ollama name (four path segments): listed under a readable alias.
            {"id": "accounts/fireworks/models/llama-v3p1-8b", "object": "model", "owned_by": "test"},
        ]
    ).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def proxy(backend: FakeBackend) -> Iterator[ServedProxy]:
    served = ServedProxy(make_settings(backend.url, backend_profile="llamacpp")).start()
    yield served
    served.stop()


@pytest.fixture
def fake(backend: FakeBackend) -> Iterator[FakeBackend]:
    backend.reset()
    yield backend
    backend.reset()


@pytest.fixture
def http(proxy: ServedProxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """One private PostgreSQL for the session (each test takes a fresh database on it)."""
    server = postgres_or_skip()
    yield server
    server.stop()


_databases = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty store: an SQLite file in a folder not created yet, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'dir' / 'store.db'}"
    server: Postgres = request.getfixturevalue("postgres_server")
    return server.create_database(f"test{next(_databases)}")
