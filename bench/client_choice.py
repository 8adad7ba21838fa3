"""Measures the CPU one backend call costs in each candidate HTTP client (httpx, aiohttp, the OpenAI
SDK) against an instant local server: the measurement behind choosing aiohttp for backend calls.

Run: .venv/bin/python bench/client_choice.py   (prints µs of client CPU per request for each)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable

PORT = 18999
REQUESTS = 3000
WARMUP = 200
BODY = (
    b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",'
    b'"content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}'
)
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
PAYLOAD = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
MESSAGES = [{"role": "user", "content": "hi"}]


def serve() -> None:
    """An instant keep-alive HTTP server that answers every request with the same completion."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for header in head.split(b"\r\n"):
                    if header.lower().startswith(b"content-length:"):
                        length = int(header.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                writer.write(RESPONSE)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", PORT)
        await server.serve_forever()

    asyncio.run(main())


async def cpu_per_call(call: Callable[[], Awaitable[object]]) -> float:
    for _ in range(WARMUP):
        await call()
    start = time.process_time()
    for _ in range(REQUESTS):
        await call()
    return (time.process_time() - start) / REQUESTS * 1e6


async def with_httpx() -> float:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{PORT}") as client:

        async def call() -> object:
            return (await client.post("/v1/chat/completions", content=PAYLOAD)).content

        return await cpu_per_call(call)


async def with_aiohttp() -> float:
    import aiohttp

    async with aiohttp.ClientSession(f"http://127.0.0.1:{PORT}") as session:

        async def call() -> object:
            async with session.post("/v1/chat/completions", data=PAYLOAD) as response:
                return await response.read()

        return await cpu_per_call(call)


async def with_openai_sdk() -> float:
    import openai

    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{PORT}/v1", api_key="x")

    async def call() -> object:
        return await client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]

    return await cpu_per_call(call)


def main() -> None:
    server = multiprocessing.Process(target=serve, daemon=True)
    server.start()
    time.sleep(1)
    try:
        for name, bench in (
            ("httpx", with_httpx),
            ("aiohttp", with_aiohttp),
            ("openai SDK", with_openai_sdk),
        ):
            print(f"{name:11} {asyncio.run(bench()):6.0f} µs CPU per request (client side only)")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
