"""Every error of every route, rendered and recorded here in the shape of the path's dialect:
Ollama's ``{"error": ...}``, OpenAI's envelope on /v1, Anthropic's on /v1/messages; a logged 500
for anything unexpected."""

from __future__ import annotations

import asyncio
import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from ollama_openai_proxy.backends.client import draining
from ollama_openai_proxy.middleware.base import HTTPMiddleware
from ollama_openai_proxy.observability import context_of
from ollama_openai_proxy.redaction import redact
from ollama_openai_proxy.translate.anthropic.errors import anthropic_error
from ollama_openai_proxy.translate.errors import INTERNAL_ERROR, OpenAIError, ProxyError, openai_error_body

log = logging.getLogger("ollama_openai_proxy")

JSON_TYPE = "application/json; charset=utf-8"
SHUTDOWN_MESSAGE = "the proxy is shutting down; retry the request"
# gin's router texts (Ollama's router), sent as text/plain.
_ROUTER_TEXT = {404: "404 page not found", 405: "405 method not allowed"}


def error_response(
    exc: ProxyError, scope: Scope | None = None, headers: dict[str, str] | None = None, body: bool = True
) -> Response:
    """The error in the shape of the dialect of ``scope``'s path (Ollama's without a scope; OpenAI's
    envelope for an OpenAIError anywhere)."""
    if not body:
        return Response(b"", status_code=exc.status, headers=headers)
    message = redact(exc.message)
    path = str(scope.get("path", "")) if scope is not None else ""
    content: object
    if is_anthropic(path):
        content = anthropic_error(exc.status, message, context_of(scope).request_id if scope else "")
    elif isinstance(exc, OpenAIError) or path.startswith("/v1/"):
        content = openai_error_body(exc.status, message)
    else:
        content = {"error": message}
    return Response(orjson.dumps(content), status_code=exc.status, media_type=JSON_TYPE, headers=headers)


def is_anthropic(path: str) -> bool:
    """Anthropic's Messages API (``/v1/messages`` and what lies under it)."""
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def unexpected(scope: Scope, exc: Exception) -> ProxyError:
    """An exception no code path expected: logged with its traceback, answered as a plain 500 (in
    the dialect's shape)."""
    path = str(scope.get("path", ""))
    log.exception("unhandled error on %s %s", scope.get("method"), path, exc_info=exc)
    return ProxyError(500, INTERNAL_ERROR.format(request_id=context_of(scope).request_id))


async def router_error(request: Request, exc: Exception) -> Response:
    """The router's own 404/405 (Starlette's HTTPException) in the path's dialect: OpenAI's envelope
    on /v1, Anthropic's on /v1/messages, elsewhere gin's plain text, as Ollama answers. A 405 names
    the allowed methods in ``Allow`` (as gin does)."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if "Allow" in headers:  # Starlette lists a route's methods in set order: a stable one instead
        headers["Allow"] = ", ".join(sorted(headers["Allow"].split(", ")))
    path = request.url.path
    if not path.startswith("/v1/"):
        text = _ROUTER_TEXT.get(exc.status_code, str(exc.detail))
        return PlainTextResponse(text, status_code=exc.status_code, headers=headers)
    if exc.status_code == 405:
        allowed = headers.get("Allow", "")
        message = f"method {request.method} is not allowed on {path}; use {allowed or 'another method'}"
    elif exc.status_code == 404:
        message = f"no such endpoint: {request.method} {path}"
    else:
        message = str(exc.detail)
    return error_response(ProxyError(exc.status_code, message), request.scope, headers=headers)


class ErrorMiddleware(HTTPMiddleware):
    """The one place an exception from a route becomes an answer. After the answer has started
    there is nothing left to render: the error is recorded and the connection closed."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            # Shutting down, the server cancels what is still running: a request with no answer
            # yet gets Ollama's error shape (not the server's bare text 500); its task ends here.
            ctx = context_of(scope)
            if ctx.status or not draining():
                raise
            ctx.error = SHUTDOWN_MESSAGE
            refusal = ProxyError(503, SHUTDOWN_MESSAGE)
            await error_response(refusal, scope, headers={"Connection": "close"})(scope, receive, send)
            raise
        except Exception as exc:
            error = exc if isinstance(exc, ProxyError) else unexpected(scope, exc)
            ctx = context_of(scope)
            ctx.error = error.message
            if ctx.status:  # the answer has started: too late for another one
                raise
            # The body was not all read (too large, too slow): the connection cannot be reused.
            headers = {"Connection": "close"} if error.status in (408, 413) else None
            await error_response(error, scope, headers=headers)(scope, receive, send)
