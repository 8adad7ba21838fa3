"""Scenario ``large_answer``: one 20 MB answer through /api/chat, end to end, against the same answer
fetched directly from the backend (the baseline). Large answers must cost linear time with a small
constant: the target is under 2 s for 20 MB on an idle machine.

    python bench/large_answer.py                 # 20 MB, 5 runs per case, writes bench/results/large_answer.md
    python bench/large_answer.py --mb 5 --runs 3
    python bench/large_answer.py --profile       # + py-spy top frames of the proxy (needs py-spy)

Cases: ``whole`` (the backend answers one JSON object, the generic profile), ``sse_4k`` (the backend
streams the answer in 4 KB deltas, collected for a ``stream: false`` client, the llama.cpp profile)
and ``sse_one_event`` (the whole answer in a single SSE event, read in the transport's chunks).
The backend serves pre-built bytes from a thread of this process; the proxy runs as a subprocess.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
from aiohttp import web

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import HOST, free_port, wait_http_ok  # noqa: E402
from targets import _proxy_argv, _proxy_env  # noqa: E402


def answer_text(size: int) -> str:
    line = 'Lorem ipsum dolor sit amet, "quoted", accents é ü, a tab\there and a newline.\n'
    return (line * (size // len(line) + 1))[:size]


def bodies(text: str) -> dict[str, bytes]:
    whole = orjson.dumps(
        {
            "id": "c",
            "object": "chat.completion",
            "model": "bench",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": 1,
                "completion_tokens": len(text) // 4,
                "total_tokens": 1 + len(text) // 4,
            },
        }
    )

    def event(delta: dict[str, object], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return b"data: " + orjson.dumps({"object": "chat.completion.chunk", "choices": [choice]}) + b"\n\n"

    pieces = [text[i : i + 4096] for i in range(0, len(text), 4096)]
    sse_4k = b"".join(event({"content": p}) for p in pieces) + event({}, "stop") + b"data: [DONE]\n\n"
    sse_one = event({"content": text}) + event({}, "stop") + b"data: [DONE]\n\n"
    return {"whole": whole, "sse_4k": sse_4k, "sse_one_event": sse_one}


def serve_backend(port: int, canned: dict[str, bytes]) -> None:
    models = orjson.dumps(
        {"object": "list", "data": [{"id": "bench", "object": "model", "owned_by": "bench"}]}
    )

    async def handle(request: web.Request) -> web.StreamResponse:
        case = request.match_info["case"]
        if request.path.endswith("/models"):
            return web.Response(body=models, content_type="application/json")
        await request.read()
        body = canned[case]
        if case == "whole":
            return web.Response(body=body, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for i in range(0, len(body), 1 << 16):
            await resp.write(body[i : i + (1 << 16)])
        await resp.write_eof()
        return resp

    async def main() -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{case}/v1/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, HOST, port).start()
        await asyncio.Event().wait()

    threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()


def timed(url: str, body: dict[str, object], expect: int, field: str) -> float:
    start = time.perf_counter()
    r = httpx.post(url, json=body, timeout=300)
    data = r.json()
    elapsed = time.perf_counter() - start
    text = data["message"]["content"] if field == "ollama" else data["choices"][0]["message"]["content"]
    if r.status_code != 200 or len(text) != expect:
        raise SystemExit(f"wrong answer from {url}: {r.status_code} {r.text[:200]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    size = int(args.mb * 1024 * 1024)
    text = answer_text(size)
    backend_port = free_port()
    serve_backend(backend_port, bodies(text))
    if wait_http_ok(backend_port, "/whole/v1/models", 10) is None:
        raise SystemExit("the bench backend did not start")
    rows = []
    for case, profile in (("whole", "generic"), ("sse_4k", "llamacpp"), ("sse_one_event", "llamacpp")):
        base = f"http://{HOST}:{backend_port}/{case}/v1"
        port = free_port()
        env = {
            **_proxy_env(base),
            "OLLAMA_PROXY_BACKEND_PROFILE": profile,
            "OLLAMA_PROXY_LOG_LEVEL": "warning",
        }
        proxy = subprocess.Popen(
            _proxy_argv(port, 1), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        spy: subprocess.Popen[bytes] | None = None
        try:
            if wait_http_ok(port, "/", 30, proc=proxy) is None:
                raise SystemExit(
                    f"the proxy did not start: {proxy.stderr.read().decode()[-800:] if proxy.stderr else ''}"
                )
            chat = {"model": "bench", "messages": [{"role": "user", "content": "x"}], "stream": False}
            direct = {
                "model": "bench",
                "messages": [{"role": "user", "content": "x"}],
                "stream": case != "whole",
            }
            timed(f"http://{HOST}:{port}/api/chat", chat, size, "ollama")  # warm-up
            if args.profile:
                out = BENCH / "results" / f"large_answer-{case}.txt"
                spy = subprocess.Popen(
                    ["py-spy", "record", "-f", "raw", "-o", str(out), "-p", str(proxy.pid), "-d", "30"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1)
            through = [
                timed(f"http://{HOST}:{port}/api/chat", chat, size, "ollama") for _ in range(args.runs)
            ]
            baseline = (
                [timed(f"{base}/chat/completions", direct, size, "openai") for _ in range(args.runs)]
                if case == "whole"
                else []
            )
        finally:
            if spy is not None:
                spy.terminate()
            proxy.terminate()
            proxy.wait(10)
        proxy_s = statistics.median(through)
        direct_s = statistics.median(baseline) if baseline else None
        rows.append((case, profile, proxy_s, direct_s))
        print(
            f"{case:14} {profile:9} proxy {proxy_s:.3f} s"
            + (f"  direct {direct_s:.3f} s" if direct_s else "")
        )
    load = os.getloadavg()[0]
    lines = [
        "# large_answer: one non-streamed answer end to end",
        "",
        f"{args.mb:g} MB answer, median of {args.runs} runs, load average {load:.2f} when done "
        f"({os.cpu_count()} cores). Target: under 2 s on an idle machine.",
        "",
        "| case | profile | through the proxy | direct to the backend | ratio |",
        "|---|---|---|---|---|",
    ]
    for case, profile, proxy_s, direct_s in rows:
        ratio = f"{proxy_s / direct_s:.1f}x" if direct_s else "-"
        direct = f"{direct_s:.3f} s" if direct_s else "- (SSE: no JSON baseline)"
        lines.append(f"| {case} | {profile} | {proxy_s:.3f} s | {direct} | {ratio} |")
    out = BENCH / "results" / "large_answer.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0 if all(r[2] < 2.0 for r in rows) or load > 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
