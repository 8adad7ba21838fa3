"""Helpers shared by the e2e tests (kept out of conftest.py so test modules can import them)."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

MODEL = "smollm2"


@dataclass(frozen=True)
class LlamaBackend:
    url: str  # the OpenAI base URL, http://127.0.0.1:PORT/v1

    @property
    def root(self) -> str:
        """The server root, where llama-server's own routes (/slots, /health, /tokenize) live."""
        return self.url.removesuffix("/").removesuffix("/v1")


@dataclass(frozen=True)
class Proxy:
    url: str
    log: Path
    process: subprocess.Popen[bytes]


def backend_context_length(backend: httpx.Client) -> int:
    """The context one request may use, as llama-server itself reports it (``/props``).

    Per slot or the whole ``--ctx`` depends on the llama.cpp build and on ``--kv-unified``; the
    proxy's job is to report exactly what the backend says, so tests compare with this."""
    props = backend.get("/props").json()
    n_ctx = props["default_generation_settings"]["n_ctx"]
    assert isinstance(n_ctx, int), props
    assert n_ctx > 0, props
    return n_ctx


_REQUESTS_PROCESSING = re.compile(r"^llamacpp:requests_processing\s+(\S+)", re.MULTILINE)


def generating(backend: httpx.Client) -> int:
    """How many requests llama-server is generating for right now.

    ``GET /slots`` when the build serves it (some answer 501, or disable it), else the
    ``llamacpp:requests_processing`` gauge of ``GET /metrics`` (scripts/llama_backend.py starts
    the server with ``--metrics``); with neither, the test fails saying which is missing."""
    slots = backend.get("/slots")
    if slots.status_code == 200:
        listing = slots.json()
        if isinstance(listing, list) and all(isinstance(s, dict) for s in listing):
            return sum(1 for s in listing if s.get("is_processing"))
    metrics = backend.get("/metrics")
    found = _REQUESTS_PROCESSING.search(metrics.text) if metrics.status_code == 200 else None
    if found is None:
        raise AssertionError(
            f"llama-server shows no activity: GET /slots answered {slots.status_code} "
            f"({slots.text[:120]!r}), GET /metrics {metrics.status_code} without "
            "llamacpp:requests_processing; start it with --slots or --metrics"
        )
    return int(float(found[1]))


def wait_until_idle(backend: httpx.Client, timeout: float = 8.0) -> int:
    """Poll until llama-server generates for no request; return how many it still generates for."""
    deadline = time.monotonic() + timeout
    busy = generating(backend)
    while busy and time.monotonic() < deadline:
        time.sleep(0.2)
        busy = generating(backend)
    return busy
