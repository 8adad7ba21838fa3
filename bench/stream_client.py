"""Async streaming load client (aiohttp). Runs as its own process so it has its own RLIMIT_NOFILE
and its CPU is not the orchestrator's. Prints one JSON document on stdout.

    python bench/stream_client.py --url URL --body-file F --format ndjson|sse|anthropic|responses \
        --concurrency C --requests N [--ramp S] [--expect-chunks K] [--max-time T]

ndjson: every non-empty line must parse as JSON, the last must have "done": true.
sse:    every `data:` payload must parse as JSON except the final `[DONE]`, which must be last.
json:   plain non-streamed JSON response that must parse (used for validations).
anthropic, responses: named SSE events whose data must parse, the last event message_stop /
        response.completed; text deltas are the content chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aiohttp
import orjson
from common import percentile, raise_nofile


class Stats:
    def __init__(self) -> None:
        self.ttfl: list[float] = []
        self.total: list[float] = []
        self.lines = 0
        self.content_lines = 0
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.samples: list[str] = []
        self.open = 0
        self.peak_open = 0
        self.started = 0

    def err(self, kind: str, msg: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.samples) < 8 and sum(x.startswith(kind + ":") for x in self.samples) < 2:
            self.samples.append(f"{kind}: {msg[:300]}")


async def one(session: aiohttp.ClientSession, args: argparse.Namespace, body: bytes, st: Stats) -> None:
    t0 = time.perf_counter()
    first: float | None = None
    lines = content = 0
    last: object = None
    saw_done_marker = False
    st.started += 1
    try:
        async with session.post(args.url, data=body, headers={"Content-Type": "application/json"}) as r:
            if r.status != 200:
                st.err("http_status", f"{r.status} {(await r.read())[:200]!r}")
                return
            st.open += 1
            st.peak_open = max(st.peak_open, st.open)
            try:
                if args.format == "json":
                    raw = await r.read()
                    first = time.perf_counter()
                    orjson.loads(raw)
                    lines = content = 1
                else:
                    async for raw in r.content:
                        line = raw.strip()
                        if not line:
                            continue
                        if first is None:
                            first = time.perf_counter()
                        lines += 1
                        if args.format in ("anthropic", "responses"):
                            if line.startswith(b"event:"):
                                last = {"event": line[6:].strip().decode()}
                                continue
                            if not line.startswith(b"data:"):
                                continue
                            doc = orjson.loads(line[5:].strip())
                            kind = doc.get("type")
                            if kind in ("content_block_delta", "response.output_text.delta") and (
                                (doc.get("delta") or {}).get("text")
                                if kind == "content_block_delta"
                                else doc.get("delta")
                            ):
                                content += 1
                            continue
                        if args.format == "sse":
                            if not line.startswith(b"data:"):
                                continue  # comments / event: lines are allowed
                            payload = line[5:].strip()
                            if saw_done_marker:
                                st.err("after_done", repr(payload[:80]))
                                return
                            if payload == b"[DONE]":
                                saw_done_marker = True
                                continue
                            doc = orjson.loads(payload)
                            if doc.get("choices"):
                                d = doc["choices"][0].get("delta") or {}
                                if d.get("content"):
                                    content += 1
                            last = doc
                        else:
                            doc = orjson.loads(line)
                            if isinstance(doc, dict) and (doc.get("message") or {}).get("content"):
                                content += 1
                            last = doc
            finally:
                st.open -= 1
    except orjson.JSONDecodeError as e:
        st.err("parse", str(e))
        return
    except TimeoutError:
        st.err("timeout", f"after {time.perf_counter() - t0:.1f}s")
        return
    except aiohttp.ClientConnectorError as e:
        st.err("connect", str(e))
        return
    except (aiohttp.ClientError, OSError) as e:
        st.err("io", f"{type(e).__name__}: {e}")
        return
    t1 = time.perf_counter()
    st.lines += lines
    st.content_lines += content
    if args.format == "sse" and not saw_done_marker:
        st.err("no_done", "stream ended without data: [DONE]")
        return
    final_event = {"anthropic": "message_stop", "responses": "response.completed"}.get(args.format)
    if final_event and not (isinstance(last, dict) and last.get("event") == final_event):
        st.err("no_done", f"last event {json.dumps(last)[:200]}")
        return
    if args.format == "ndjson" and not (isinstance(last, dict) and last.get("done") is True):
        st.err("no_done", f"last line {json.dumps(last)[:200]}")
        return
    if args.expect_chunks and content < args.expect_chunks:
        st.err("short", f"{content} content chunks < {args.expect_chunks}")
        return
    st.ok += 1
    st.ttfl.append((first or t1) - t0)
    st.total.append(t1 - t0)


async def run(args: argparse.Namespace) -> dict[str, object]:
    body = args.body
    st = Stats()
    conn = aiohttp.TCPConnector(limit=0, limit_per_host=0, force_close=False, enable_cleanup_closed=True)
    timeout = aiohttp.ClientTimeout(total=args.timeout, sock_connect=10)
    t_start = time.perf_counter()
    deadline = t_start + args.max_time
    async with aiohttp.ClientSession(connector=conn, timeout=timeout, auto_decompress=False) as session:
        if args.ramp > 0:
            # open `requests` streams spread evenly over `ramp` seconds, all concurrently
            async def delayed(i: int) -> None:
                await asyncio.sleep(args.ramp * i / max(1, args.requests))
                await one(session, args, body, st)

            tasks = [asyncio.create_task(delayed(i)) for i in range(args.requests)]
            _, pending = await asyncio.wait(tasks, timeout=args.max_time)
            for t in pending:
                t.cancel()
            if pending:
                st.err("unfinished", f"{len(pending)} streams still open at --max-time")
                st.errors["unfinished"] = len(pending)
        else:
            counter = iter(range(args.requests))

            async def worker() -> None:
                for _ in counter:
                    if time.perf_counter() > deadline:
                        return
                    await one(session, args, body, st)

            await asyncio.wait_for(
                asyncio.gather(*(worker() for _ in range(args.concurrency))), timeout=args.max_time + 30
            )
    wall = time.perf_counter() - t_start

    def ms(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 3)

    return {
        "requests": st.started,
        "ok": st.ok,
        "errors": sum(st.errors.values()),
        "error_kinds": st.errors,
        "error_samples": st.samples,
        "wall_s": round(wall, 3),
        "rps": round(st.ok / wall, 2) if wall else None,
        "lines": st.lines,
        "content_chunks": st.content_lines,
        "lines_per_s": round(st.lines / wall, 1) if wall else None,
        "ttfl_p50_ms": ms(percentile(st.ttfl, 50)),
        "ttfl_p99_ms": ms(percentile(st.ttfl, 99)),
        "p50_ms": ms(percentile(st.total, 50)),
        "p99_ms": ms(percentile(st.total, 99)),
        "peak_open": st.peak_open,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--body-file", required=True)
    ap.add_argument("--format", choices=["ndjson", "sse", "json", "anthropic", "responses"], required=True)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--requests", type=int, default=10)
    ap.add_argument("--ramp", type=float, default=0.0, help="open all --requests at once over this many s")
    ap.add_argument("--expect-chunks", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0, help="per request")
    ap.add_argument("--max-time", type=float, default=120.0, help="whole run")
    args = ap.parse_args()
    if not args.url.startswith(("http://127.", "http://localhost")):
        raise SystemExit("loopback targets only")
    raise_nofile()
    with open(args.body_file, "rb") as f:
        args.body = f.read()
    try:
        import uvloop

        res = uvloop.run(run(args))
    except ImportError:
        res = asyncio.run(run(args))
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
