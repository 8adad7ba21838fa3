"""Backend slots shared through Redis: the limit holds across clients, leases of a dead process
expire, and an unreachable Redis falls back to the per-replica limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as redis

from ollama_openai_proxy.backends import limiter
from ollama_openai_proxy.backends.limiter import SharedSlots, connect
from tests.support.services import Redis, redis_or_skip


@pytest.fixture(scope="module")
def redis_server() -> Iterator[Redis]:
    server = redis_or_skip()
    yield server
    server.stop()


@pytest.fixture
async def client(redis_server: Redis) -> AsyncIterator[redis.Redis]:
    conn = connect(redis_server.url)
    await conn.flushdb()
    yield conn
    await conn.aclose()


async def test_the_limit_holds_across_replicas(client: redis.Redis) -> None:
    replicas = [SharedSlots(client, "b", 2) for _ in range(3)]
    in_flight = peak = 0

    async def request(slots: SharedSlots) -> None:
        nonlocal in_flight, peak
        assert await slots.acquire(10)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        slots.release()

    await asyncio.gather(*(request(replicas[i % 3]) for i in range(24)))
    assert peak == 2
    for slots in replicas:
        await slots.close()
    assert await client.zcard("ollama-openai-proxy:slots:b") == 0


async def test_no_free_slot_within_the_wait(client: redis.Redis) -> None:
    first, second = SharedSlots(client, "b", 1), SharedSlots(client, "b", 1)
    assert await first.acquire(1)
    assert await second.acquire(0.05) is False
    first.release()
    await first.close()
    assert await second.acquire(1)
    await second.close()


async def test_a_dead_replicas_leases_expire(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limiter, "LEASE_SECONDS", 0.2)
    dead = SharedSlots(client, "b", 1)
    assert await dead.acquire(1)
    assert dead._renewer is not None
    dead._renewer.cancel()  # the process died: nobody renews or releases
    alive = SharedSlots(client, "b", 1)
    assert await alive.acquire(2)
    await alive.close()


async def test_held_leases_are_renewed(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limiter, "LEASE_SECONDS", 0.3)
    monkeypatch.setattr(limiter, "RENEW_SECONDS", 0.05)
    holder, other = SharedSlots(client, "b", 1), SharedSlots(client, "b", 1)
    assert await holder.acquire(1)
    assert await other.acquire(0.6) is False  # twice the lease: renewal kept it
    await holder.close()
    assert await other.acquire(1)
    await other.close()


async def test_unreachable_redis_falls_back_to_the_local_limit(caplog: pytest.LogCaptureFixture) -> None:
    from tests.support.fake_backend import free_port

    slots = SharedSlots(connect(f"redis://127.0.0.1:{free_port()}/0"), "b", 1)
    assert await slots.acquire(1)
    assert "limited per replica only" in caplog.text
    await slots.close()
