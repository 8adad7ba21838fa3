"""Running the app under Uvicorn, and ending open streams cleanly when a shutdown signal arrives."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
from types import FrameType
from typing import Any

import uvicorn

from ollama_openai_proxy.backends.client import begin_drain


def install_drain_on_signals(grace: float) -> None:
    """Chain onto Uvicorn's SIGTERM/SIGINT handlers: besides stopping the server, give open streams
    ``grace`` seconds and then end each with a final ``{"error": ...}`` line instead of cutting it."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            loop.call_soon_threadsafe(begin_drain, grace)
            if callable(previous):
                previous(signum, frame)

        with contextlib.suppress(ValueError):  # not the main thread (an embedded server): nothing to chain
            signal.signal(sig, handler)


def serve(host: str, port: int, workers: int, log_level: str, grace: float) -> int:
    # Workers inherit the environment: the app reads its listen address (for the DNS-rebinding
    # guard) from OLLAMA_HOST, and metrics are shared through a multiprocess directory.
    os.environ["OLLAMA_HOST"] = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ollama-openai-proxy-metrics-")
    uvicorn.run(
        "ollama_openai_proxy.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=int(grace) + 5,
        http="ollama_openai_proxy.connections:GuardedProtocol",  # header timeout, connection cap
    )
    return 0
