"""Connection guards under Uvicorn (against slowloris): a request's headers must arrive within
``header_timeout`` seconds and ``max_header_bytes``, and at most ``max_connections`` connections
are open; at the cap, the connection that has waited longest without a request in progress (idle
or half-sent) gives way to the new client. Body read timeouts are in middleware/exchange.py."""

from __future__ import annotations

import asyncio
import functools
import logging
import resource
from dataclasses import dataclass
from typing import Any

import orjson

log = logging.getLogger("ollama_openai_proxy")


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 60.0
    max_connections: int = 512
    max_header_bytes: int = 64 * 1024


def default_max_connections() -> int:
    """Half the process's descriptor limit: the other half is for backend connections and files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, (soft if soft > 0 else 1024) // 2)


@functools.cache
def limits_from_settings() -> ConnectionLimits:
    """The limits of this process's settings (a worker process reads its environment once)."""
    from ollama_openai_proxy.config import Settings

    settings = Settings()
    return ConnectionLimits(settings.header_timeout, settings.max_connections or default_max_connections())


def _answer(status: int, reason: str, message: str) -> bytes:
    body = orjson.dumps({"error": message})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Guard:
    """Mixed into a Uvicorn HTTP protocol class (httptools or h11)."""

    limits: ConnectionLimits | None = None  # None: read from the settings on first use
    transport: Any
    cycle: Any
    connections: set[Any]
    loop: asyncio.AbstractEventLoop

    def _limits(self) -> ConnectionLimits:
        return self.limits or limits_from_settings()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._header_bytes = 0
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()
        self._make_room()

    def awaiting_request(self) -> bool:
        """No request in progress: idle between requests, or its headers not all here yet."""
        return self.cycle is None or bool(self.cycle.response_complete)

    def _arm(self) -> None:
        self._waiting_since = self.loop.time()
        self._header_bytes = 0
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self._limits().header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._disarm()
        if not self.transport.is_closing():
            if self._header_bytes:  # a request was started: say why it ends
                self.transport.write(_answer(status, reason, message))
            self.transport.close()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.awaiting_request():
            seconds = self._limits().header_timeout
            self._refuse(408, "Request Timeout", f"request headers not received within {seconds:g}s")

    def _make_room(self) -> None:
        limit = self._limits().max_connections
        if len(self.connections) <= limit:
            return
        waiting = [
            c for c in self.connections if c is not self and isinstance(c, _Guard) and c.awaiting_request()
        ]
        if waiting:
            oldest = min(waiting, key=lambda c: c._waiting_since)
            log.warning("%d connections open (the limit): closing the longest-waiting idle one", limit)
            oldest._refuse(503, "Service Unavailable", "too many open connections; this one was idle")
        else:
            self._header_bytes = 1  # answer the newcomer, which has no request yet, with a reason
            self._refuse(503, "Service Unavailable", f"the proxy has {limit} requests in progress; retry")

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if not self.awaiting_request():
            self._disarm()  # the headers are in: the request runs (its body has its own timeout)
            return
        self._header_bytes += len(data)  # still no complete request head
        if self._header_bytes > self._limits().max_header_bytes:
            self._refuse(431, "Request Header Fields Too Large", "request headers too large")

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]


def guarded_h11() -> type[asyncio.Protocol]:
    """The guard over Uvicorn's pure-Python parser (h11), imported only where it is used."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    return type("GuardedH11Protocol", (_Guard, H11Protocol), {})


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
        pass

    GuardedProtocol: type[asyncio.Protocol] = GuardedHttpToolsProtocol
except ImportError:  # httptools not installed: Uvicorn's pure-Python parser
    GuardedProtocol = guarded_h11()


def guarded_protocol(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """The guarded protocol class with these limits (for an embedded server, e.g. in tests)."""
    return type("GuardedProtocolWithLimits", (GuardedProtocol,), {"limits": limits})
