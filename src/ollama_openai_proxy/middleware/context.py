"""The request id and RequestContext of every request, and its access log line and metrics when done."""

from __future__ import annotations

import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ollama_openai_proxy.observability import IN_FLIGHT, RequestContext, access_log, body_for_log, record


class ContextMiddleware:
    """Makes the request's context, stamps ``X-Request-ID`` and the status on the answer, and records
    the request once it is over, whatever happened inside."""

    def __init__(self, app: ASGIApp, log_bodies: bool = False) -> None:
        self.app = app
        self.log_bodies = log_bodies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter_ns()
        request_id = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = value.decode("latin-1")[:128]
                break
        ctx = RequestContext(request_id or os.urandom(16).hex(), scope["method"], scope["path"], start=start)
        scope.setdefault("state", {})["ctx"] = ctx
        rid = (b"x-request-id", ctx.request_id.encode("latin-1"))

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                ctx.status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid]
            await send(message)

        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_stamped)
        finally:
            IN_FLIGHT.dec()
            self._record(scope, ctx, (time.perf_counter_ns() - start) / 1e9)

    def _record(self, scope: Scope, ctx: RequestContext, duration: float) -> None:
        route = scope.get("route")
        ctx.route = getattr(route, "path", "") or ctx.route
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
