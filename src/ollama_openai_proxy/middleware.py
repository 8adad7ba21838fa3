"""One ASGI middleware for every request: request id, host guard, API keys, body limit,
cancellation on client disconnect, and the access log and metrics when the answer is done."""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import ipaddress
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ollama_openai_proxy.config import Settings
from ollama_openai_proxy.observability import IN_FLIGHT, RequestContext, access_log, record
from ollama_openai_proxy.translate.anthropic.errors import anthropic_error
from ollama_openai_proxy.translate.errors import OpenAIError, ProxyError, openai_error_body, redact

Endpoint = Callable[[Request], Awaitable[Response]]
log = logging.getLogger(__name__)

# Liveness probes answer without a key: orchestrators and the Ollama CLI's heartbeat (HEAD /) call them.
PUBLIC_PATHS = frozenset({"/", "/health"})
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=1024)
def host_allowed(host: str) -> bool:
    """Ollama's DNS-rebinding guard: only local, private or own names may reach a loopback server."""
    name = host.lower()
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name in ("", "localhost") or name.endswith(_LOCAL_SUFFIXES) or name == socket.gethostname().lower():
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_unspecified or ip.is_link_local


def model_allowed(ctx: RequestContext, name: str) -> bool:
    if ctx.allowed_models is None:
        return True
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, p.lower()) for p in ctx.allowed_models)


