"""Soak: tens of thousands of small requests through the proxy (a subprocess), its memory measured
after a warm-up and at the end. Opt in: ``pytest -m soak`` (or OLLAMA_PROXY_SOAK=1); about 60-90 s."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.hardening.conftest import ProxyProcess
from tests.support.fake_backend import FakeBackend

TOTAL = 20_000
WARMUP = 2_000
CONCURRENCY = 32
MAX_GROWTH_MIB = 30.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def run(url: str, count: int, offset: int, failures: list[str]) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(offset, offset + count):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                stream = i % 2 == 1
                model = "nope" if i % 50 == 0 else "test-model"  # a few 404s in the mix
                body = {
                    "model": model,
                    "messages": [{"role": "user", "content": f"hello {i}"}],
                    "stream": stream,
                }
                response = await client.post("/api/chat", json=body)
                expected = 404 if model == "nope" else 200
                if response.status_code != expected or (
                    stream and expected == 200 and b'"done":true' not in response.content
                ):
                    failures.append(f"{i}: {response.status_code} {response.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


@pytest.mark.soak
async def test_memory_stays_flat_under_load(
    new_backend: Callable[..., FakeBackend], proxy_process: Callable[..., ProxyProcess]
) -> None:
    fake = new_backend()
    proc = proxy_process(
        {
            "OPENAI_BASE_URL": fake.url,
            "OLLAMA_PROXY_BACKEND_PROFILE": "generic",
            "OLLAMA_PROXY_LOG_LEVEL": "warning",
        }
    )
    failures: list[str] = []
    start = time.monotonic()
    await run(proc.url, WARMUP, 0, failures)
    fake.requests.clear()
    baseline = rss_mib(proc.proc.pid)
    samples = [baseline]
    done = WARMUP
    step = (TOTAL - WARMUP) // 4
    while done < TOTAL:
        await run(proc.url, step, done, failures)
        done += step
        fake.requests.clear()  # the recorder is the test's memory, not the proxy's
        samples.append(rss_mib(proc.proc.pid))
    elapsed = time.monotonic() - start
    print(f"soak: {TOTAL} requests in {elapsed:.1f}s; RSS MiB {[round(s, 1) for s in samples]}")
    assert not failures, failures[:5]
    assert samples[-1] - baseline < MAX_GROWTH_MIB, samples
    assert proc.proc.poll() is None
    assert fake.active == 0
