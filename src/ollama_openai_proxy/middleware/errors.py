"""Every error of every route, rendered and recorded here: Ollama's ``{"error": ...}`` (OpenAI's
envelope on the /v1 routes), a logged 500 for anything unexpected."""

from __future__ import annotations

import asyncio
import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ollama_openai_proxy.backends.client import draining
from ollama_openai_proxy.observability import context_of
from ollama_openai_proxy.redaction import redact
from ollama_openai_proxy.translate.errors import OpenAIError, ProxyError, openai_error_body

log = logging.getLogger("ollama_openai_proxy")

JSON_TYPE = "application/json; charset=utf-8"
SHUTDOWN_MESSAGE = "the proxy is shutting down; retry the request"
# Starlette's router texts, as Go's net/http words them (what Ollama answers).
_ROUTER_TEXT = {404: "404 page not found", 405: "405 method not allowed"}


def error_response(exc: ProxyError, headers: dict[str, str] | None = None, body: bool = True) -> Response:
    """Ollama's ``{"error": ...}``, or OpenAI's envelope for an OpenAIError."""
    if not body:
        return Response(b"", status_code=exc.status, headers=headers)
    message = redact(exc.message)
    content = openai_error_body(exc.status, message) if isinstance(exc, OpenAIError) else {"error": message}
    return Response(orjson.dumps(content), status_code=exc.status, media_type=JSON_TYPE, headers=headers)


def unexpected(scope: Scope, exc: Exception) -> ProxyError:
    """An exception no code path expected: logged with its traceback, answered as a plain 500 (in
    OpenAI's envelope on the /v1 routes)."""
    path = str(scope.get("path", ""))
    log.exception("unhandled error on %s %s", scope.get("method"), path, exc_info=exc)
    kind = OpenAIError if path.startswith("/v1/") else ProxyError
    return kind(500, f"internal proxy error ({type(exc).__name__})")


async def router_error(request: Request, exc: Exception) -> Response:
    """The router's own 404/405 (Starlette's HTTPException), in Ollama's words."""
    assert isinstance(exc, HTTPException)
    text = _ROUTER_TEXT.get(exc.status_code, str(exc.detail))
    return error_response(ProxyError(exc.status_code, text), headers=dict(exc.headers or {}))


class ErrorMiddleware:
    """The one place an exception from a route becomes an answer. After the answer has started
    there is nothing left to render: the error is recorded and the connection closed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            # Shutting down, the server cancels what is still running: a request with no answer
            # yet gets Ollama's error shape (not the server's bare text 500); its task ends here.
            ctx = context_of(scope)
            if ctx.status or not draining():
                raise
            ctx.error = SHUTDOWN_MESSAGE
            kind = OpenAIError if str(scope.get("path", "")).startswith("/v1/") else ProxyError
            await error_response(kind(503, SHUTDOWN_MESSAGE), headers={"Connection": "close"})(
                scope, receive, send
            )
            raise
        except Exception as exc:
            error = exc if isinstance(exc, ProxyError) else unexpected(scope, exc)
            ctx = context_of(scope)
            ctx.error = error.message
            if ctx.status:  # the answer has started: too late for another one
                raise
            # The body was not all read (too large, too slow): the connection cannot be reused.
            headers = {"Connection": "close"} if error.status in (408, 413) else None
            await error_response(error, headers=headers)(scope, receive, send)
