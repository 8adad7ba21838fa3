"""A scripted OpenAI-compatible backend on a real socket: records what it receives, answers what it is told."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Reply:
    """One scripted answer: JSON, an SSE stream of events, or raw bytes, with optional faults."""

    status: int = 200
    json: Any = None
    events: list[Any] | None = None  # dicts are sent as ``data: <json>``; strings verbatim as data
    raw: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    done: bool = True  # send ``data: [DONE]`` after the events
    delay: float = 0.0  # before answering
    chunk_delay: float = 0.0  # between events
    cut_after: int | None = None  # close the connection abruptly after this many events
    reset: bool = False  # reset the connection (TCP RST) instead of answering: nothing, not even headers
    reset_after: int | None = None  # reset the connection (TCP RST) after this many events
    tail: bytes = b""  # raw bytes written after the events (e.g. a truncated event), before [DONE]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)  # when the request arrived (time.monotonic())


@dataclass
class Aborted:
    """A streamed reply the peer (the proxy) stopped reading: its connection closed before the end."""

    path: str
    events_sent: int
    at: float  # time.monotonic() when the backend noticed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class FakeBackend:
    """Start with ``start()``; script replies with ``enqueue(path, Reply)`` or ``handler``."""

    def __init__(self, models: list[dict[str, Any]] | None = None) -> None:
        self.models = (
            models if models is not None else [{"id": "test-model", "object": "model", "owned_by": "test"}]
        )
        self.requests: list[Recorded] = []
        self.queues: dict[str, list[Reply]] = {}
        self.handler: Callable[[Recorded], Reply | None] | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.models_status = 200
        self.aborted: list[Aborted] = []
        self.abort_seen = threading.Event()
        self.active = 0  # requests being answered right now (a leak check: 0 once everything ended)
        self.peak = 0  # the most requests answered at once (set it back to 0 to measure again)
        self._runner: web.AppRunner | None = None

    def enqueue(self, path: str, *replies: Reply) -> None:
        self.queues.setdefault(path, []).extend(replies)

    def reset(self) -> None:
        self.requests.clear()
        self.queues.clear()
        self.handler = None
        self.models_status = 200
        self.aborted.clear()
        self.abort_seen.clear()

    def last(self, path: str | None = None) -> Recorded:
        for rec in reversed(self.requests):
            if path is None or rec.path.endswith(path):
                return rec
        raise AssertionError(f"backend received no request for {path}")

    def received(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(path)]

    @property
    def connections(self) -> int:
        """Open TCP connections to this backend (idle keep-alive ones included)."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    def _note_abort(self, path: str, sent: int) -> None:
        self.aborted.append(Aborted(path, sent, time.monotonic()))
        self.abort_seen.set()

    @staticmethod
    def _closed(request: web.Request) -> bool:
        return request.transport is None or request.transport.is_closing()

    async def _sleep(self, request: web.Request, seconds: float) -> bool:
        """Sleep, watching the connection: False as soon as the peer closed it."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._closed(request):
                return False
            await asyncio.sleep(min(left, 0.01))
        return not self._closed(request)

    @staticmethod
    def _reset(request: web.Request) -> None:
        """Drop the connection with a TCP RST (SO_LINGER 0), as a crashed server or a middlebox does."""
        transport = request.transport
        if transport is None:
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            return await self._answer(request)
        finally:
            self.active -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = raw
        rec = Recorded(request.method, request.path, dict(request.headers), body)
        self.requests.append(rec)
        reply = self.handler(rec) if self.handler else None
        key = request.path.removeprefix("/v1/")
        if reply is None and self.queues.get(key):
            reply = self.queues[key].pop(0)
        if reply is None:
            reply = self._default(rec, key)
        if reply.delay and not await self._sleep(request, reply.delay):
            self._note_abort(request.path, 0)  # the proxy gave up (timeout or its client left)
            return web.Response(status=499)
        if reply.reset:
            self._reset(request)
            return web.Response(status=499)
        if reply.events is None:
            body_bytes = reply.raw if reply.raw is not None else orjson.dumps(reply.json)
            ctype = reply.content_type or "application/json"
            return web.Response(
                status=reply.status, body=body_bytes, content_type=ctype.split(";")[0], headers=reply.headers
            )
        resp = web.StreamResponse(
            status=reply.status, headers={"Content-Type": "text/event-stream", **reply.headers}
        )
        await resp.prepare(request)
        sent = 0
        try:
            for i, event in enumerate(reply.events):
                if reply.cut_after is not None and i >= reply.cut_after:
                    assert request.transport is not None
                    request.transport.close()
                    return resp
                if reply.reset_after is not None and i >= reply.reset_after:
                    self._reset(request)
                    return resp
                if self._closed(request):
                    raise ConnectionResetError("peer closed the connection")
                data = event.encode() if isinstance(event, str) else orjson.dumps(event)
                await resp.write(b"data: " + data + b"\n\n")
                sent = i + 1
                if reply.chunk_delay and not await self._sleep(request, reply.chunk_delay):
                    raise ConnectionResetError("peer closed the connection")
            if reply.tail:
                await resp.write(reply.tail)
            if reply.done:
                await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            # The proxy closed its connection mid-stream (a write failed or the transport is closing).
            self._note_abort(request.path, sent)
        return resp

    def _default(self, rec: Recorded, key: str) -> Reply:
        if key == "models":
            return Reply(status=self.models_status, json={"object": "list", "data": self.models})
        streamed = isinstance(rec.body, dict) and rec.body.get("stream") is True
        if key == "chat/completions":
            if streamed:
                return Reply(events=text_stream("Hello ", "from the ", "fake backend."))
            return Reply(json=chat_completion("Hello from the fake backend."))
        if key == "embeddings":
            given = rec.body.get("input") if isinstance(rec.body, dict) else None
            n = len(given) if isinstance(given, list) else 1
            return Reply(json=embeddings([[3.0, 4.0]] * n))
        if key == "completions" and streamed:
            return Reply(
                events=[
                    {"choices": [{"index": 0, "text": "completed", "finish_reason": "stop"}]},
                    {"choices": [], "usage": usage()},
                ]
            )
        if key == "completions":
            return Reply(
                json={
                    "choices": [{"index": 0, "text": "completed", "finish_reason": "stop"}],
                    "usage": usage(),
                }
            )
        return Reply(status=404, json={"error": {"message": f"no route {rec.path}", "type": "not_found"}})

    def start(self) -> FakeBackend:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handle)
            runner = web.AppRunner(app, access_log=None)
            self._runner = runner
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)


def usage(prompt: int = 7, completion: int = 5) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_completion(
    content: str | None,
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish: str = "stop",
    reasoning: str | None = None,
    logprobs: Any = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
    if logprobs is not None:
        choice["logprobs"] = logprobs
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "test-model",
        "choices": [choice],
        "usage": usage(),
    }


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "test-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def text_stream(*pieces: str, finish: str = "stop") -> list[Any]:
    events: list[Any] = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": p}) for p in pieces]
    events.append(chunk({}, finish))
    events.append({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage()})
    return events


def embeddings(vectors: list[list[float]]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": "test-embed",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }
