"""Paced OpenAI-compatible backend for slow streams (raw asyncio, HTTP/1.1 keep-alive).

    python bench/paced_backend.py --port P --chunks 20 --interval 0.5

GET  /v1/models            -> lists bench-model
POST /v1/chat/completions  -> "stream": true: one SSE chunk every --interval seconds for --chunks
                              chunks (or N for a path prefixed /c<N>/, e.g. /c60/v1/...) (chunked transfer encoding), then finish, usage, [DONE];
                              otherwise a canned chat completion.
POST /v1/embeddings        -> canned embeddings
Any path prefix before /v1 is accepted. Listens on 127.0.0.1 only; exits on SIGTERM/SIGINT or
after --max-seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from backends import chat_doc, embeddings_doc, models_doc, sse_content, sse_finish, sse_usage
from common import HOST, raise_nofile

STATS = {"open": 0, "peak": 0, "streams": 0}


def _resp(status: str, ctype: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 "
        + status.encode()
        + b"\r\nContent-Type: "
        + ctype
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def read_body(reader: asyncio.StreamReader, headers: dict[bytes, bytes]) -> bytes:
    if b"content-length" in headers:
        return await reader.readexactly(int(headers[b"content-length"]))
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return b""


async def handle(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    args: argparse.Namespace,
    models: bytes,
    chat: bytes,
    emb: bytes,
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            headers = {}
            for ln in lines[1:]:
                if b":" in ln:
                    k, v = ln.split(b":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await read_body(reader, headers)
            path = path.split(b"?")[0]
            chunks = args.chunks
            m = re.match(rb"/c(\d+)/", path)  # per-scenario chunk count: /c<N>/v1/...
            if m:
                chunks = min(int(m.group(1)), 10000)
            if path.endswith(b"/v1/models") or path == b"/":
                writer.write(_resp("200 OK", b"application/json", models))
            elif path.endswith(b"/v1/embeddings") and method == b"POST":
                writer.write(_resp("200 OK", b"application/json", emb))
            elif path.endswith(b"/chat/completions") and method == b"POST":
                compact = body.replace(b" ", b"")
                if b'"stream":true' in compact:
                    await stream(writer, args, chunks)
                else:
                    writer.write(_resp("200 OK", b"application/json", chat))
            else:
                writer.write(
                    _resp("404 Not Found", b"application/json", b'{"error":{"message":"not found"}}')
                )
            await writer.drain()
            if headers.get(b"connection", b"").lower() == b"close":
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def stream(writer: asyncio.StreamWriter, args: argparse.Namespace, chunks: int) -> None:
    STATS["open"] += 1
    STATS["streams"] += 1
    STATS["peak"] = max(STATS["peak"], STATS["open"])
    try:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        for i in range(chunks):
            writer.write(_chunk(sse_content(i)))
            await writer.drain()
            await asyncio.sleep(args.interval)
        writer.write(_chunk(sse_finish() + sse_usage(chunks) + b"data: [DONE]\n\n") + b"0\r\n\r\n")
    finally:
        STATS["open"] -= 1


async def main_async(args: argparse.Namespace) -> None:
    models, chat, emb = models_doc(), chat_doc(), embeddings_doc()
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, args, models, chat, emb), HOST, args.port, backlog=8192, limit=1 << 20
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"paced backend on {HOST}:{args.port}", flush=True)
    async with server:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), args.max_seconds)
    print(f"paced backend stats {STATS}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--max-seconds", type=float, default=3600)
    args = ap.parse_args()
    raise_nofile()
    try:
        import uvloop

        uvloop.run(main_async(args))
    except ImportError:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
