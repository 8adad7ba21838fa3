"""HTTP routes: thin handlers that parse the request and hand it to the serving layer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

Handler = Callable[[Request], Awaitable[Response]]


class ProxyRoute(Route):
    """A plain Starlette route that also names itself in the scope (``scope["route"]``), so the
    access log and metrics label a request by its route template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


def route(path: str, endpoint: Handler, *methods: str) -> ProxyRoute:
    """``path`` served by ``endpoint`` for ``methods`` (GET includes HEAD, as in Starlette)."""
    return ProxyRoute(path, endpoint, methods=list(methods))


def all_routes() -> list[BaseRoute]:
    """Every route of the app, the inference routes first: the router tries them in order."""
    from ollama_openai_proxy.routes import dialects, inference, meta, models, openai, schema

    tables: Sequence[Sequence[BaseRoute]] = (
        inference.ROUTES,
        openai.ROUTES,
        dialects.ROUTES,
        models.ROUTES,
        meta.ROUTES,
        schema.ROUTES,
    )
    return [r for table in tables for r in table]
