"""A scripted OpenAI-compatible backend on a real socket: records what it receives, answers what it is told."""

from __future__ import annotations

import asyncio
import socket
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


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


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

    async def _handle(self, request: web.Request) -> web.StreamResponse:
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
        if reply.delay:
            await asyncio.sleep(reply.delay)
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
                if request.transport is None or request.transport.is_closing():
                    raise ConnectionResetError("peer closed the connection")
                data = event.encode() if isinstance(event, str) else orjson.dumps(event)
                await resp.write(b"data: " + data + b"\n\n")
                sent = i + 1
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
            if reply.done:
                await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            # The proxy closed its connection mid-stream (a write failed or the transport is closing).
            self.aborted.append(Aborted(request.path, sent, time.monotonic()))
            self.abort_seen.set()
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
            n = len(rec.body["input"]) if isinstance(rec.body, dict) else 1
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
