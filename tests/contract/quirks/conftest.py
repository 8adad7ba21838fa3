"""The backend quirks corpus: a fresh scripted backend and proxy per scenario (what a proxy learns
about a backend must not leak between scenarios), driven by the official ollama client."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import ollama
import pytest

from tests.conftest import ServedProxy, make_settings
from tests.support.fake_backend import FakeBackend


@dataclass
class Quirky:
    """One scenario's backend (scripted, recording) and the proxy in front of it."""

    backend: FakeBackend
    proxy: ServedProxy

    @property
    def client(self) -> ollama.Client:
        return ollama.Client(host=self.proxy.url, timeout=30)

    def bodies(self, path: str = "chat/completions") -> list[dict[str, object]]:
        return [r.body for r in self.backend.received(path)]


@pytest.fixture
def quirky() -> Iterator[Callable[..., Quirky]]:
    started: list[Quirky] = []

    def start(
        profile: str = "generic", models: list[dict[str, Any]] | None = None, **settings: object
    ) -> Quirky:
        backend = FakeBackend(models).start()
        proxy = ServedProxy(make_settings(backend.url, backend_profile=profile, **settings)).start()
        started.append(Quirky(backend, proxy))
        return started[-1]

    yield start
    for q in started:
        q.proxy.stop()
        q.backend.stop()


@pytest.fixture
def shared(fake: FakeBackend, proxy: ServedProxy, generic_proxy: ServedProxy) -> Callable[[str], Quirky]:
    """The session's backend behind its llama.cpp or generic proxy: for scenarios with nothing to
    learn (faster than a fresh pair)."""
    return lambda profile: Quirky(fake, proxy if profile == "llamacpp" else generic_proxy)


@pytest.fixture
def proxy_log() -> Iterator[list[str]]:
    """The proxy's log messages (its own logger), as the in-thread proxies emit them."""
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("ollama_openai_proxy")
    handler = Keep(logging.DEBUG)
    level = logger.level
    logger.setLevel(logging.DEBUG)  # whatever level the last proxy started in this process set on the root
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)
    logger.setLevel(level)
