"""The ASGI application: builds the state, mounts the routes, and renders every error as Ollama does."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from ollama_openai_proxy import __version__
from ollama_openai_proxy.backends.catalog import Catalog
from ollama_openai_proxy.backends.client import BackendClient, close_all
from ollama_openai_proxy.backends.limiter import SharedSlots
from ollama_openai_proxy.backends.limiter import connect as connect_redis
from ollama_openai_proxy.config import Settings, load_settings
from ollama_openai_proxy.middleware import Endpoint, ProxyMiddleware, error_response
from ollama_openai_proxy.observability import configure_logging, count_retry
from ollama_openai_proxy.routes import dialects, inference, meta, models, openai
from ollama_openai_proxy.routes.common import context, json_response
from ollama_openai_proxy.shutdown import DrainMiddleware, install_drain_on_signals
from ollama_openai_proxy.state import ProxyState
from ollama_openai_proxy.store.database import DB_NAME, Database, sqlite_url
from ollama_openai_proxy.store.loaded import LoadedModels
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.virtual.registry import VirtualModels, default_state_dir
from ollama_openai_proxy.virtual.spec import from_create_request
from ollama_openai_proxy.virtual.store import SQLStore

log = logging.getLogger("ollama_openai_proxy")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)
    clients = [BackendClient(b) for b in settings.backends()]
    shared = share_limits(settings, clients)
    database = Database(database_url(settings))
    virtual = virtual_models(settings, database)
    state = ProxyState(
        settings=settings,
        clients=clients,
        catalog=Catalog(clients, settings.models_ttl, settings.file_config(), virtual),
        recent=LoadedModels(database),
        database=database,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The first listing is fetched in the background so start-up never waits on a backend.
        install_drain_on_signals(settings.drain_delay, settings.shutdown_grace)
        refresher = asyncio.create_task(_keep_listings_fresh(state.catalog))
        await _open_store(database)
        yield
        refresher.cancel()
        await close_all(clients)
        for slots in shared:
            await slots.close()
        await state.recent.close()
        await virtual.close()
        await database.dispose()

    app = FastAPI(
        title="ollama-openai-proxy",
        version=__version__,
        description="The Ollama HTTP API served from OpenAI-compatible backends.",
        lifespan=lifespan,
        # Metrics are Prometheus's (observability.py); FastAPI's own OpenTelemetry hooks would
        # look up the global providers on every request for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.proxy = state
    for module in (meta, models, inference, openai, dialects):
        app.include_router(module.router)
    _install_error_handlers(app)
    for client in clients:
        client.on_retry = lambda c, status: count_retry(c.name, status)
    app.add_middleware(
        ProxyMiddleware,
        settings=settings,
        fast_routes=hot_routes(inference.router, openai.router, dialects.router),
    )
    origins = cors_origins(settings.origins)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"] if "*" in origins else [],
        allow_origin_regex=None if "*" in origins else origin_regex(origins),
        allow_methods=["*"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "User-Agent",
            "Accept",
            "X-Requested-With",
            "OpenAI-Beta",
            "X-Request-ID",
            "x-api-key",
            "anthropic-version",
            "anthropic-beta",
            "anthropic-dangerous-direct-browser-access",
            "x-stainless-*",
        ],
        expose_headers=["X-Request-ID", "X-Ollama-Proxy-Ignored"],
    )
    app.add_middleware(DrainMiddleware)
    return app


HOT_PATHS = frozenset(
    {
        "/api/chat",
        "/api/generate",
        "/api/embed",
        "/api/embeddings",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/messages",
        "/v1/responses",
    }
)


def hot_routes(*routers: APIRouter) -> dict[tuple[str, str], Endpoint]:
    """The POST endpoints ProxyMiddleware calls directly (they take the Request and return a Response)."""
    routes: dict[tuple[str, str], Endpoint] = {}
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path in HOT_PATHS and "POST" in (route.methods or ()):
                routes[("POST", route.path)] = route.endpoint
    return routes


# Ollama's built-in allowed origins; OLLAMA_ORIGINS adds to them (comma-separated, "*" wildcards).
DEFAULT_ORIGINS = [
    f"{scheme}://{host}{port}"
    for scheme in ("http", "https")
    for host in ("localhost", "127.0.0.1", "0.0.0.0", "[::1]")
    for port in ("", ":*")
] + ["app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"]


def cors_origins(extra: str) -> list[str]:
    return DEFAULT_ORIGINS + [o.strip() for o in extra.split(",") if o.strip()]


def origin_regex(origins: list[str]) -> str:
    return "^(" + "|".join(re.escape(o).replace(r"\*", ".*") for o in origins) + ")$"


def share_limits(settings: Settings, clients: list[BackendClient]) -> list[SharedSlots]:
    """With OLLAMA_PROXY_REDIS_URL, each backend's max_concurrency holds across every replica."""
    if settings.redis_url is None:
        return []
    redis = connect_redis(settings.redis_url.get_secret_value())
    for client in clients:
        if client.config.max_concurrency:
            client.shared_slots = SharedSlots(redis, client.name, client.config.max_concurrency)
    return [c.shared_slots for c in clients if c.shared_slots is not None]


def database_url(settings: Settings) -> str:
    """OLLAMA_PROXY_DATABASE_URL, or an SQLite file in the state directory."""
    if settings.database_url:
        return settings.database_url
    return sqlite_url((settings.state_dir or default_state_dir(settings.config)) / DB_NAME)


def virtual_models(settings: Settings, database: Database) -> VirtualModels:
    """Models declared in the configuration file (read-only, the same in every replica) over those
    created through /api/create, kept in the shared store."""
    file = settings.file_config()
    declared = [from_create_request(spec) for spec in (file.virtual_models if file else [])]
    return VirtualModels(declared, SQLStore(database))


async def _open_store(database: Database) -> None:
    """Migrate at start-up. A store that is not there yet (an SQLite file nobody wrote to, a database
    still starting) is not fatal: plain backend models never need it, and it is retried on first use."""
    if not database.exists():
        return
    try:
        await database.ensure_ready()
    except ProxyError as exc:
        log.warning("%s; retrying on first use", exc.message)


async def _keep_listings_fresh(catalog: Catalog) -> None:
    """Refresh model listings in the background so requests never wait on a slow backend's /models."""
    while True:
        try:
            await catalog.refresh()
        except Exception:  # a listing failure is recorded per backend; this loop must survive anything
            log.exception("refreshing model listings failed")
        await asyncio.sleep(max(catalog.ttl, 5.0))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProxyError)
    async def proxy_error(request: Request, exc: ProxyError) -> Response:
        context(request).error = exc.message
        return error_response(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        text = {404: "404 page not found", 405: "405 method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        return json_response({"error": text}, status=exc.status_code, headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        return json_response({"error": str(first.get("msg"))}, status=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return json_response({"error": f"internal proxy error ({type(exc).__name__})"}, status=500)
