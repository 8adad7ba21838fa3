"""Helpers shared by the e2e tests (kept out of conftest.py so test modules can import them)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def wait_until_idle(backend: httpx.Client, timeout: float = 8.0) -> list[dict[str, Any]]:
    """Poll llama-server's ``GET /slots`` until no slot is processing; return the last listing."""
    deadline = time.monotonic() + timeout
    slots: list[dict[str, Any]] = backend.get("/slots").json()
    while any(s.get("is_processing") for s in slots) and time.monotonic() < deadline:
        time.sleep(0.2)
        slots = backend.get("/slots").json()
    return slots


def busy_slots(backend: httpx.Client) -> list[int]:
    return [int(s["id"]) for s in backend.get("/slots").json() if s.get("is_processing")]
