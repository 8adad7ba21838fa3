"""The drain a balancer can follow. On SIGTERM: /ready answers 503 at once and every response says
``Connection: close``, while requests are still served for OLLAMA_PROXY_DRAIN_DELAY seconds; then open
streams get OLLAMA_PROXY_SHUTDOWN_GRACE seconds to finish (after that, a final error line); only when
nothing has been in flight for a moment does Uvicorn close the listener and the process exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from ollama_openai_proxy.backends.client import begin_drain, end_drain
from ollama_openai_proxy.middleware.base import HTTPMiddleware

log = logging.getLogger(__name__)

_CLOSE = (b"connection", b"close")
# Once nothing is in flight, how long to wait for a client that reuses a connection which carried a
# stream begun before the signal (its headers promised keep-alive): it sends at once, or not at all.
QUIET_SECONDS = 0.5


class Drain:
    """This process's drain state (signals are per process, so there is one)."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._last_finished = 0.0
        self._task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        """A new server in this process (tests start several): not draining, an event of this loop."""
        self.draining = False
        self._idle = asyncio.Event()
        end_drain()

    def finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._last_finished = asyncio.get_running_loop().time()
            self._idle.set()

    async def run(
        self, delay: float, grace: float, stop: Callable[[], None], stop_listening: Callable[[], None]
    ) -> None:
        """The sequence after the first signal; ``stop`` hands over to Uvicorn's own shutdown."""
        log.info(
            "draining: /ready answers 503; serving for %gs more, then %gs for open streams", delay, grace
        )
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            # No new connections from here on; open ones finish what they carry (and are closed after).
            stop_listening()
            begin_drain(grace)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace + 1.0  # a stream ended at the deadline still writes its error line
            while loop.time() < deadline:
                if self.in_flight > 0:
                    self._idle.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._idle.wait(), deadline - loop.time())
                    continue
                quiet_until = self._last_finished + QUIET_SECONDS
                if loop.time() >= quiet_until:
                    break
                await asyncio.sleep(min(quiet_until, deadline) - loop.time())
        finally:
            stop()

    def start(
        self, delay: float, grace: float, stop: Callable[[], None], stop_listening: Callable[[], None]
    ) -> None:
        if self.draining:  # a second signal: stop now
            stop()
            return
        self.draining = True
        self._task = asyncio.get_running_loop().create_task(self.run(delay, grace, stop, stop_listening))


DRAIN = Drain()


class DrainMiddleware(HTTPMiddleware):
    """Counts requests in flight and, once draining, adds ``Connection: close`` to every response so
    no client reuses a connection this process is about to close."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        DRAIN.in_flight += 1
        try:
            await self.app(scope, receive, _closing(send) if DRAIN.draining else send)
        finally:
            DRAIN.finished()


def _closing(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [h for h in message.get("headers", ()) if h[0].lower() != b"connection"]
            message = {**message, "headers": [*headers, _CLOSE]}
        await send(message)

    return wrapped


def install_drain_on_signals(delay: float, grace: float) -> None:
    """Chain onto Uvicorn's SIGTERM/SIGINT handlers: run the drain first, then let Uvicorn stop.
    SIGINT (Ctrl-C at a terminal) skips the delay: no balancer is waiting on it."""
    loop = asyncio.get_running_loop()
    DRAIN.reset()
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        wait = delay if sig == signal.SIGTERM else 0.0

        def handler(
            signum: int, frame: FrameType | None, previous: Any = previous, wait: float = wait
        ) -> None:
            def stop() -> None:
                if callable(previous):
                    previous(signum, frame)

            def stop_listening() -> None:
                # Uvicorn's handler is a method of its Server, which holds the listening sockets.
                for listener in getattr(getattr(previous, "__self__", None), "servers", None) or ():
                    listener.close()

            loop.call_soon_threadsafe(DRAIN.start, wait, grace, stop, stop_listening)

        with contextlib.suppress(ValueError):  # not the main thread (an embedded server): nothing to chain
            signal.signal(sig, handler)