class ProxyMiddleware:
    def __init__(
        self, app: ASGIApp, settings: Settings, fast_routes: dict[tuple[str, str], Endpoint] | None = None
    ) -> None:
        self.app = app
        self.keys = settings.inbound_keys()
        self.forward_key = settings.forwards_client_key
        self.guard_host = not settings.allow_any_host and is_loopback(settings.listen_address()[0])
        self.max_body = settings.max_body_bytes
        self.log_bodies = settings.log_bodies
        self.fast_routes: dict[tuple[str, str], Endpoint] = dict(fast_routes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        host = auth = api_key = request_id = ""
        length = -1
        for key, value in scope["headers"]:
            if key == b"host":
                host = value.decode("latin-1")
            elif key == b"authorization":
                auth = value.decode("latin-1")
            elif key == b"content-length":
                length = int(value) if value.isdigit() else -1
            elif key == b"x-request-id":
                request_id = value.decode("latin-1")[:128]
            elif key == b"x-api-key":  # the Anthropic SDKs' spelling of the key
                api_key = value.decode("latin-1").strip()
        ctx = RequestContext(request_id or uuid.uuid4().hex, scope["method"], scope["path"])
        scope.setdefault("state", {})["ctx"] = ctx
        rid_header = (b"x-request-id", ctx.request_id.encode("latin-1"))
        IN_FLIGHT.inc()
        try:
            refusal = self._refuse(ctx, host, auth, api_key, length, scope["path"])
            if refusal is not None:
                await self._answer(send, ctx, *refusal, rid_header)
            else:
                await self._run(scope, receive, send, ctx, rid_header)
        finally:
            IN_FLIGHT.dec()
            route = scope.get("route")
            ctx.route = getattr(route, "path", "") or ctx.route
            duration = time.perf_counter() - start
            record(ctx, duration)
            access_log.info(
                "request",
                request_id=ctx.request_id,
                method=ctx.method,
                path=ctx.path,
                route=ctx.route,
                model=ctx.model or None,
                backend=ctx.backend or None,
                status=ctx.status,
                duration_ms=round(duration * 1000, 3),
                ttft_ms=round(ctx.ttft_ns / 1e6, 3) if ctx.ttft_ns else None,
                prompt_tokens=ctx.prompt_tokens or None,
                completion_tokens=ctx.completion_tokens or None,
                key=ctx.key_name or None,
                error=ctx.error or None,
                body=body_for_log(ctx.body) if self.log_bodies else None,
            )

    def _refuse(
        self, ctx: RequestContext, host: str, auth: str, api_key: str, length: int, path: str
    ) -> tuple[int, bytes] | None:
        if self.guard_host and not host_allowed(host):
            ctx.error = f"host {host!r} refused (DNS rebinding guard)"
            return 403, b""
        if path not in PUBLIC_PATHS:
            bearer = (auth[7:].strip() if auth[:7].lower() == "bearer " else "") or api_key
            if self.forward_key:
                if not bearer:
                    message = "unauthorized: send your backend API key as Authorization: Bearer <key>"
                    return 401, refusal_body(path, 401, message)
                ctx.client_key = bearer
            elif self.keys:
                entry = self.keys.get(bearer)
                if entry is None:
                    ctx.error = "missing or unknown API key"
                    message = (
                        "unauthorized: missing or invalid API key (Authorization: Bearer <key> or x-api-key)"
                    )
                    return 401, refusal_body(path, 401, message)
                ctx.key_name, globs = entry
                ctx.allowed_models = None if globs == ["*"] else globs
        if length > self.max_body:
            message = f"request body too large: {length} bytes, the limit is {self.max_body}"
            return 413, refusal_body(path, 413, message)
        return None

    async def _answer(
        self, send: Send, ctx: RequestContext, status: int, body: bytes, rid: tuple[bytes, bytes]
    ) -> None:
        ctx.status = status
        headers = [rid, (b"content-length", str(len(body)).encode())]
        if body:
            headers.append((b"content-type", b"application/json; charset=utf-8"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, ctx: RequestContext, rid: tuple[bytes, bytes]
    ) -> None:
        exchange = _Exchange(self, receive, send, ctx, rid)
        try:
            endpoint = self.fast_routes.get((scope["method"], scope["path"]))
            if endpoint is not None:
                ctx.route = scope["path"]
                await self._direct(endpoint, scope, exchange.receive, exchange.send, ctx)
            else:
                await self.app(scope, exchange.receive, exchange.send)
        except asyncio.CancelledError:
            if not exchange.cancelled_here:
                raise
            if exchange.task is not None:
                exchange.task.uncancel()  # our own cancellation, for a client that left: handled here
            ctx.error = "client disconnected"
            if not ctx.status:
                ctx.status = 499  # nginx's "client closed request", as Ollama reports cancellations
        finally:
            exchange.close()

    async def _direct(
        self, endpoint: Endpoint, scope: Scope, receive: Receive, send: Send, ctx: RequestContext
    ) -> None:
        """The hot routes (chat, generate, embed, the /v1 relay) skip FastAPI's router, dependency
        solving and exception middlewares: about a third of the CPU of a request. Same endpoints,
        same error rendering."""
        try:
            response = await endpoint(Request(scope, receive, send))
        except ProxyError as exc:
            ctx.error = exc.message
            response = error_response(exc)
        except Exception as exc:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            ctx.error = f"internal proxy error ({type(exc).__name__})"
            response = error_response(ProxyError(500, ctx.error))
        await response(scope, receive, send)


class _Exchange:
    """One request's ASGI receive/send as the app sees them: the body limit, the status and request
    id on the way out, and, once the body is read, a watch for the client going away that cancels
    the request's work (started only for requests still running after ``WATCH_AFTER``)."""

    __slots__ = (
        "_disconnected",
        "_receive",
        "_send",
        "_timer",
        "_watcher",
        "body_done",
        "cancelled_here",
        "ctx",
        "owner",
        "received",
        "response_done",
        "rid",
        "task",
    )

    def __init__(
        self,
        owner: ProxyMiddleware,
        receive: Receive,
        send: Send,
        ctx: RequestContext,
        rid: tuple[bytes, bytes],
    ) -> None:
        self.owner = owner
        self._receive = receive
        self._send = send
        self.ctx = ctx
        self.rid = rid
        self.body_done = self.response_done = self.cancelled_here = False
        self.received = 0
        self._disconnected: asyncio.Event | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.task = asyncio.current_task()

    @property
    def disconnected(self) -> asyncio.Event:
        if self._disconnected is None:
            self._disconnected = asyncio.Event()
        return self._disconnected

    async def receive(self) -> Message:
        if self.body_done:
            await self.disconnected.wait()
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self.received += len(chunk)
            owner = self.owner
            if owner.log_bodies and len(self.ctx.body) < BODY_LOG_LIMIT:
                self.ctx.body += chunk
            if self.received > owner.max_body:
                raise ProxyError(413, f"request body too large: the limit is {owner.max_body} bytes")
            if not message.get("more_body", False):
                self.body_done = True
                # Most answers are done well within WATCH_AFTER: no watcher task for them.
                self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER, self._start_watch)
        elif message["type"] == "http.disconnect":
            self.disconnected.set()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self.response_done = True
        elif message["type"] == "http.response.start":
            self.ctx.status = message["status"]
            message["headers"] = [*message.get("headers", ()), self.rid]
        await self._send(message)

    def _start_watch(self) -> None:
        if not self.response_done:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        # The body is read: the only message left is the client going away. Stop the work then.
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.disconnected.set()
        if self.task is not None and not self.response_done:
            self.cancelled_here = True
            self.task.cancel()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()


BODY_LOG_LIMIT = 4096
# Seconds after the body was read before a disconnect watcher is started for a request still running.
WATCH_AFTER = 0.05


def body_for_log(body: bytes) -> str | None:
    """The request body for the debug log (OLLAMA_PROXY_LOG_BODIES): cut short, keys redacted."""
    if not body:
        return None
    text = body[:BODY_LOG_LIMIT].decode("utf-8", "replace")
    return redact(text) + ("…" if len(body) > BODY_LOG_LIMIT else "")


def error_response(exc: ProxyError) -> Response:
    """Ollama's ``{"error": ...}``, or OpenAI's envelope on the /v1 routes."""
    body = (
        openai_error_body(exc.status, exc.message) if isinstance(exc, OpenAIError) else {"error": exc.message}
    )
    return Response(orjson.dumps(body), status_code=exc.status, media_type="application/json; charset=utf-8")


def refusal_body(path: str, status: int, message: str) -> bytes:
    """A refusal in the error shape of the dialect the path belongs to."""
    if path.startswith("/v1/messages"):
        return orjson.dumps(anthropic_error(status, message))
    if path.startswith("/v1/"):
        return orjson.dumps(openai_error_body(status, message))
    return orjson.dumps({"error": message})


def request_context(scope_state: dict[str, Any]) -> RequestContext | None:
    ctx = scope_state.get("ctx")
    return ctx if isinstance(ctx, RequestContext) else None
