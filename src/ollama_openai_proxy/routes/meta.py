"""Liveness and identity: ``/``, ``/api/version``, ``/api/status``, ``/health``, ``/ready`` and ``/metrics``."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ollama_openai_proxy import OLLAMA_COMPAT_VERSION, __version__
from ollama_openai_proxy.backends.catalog import CatalogBackend
from ollama_openai_proxy.observability import context_of, metrics_text
from ollama_openai_proxy.redaction import redact
from ollama_openai_proxy.routes import route
from ollama_openai_proxy.routes.common import json_response
from ollama_openai_proxy.shutdown import DRAIN
from ollama_openai_proxy.state import get_state


async def root(request: Request) -> Response:
    return PlainTextResponse("Ollama is running")


async def version(request: Request) -> Response:
    reported = get_state(request).settings.reported_version or OLLAMA_COMPAT_VERSION
    return json_response({"version": reported})


async def status(request: Request) -> Response:
    """Ollama's cloud switch. This server offers no Ollama cloud models: cloud is off, by its own
    configuration."""
    return json_response({"cloud": {"disabled": True, "source": "config"}})


async def health(request: Request) -> Response:
    """Liveness: answers without touching any backend."""
    return json_response({"status": "ok", "version": __version__})


async def ready(request: Request) -> Response:
    """Readiness: ready once a backend answered its last listing request (a backend that keeps no
    listing counts: it answered). Reads the catalog's cached state (refreshed in the background),
    so probes never reach a backend. 503 once draining for shutdown."""
    if DRAIN.draining:
        return json_response({"status": "draining"}, status=503)
    backends = get_state(request).catalog.backends
    status = {b.client.name: _backend_status(b) for b in backends}
    is_ready = any(b.fetched_at and b.last_error is None for b in backends)
    return json_response(
        {"status": "ready" if is_ready else "not ready", "backends": status}, status=200 if is_ready else 503
    )


def _backend_status(backend: CatalogBackend) -> str:
    if not backend.fetched_at:
        return "not checked yet"
    if backend.last_error is not None:
        return redact(backend.last_error)
    return "ok" if backend.listing_supported else "ok (no model listing: serving its configured models)"


async def metrics(request: Request) -> Response:
    """Prometheus metrics (shared across Uvicorn workers when PROMETHEUS_MULTIPROC_DIR is set)."""
    ctx = context_of(request.scope)
    visible = None if ctx.allowed_models is None else ctx.allows  # a restricted key sees its models only
    return Response(metrics_text(visible), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    route("/", root, "GET"),
    route("/api/version", version, "GET"),
    route("/api/status", status, "GET"),
    route("/health", health, "GET"),
    route("/ready", ready, "GET"),
    route("/metrics", metrics, "GET"),
]
