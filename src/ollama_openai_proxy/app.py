"""The ASGI application: builds the state, mounts the routes, and renders every error as Ollama does."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ollama_openai_proxy import __version__
from ollama_openai_proxy.backends.catalog import Catalog
from ollama_openai_proxy.backends.client import BackendClient, close_all
from ollama_openai_proxy.config import Settings, load_settings
from ollama_openai_proxy.routes import inference, meta, models, openai
from ollama_openai_proxy.routes.common import json_response
from ollama_openai_proxy.state import ProxyState
from ollama_openai_proxy.translate.errors import ProxyError

log = logging.getLogger("ollama_openai_proxy")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    clients = [BackendClient(b) for b in settings.backends()]
    state = ProxyState(
        settings=settings,
        clients=clients,
        catalog=Catalog(clients, settings.models_ttl, settings.file_config()),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The first listing is fetched in the background so start-up never waits on a backend.
        refresher = asyncio.create_task(_keep_listings_fresh(state.catalog))
        yield
        refresher.cancel()
        await close_all(clients)

    app = FastAPI(
        title="ollama-openai-proxy",
        version=__version__,
        description="The Ollama HTTP API served from OpenAI-compatible backends.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.proxy = state
    for module in (meta, models, inference, openai):
        app.include_router(module.router)
    _install_error_handlers(app)
    return app


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
        if isinstance(exc, openai.OpenAIError):
            return json_response(openai.openai_error_body(exc.status, exc.message), status=exc.status)
        return json_response({"error": exc.message}, status=exc.status)

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
