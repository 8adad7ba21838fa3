"""A trivial stand-in Ollama->OpenAI proxy (aiohttp) used only to check the harness end to end
(`python bench/run.py --target standin`). It is not the product and is not tuned.

    OPENAI_BASE_URL=http://127.0.0.1:P/plain/v1 python bench/standin_proxy.py --host 127.0.0.1 --port Q
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aiohttp
import orjson
from aiohttp import web
from common import raise_nofile

BASE = os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1").rstrip("/")
JSON = {"Content-Type": "application/json"}


async def on_startup(app: web.Application) -> None:
    app["s"] = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=600)
    )


async def on_cleanup(app: web.Application) -> None:
    await app["s"].close()


async def root(_: web.Request) -> web.Response:
    return web.Response(text="Ollama is running")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


async def api_chat(req: web.Request) -> web.StreamResponse:
    body = orjson.loads(await req.read())
    stream = body.get("stream", True)
    up = {"model": body["model"], "messages": body["messages"], "stream": stream}
    if stream:
        up["stream_options"] = {"include_usage": True}
    async with req.app["s"].post(BASE + "/chat/completions", data=orjson.dumps(up), headers=JSON) as r:
        if not stream:
            d = orjson.loads(await r.read())
            u = d.get("usage") or {}
            return web.Response(
                body=orjson.dumps(
                    {
                        "model": body["model"],
                        "created_at": now(),
                        "message": {"role": "assistant", "content": d["choices"][0]["message"]["content"]},
                        "done": True,
                        "done_reason": "stop",
                        "prompt_eval_count": u.get("prompt_tokens", 0),
                        "eval_count": u.get("completion_tokens", 0),
                    }
                ),
                content_type="application/json",
            )
        out = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await out.prepare(req)
        usage: dict[str, int] = {}
        async for line in r.content:
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            p = line[5:].strip()
            if p == b"[DONE]":
                break
            d = orjson.loads(p)
            usage = d.get("usage") or usage
            for c in d.get("choices") or ():
                content = (c.get("delta") or {}).get("content")
                if content:
                    await out.write(
                        orjson.dumps(
                            {
                                "model": body["model"],
                                "created_at": now(),
                                "message": {"role": "assistant", "content": content},
                                "done": False,
                            }
                        )
                        + b"\n"
                    )
        await out.write(
            orjson.dumps(
                {
                    "model": body["model"],
                    "created_at": now(),
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "stop",
                    "eval_count": usage.get("completion_tokens", 0),
                }
            )
            + b"\n"
        )
        await out.write_eof()
        return out


async def v1_chat(req: web.Request) -> web.StreamResponse:
    raw = await req.read()
    async with req.app["s"].post(BASE + "/chat/completions", data=raw, headers=JSON) as r:
        out = web.StreamResponse(status=r.status, headers={"Content-Type": r.headers.get("Content-Type", "")})
        await out.prepare(req)
        async for chunk in r.content.iter_any():
            await out.write(chunk)
        await out.write_eof()
        return out


async def api_embed(req: web.Request) -> web.Response:
    body = orjson.loads(await req.read())
    inp = body["input"] if isinstance(body["input"], list) else [body["input"]]
    async with req.app["s"].post(
        BASE + "/embeddings", data=orjson.dumps({"model": body["model"], "input": inp}), headers=JSON
    ) as r:
        d = orjson.loads(await r.read())
    return web.Response(
        body=orjson.dumps({"model": body["model"], "embeddings": [e["embedding"] for e in d["data"]]}),
        content_type="application/json",
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11434)
    ap.add_argument("--workers", type=int, default=1)  # accepted, ignored
    a = ap.parse_args()
    raise_nofile()
    app = web.Application()
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.add_routes(
        [
            web.get("/", root),
            web.post("/api/chat", api_chat),
            web.post("/v1/chat/completions", v1_chat),
            web.post("/api/embed", api_embed),
        ]
    )
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    web.run_app(app, host=a.host, port=a.port, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
