"""Running the app under Uvicorn (the drain on a shutdown signal is in shutdown.py)."""

from __future__ import annotations

import os
import tempfile

import uvicorn


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
    )
    return 0
