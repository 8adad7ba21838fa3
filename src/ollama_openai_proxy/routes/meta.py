"""Liveness and identity: ``/``, ``/api/version``, ``/api/status``, ``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ollama_openai_proxy import OLLAMA_COMPAT_VERSION, __version__
from ollama_openai_proxy.observability import metrics_text
from ollama_openai_proxy.routes.common import get_and_head, json_response
from ollama_openai_proxy.shutdown import DRAIN
from ollama_openai_proxy.state import get_state

router = APIRouter()


@get_and_head(router, "/")
async def root() -> Response:
    return PlainTextResponse("Ollama is running")


@get_and_head(router, "/api/version")
async def version(request: Request) -> Response:
    reported = get_state(request).settings.reported_version or OLLAMA_COMPAT_VERSION
    return json_response({"version": reported})


@router.get("/api/status")
async def status() -> Response:
    """Ollama's cloud switch. This server offers no Ollama cloud models: cloud is off, by its own
    configuration."""
    return json_response({"cloud": {"disabled": True, "source": "config"}})


@get_and_head(router, "/health")
async def health() -> Response:
    """Liveness: answers without touching any backend."""
    return json_response({"status": "ok", "version": __version__})


@get_and_head(router, "/ready")
async def ready(request: Request) -> Response:
    """Readiness: ready once a backend answered its last listing. Reads the catalog's cached state
    (refreshed in the background), so probes never reach a backend. 503 once draining for shutdown."""
    if DRAIN.draining:
        return json_response({"status": "draining"}, status=503)
    backends = get_state(request).catalog.backends
    status = {
        b.client.name: "ok" if b.fetched_at and b.last_error is None else (b.last_error or "not checked yet")
        for b in backends
    }
    is_ready = any(b.fetched_at and (b.last_error is None or not b.listing_supported) for b in backends)
    return json_response(
        {"status": "ready" if is_ready else "not ready", "backends": status}, status=200 if is_ready else 503
    )


@router.get("/metrics")
async def metrics() -> Response:
    """Prometheus metrics (shared across Uvicorn workers when PROMETHEUS_MULTIPROC_DIR is set)."""
    return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)
