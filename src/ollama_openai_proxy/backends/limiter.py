"""A backend's ``max_concurrency`` held across replicas: leases in a Redis sorted set that expire by
themselves if a replica dies, renewed while their requests run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0  # a dead replica's slots come back after this long
RENEW_SECONDS = 10.0
_POLL_MIN, _POLL_MAX = 0.005, 0.1

# Drop expired leases, then take one if fewer than the limit are held. Redis's clock for every replica.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
  return 1
end
return 0
"""
_RENEW = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
for i, lease in ipairs(ARGV) do
  if i > 1 then redis.call('ZADD', KEYS[1], 'XX', t + tonumber(ARGV[1]), lease) end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000))
return 1
"""


class SharedSlots:
    """``limit`` slots for one backend, shared by every process that uses the same Redis and name."""

    def __init__(self, client: redis.Redis, backend: str, limit: int) -> None:
        self.client = client
        self.key = f"ollama-openai-proxy:slots:{backend}"
        self.limit = limit
        self.held: list[str] = []
        self._take: Any = client.register_script(_TAKE)
        self._renew: Any = client.register_script(_RENEW)
        self._renewer: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()

    async def acquire(self, within: float) -> bool:
        """Wait up to ``within`` seconds for a slot: True once held, False when none came free.
        Redis unreachable: logged, and True (the per-replica limit still applies)."""
        lease = uuid.uuid4().hex
        pause = _POLL_MIN
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                taken = await self._take(keys=[self.key], args=[self.limit, LEASE_SECONDS, lease])
            except RedisError as exc:
                log.warning("redis unreachable (%s): %s is limited per replica only", exc, self.key)
                return True
            if taken:
                self.held.append(lease)
                self._keep_renewing()
                return True
            if loop.time() + pause > deadline:
                return False
            await asyncio.sleep(pause * random.uniform(0.5, 1.0))
            pause = min(pause * 2, _POLL_MAX)

    def release(self) -> None:
        """Give one held lease back (they are interchangeable), in the background."""
        if not self.held:
            return
        lease = self.held.pop()
        task = asyncio.get_running_loop().create_task(self._release(lease))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release(self, lease: str) -> None:
        try:
            await self.client.zrem(self.key, lease)
        except RedisError as exc:
            log.warning(
                "releasing a slot of %s failed (%s): it expires within %gs", self.key, exc, LEASE_SECONDS
            )

    def _keep_renewing(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_while_held())

    async def _renew_while_held(self) -> None:
        while self.held:
            await asyncio.sleep(RENEW_SECONDS)
            if not self.held:
                return
            try:
                await self._renew(keys=[self.key], args=[LEASE_SECONDS, *self.held])
            except RedisError as exc:
                log.warning("renewing slots of %s failed: %s", self.key, exc)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        with contextlib.suppress(Exception):
            if self.held:
                await self.client.zrem(self.key, *self.held)
            self.held.clear()
        if self._releases:
            await asyncio.gather(*list(self._releases), return_exceptions=True)


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
