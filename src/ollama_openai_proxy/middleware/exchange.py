"""One request's body and connection: the body limit, the debug copy of the body, and cancelling
the request's work when its client goes away (answered 499, as Ollama reports cancellations)."""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ollama_openai_proxy.middleware.errors import error_response
from ollama_openai_proxy.observability import BODY_LOG_LIMIT, RequestContext, context_of
from ollama_openai_proxy.translate.errors import ProxyError

# Seconds after the body was read before a disconnect watcher is started for a request still running.
WATCH_AFTER = 0.05


class ExchangeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        log_bodies: bool = False,
        body_timeout: float = 60.0,
        body_deadline: float = 600.0,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.log_bodies = log_bodies
        self.body_timeout = body_timeout  # the longest pause while the body arrives
        self.body_deadline = body_deadline  # the whole body, from the first read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ctx = context_of(scope)
        for key, value in scope["headers"]:
            if key == b"content-length":
                if value.isdigit() and int(value) > self.max_body:
                    message = f"request body too large: {int(value)} bytes, the limit is {self.max_body}"
                    await error_response(ProxyError(413, message), scope)(scope, receive, send)
                    return
                break
        exchange = _Exchange(self, receive, send, ctx)
        try:
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


class _Exchange:
    """One request's ASGI receive/send as the app sees them: the body limit, and, once the body is
    read, a watch for the client going away that cancels the request's work (started only for
    requests still running after ``WATCH_AFTER``)."""

    __slots__ = (
        "_disconnected",
        "_receive",
        "_send",
        "_timer",
        "_watcher",
        "body_done",
        "cancelled_here",
        "ctx",
        "deadline",
        "owner",
        "received",
        "response_done",
        "task",
    )

    def __init__(self, owner: ExchangeMiddleware, receive: Receive, send: Send, ctx: RequestContext) -> None:
        self.owner = owner
        self._receive = receive
        self._send = send
        self.ctx = ctx
        self.body_done = self.response_done = self.cancelled_here = False
        self.received = 0
        self.deadline = 0.0
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
        owner = self.owner
        loop = asyncio.get_running_loop()
        if not self.deadline:
            self.deadline = loop.time() + owner.body_deadline
        try:
            async with asyncio.timeout_at(min(loop.time() + owner.body_timeout, self.deadline)):
                message = await self._receive()
        except TimeoutError:
            # A client trickling its body (or sending none) holds a connection: let it go, with a 408.
            raise ProxyError(408, "request body not received in time (the proxy's body_timeout)") from None
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            self.received += len(chunk)
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
