"""The drain sequence in one process: the order of its steps, waiting for requests in flight, and
``Connection: close`` on every response once it started."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from ollama_openai_proxy import shutdown
from ollama_openai_proxy.shutdown import Drain, DrainMiddleware


async def test_steps_run_in_order_and_wait_for_requests_in_flight() -> None:
    drain = Drain()
    drain.reset()
    events: list[str] = []
    drain.in_flight = 1  # a request running when the signal comes

    async def finish_later() -> None:
        await asyncio.sleep(0.3)
        events.append("request done")
        drain.finished()

    finishing = asyncio.create_task(finish_later())
    drain.start(0.1, 5.0, lambda: events.append("stop"), lambda: events.append("stop listening"))
    assert drain.draining
    await asyncio.sleep(0.05)
    assert events == []  # still within the delay: nothing closed
    assert drain._task is not None
    await drain._task
    await finishing
    assert events == ["stop listening", "request done", "stop"]


async def test_a_second_signal_stops_at_once() -> None:
    drain = Drain()
    drain.reset()
    stops: list[str] = []
    drain.start(10.0, 10.0, lambda: stops.append("first"), lambda: None)
    drain.start(10.0, 10.0, lambda: stops.append("second"), lambda: None)
    assert stops == ["second"]
    assert drain._task is not None
    drain._task.cancel()


async def test_the_grace_deadline_bounds_the_wait() -> None:
    drain = Drain()
    drain.reset()
    drain.in_flight = 1  # never finishes: the run still ends (after the grace + 1 s)
    stopped: list[str] = []
    await asyncio.wait_for(drain.run(0.0, 0.1, lambda: stopped.append("stop"), lambda: None), 30)
    assert stopped == ["stop"]
    assert drain.in_flight == 1


async def _respond(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"connection", b"keep-alive")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _call(app: DrainMiddleware) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": "http", "method": "GET", "path": "/"}, receive, send)
    return sent


async def test_responses_say_connection_close_only_once_draining() -> None:
    app = DrainMiddleware(_respond)
    shutdown.DRAIN.reset()
    before = await _call(app)
    assert before[0]["headers"] == [(b"connection", b"keep-alive")]
    shutdown.DRAIN.draining = True
    try:
        during = await _call(app)
    finally:
        shutdown.DRAIN.reset()
    assert during[0]["headers"] == [(b"connection", b"close")]
    assert during[1] == {"type": "http.response.body", "body": b"ok"}
    assert shutdown.DRAIN.in_flight == 0


class _Content:
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def readany(self) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


class _Response:
    def __init__(self, chunks: list[bytes]) -> None:
        self.content = _Content(chunks)

    def close(self) -> None:
        pass


class _Backend:
    name = "b"

    class config:  # noqa: N801 - stands in for BackendConfig
        class timeouts:  # noqa: N801
            idle = 5.0

    def release(self) -> None:
        pass


async def test_a_drain_skips_streams_already_read_to_the_end() -> None:
    """A stream read to its end (or given up) but still referenced when the signal comes must not
    abort the drain of the others: its timer is over, there is nothing left to bound."""
    from ollama_openai_proxy.backends import client

    finished = client.BackendStream(_Response([b"a", b"b"]), _Backend(), None)  # type: ignore[arg-type]
    broken_off = client.BackendStream(_Response([b"a", b"b"]), _Backend(), None)  # type: ignore[arg-type]
    reading = client.BackendStream(_Response([b"a", b"b"]), _Backend(), None)  # type: ignore[arg-type]
    assert [c async for c in finished.chunks()] == [b"a", b"b"]
    pieces = broken_off.chunks()
    assert await anext(pieces) == b"a"
    await pieces.aclose()
    open_pieces = reading.chunks()
    assert await anext(open_pieces) == b"a"
    try:
        client.begin_drain(0.5)
        assert reading._timer is not None and reading._timer.when() is not None
        assert reading._timer.when() <= asyncio.get_running_loop().time() + 0.5  # type: ignore[operator]
    finally:
        client.end_drain()
        await open_pieces.aclose()
    finished.close()
    broken_off.close()
    reading.close()


async def test_a_drain_skips_streams_whose_reading_has_ended() -> None:
    """A stream read to its end (or broken) keeps no timer a later drain would try to move."""
    from unittest.mock import AsyncMock, MagicMock

    from ollama_openai_proxy.backends.client import BackendStream, begin_drain, end_drain

    backend = MagicMock()
    backend.config.timeouts.idle = 5.0
    response = MagicMock()
    response.content.readany = AsyncMock(side_effect=[b"data", b""])
    stream = BackendStream(response, backend, None)
    assert [c async for c in stream.chunks()] == [b"data"]
    try:
        begin_drain(1.0)  # the stream is still open (never closed): it must not fail the drain
    finally:
        end_drain()
    stream.close()
