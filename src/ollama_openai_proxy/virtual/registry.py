"""The running proxy's view of virtual models: config-declared ones over the shared store, read
through on every lookup of a name that is not a plain backend model, so all replicas agree at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from ollama_openai_proxy.translate import names
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.virtual.apply import MAX_DEPTH, resolve_chain
from ollama_openai_proxy.virtual.spec import VirtualModel
from ollama_openai_proxy.virtual.store import LayeredStore, MemoryStore, SQLStore

log = logging.getLogger(__name__)

# How stale this process's list of stored names may be. It is consulted only for a name a backend
# also serves (a virtual model "shadowing" it): every other name is read from the store each time.
SHADOW_RECHECK_SECONDS = 2.0


class VirtualModels:
    """Lookups that keep plain backend models off the database; writes go straight to the store."""

    def __init__(self, declared: list[VirtualModel], store: SQLStore) -> None:
        self.store = LayeredStore(MemoryStore(declared), store)
        self._stored = store
        self._keys: set[str] = set()
        self._keys_at = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None

    async def get(self, name: str, *, backend_serves: bool = False) -> VirtualModel | None:
        """The virtual model ``name``. When a backend serves ``name`` too, the store is asked only if
        the name was stored as of the last few seconds (so the hot path never touches the database)."""
        declared = self.store.config.find(name)
        if declared is not None:
            return declared
        if backend_serves:
            self._refresh_keys_soon()
            if names.canonical(name) not in self._keys:
                return None
        return await self._stored.get(name)

    async def chain(
        self, start: str | VirtualModel, backend_serves: Callable[[str], bool] = lambda _: False
    ) -> tuple[list[VirtualModel], str]:
        """``resolve_chain`` over the store: (the virtual models, outermost first; the bottom name)."""
        found: dict[str, VirtualModel] = {}
        if isinstance(start, VirtualModel):
            current: VirtualModel | None = start
        else:
            current = await self.get(start, backend_serves=backend_serves(start))
        while current is not None and len(found) <= MAX_DEPTH:
            found[current.key] = current
            if names.canonical(current.base) in found:
                break
            current = await self.get(current.base, backend_serves=backend_serves(current.base))
        return resolve_chain(start, lambda n: found.get(names.canonical(n)))

    async def list(self) -> list[VirtualModel]:
        return sorted(await self.store.list(), key=lambda m: m.name)

    async def put(self, model: VirtualModel) -> None:
        await self.store.put(model)
        self._keys.add(model.key)

    async def delete(self, name: str) -> bool:
        deleted = await self.store.delete(name)
        self._keys.discard(names.canonical(name))
        return deleted

    async def copy(self, src: str, dst: str) -> VirtualModel:
        model = await self.store.copy(src, dst)
        self._keys.add(model.key)
        return model

    def is_read_only(self, name: str) -> bool:
        return self.store.is_read_only(name)

    def _refresh_keys_soon(self) -> None:
        if time.monotonic() - self._keys_at < SHADOW_RECHECK_SECONDS:
            return
        if self._refreshing is None or self._refreshing.done():
            self._keys_at = time.monotonic()  # one refresh at a time, even when it fails
            self._refreshing = asyncio.create_task(self._refresh_keys())

    async def _refresh_keys(self) -> None:
        try:
            self._keys = await self._stored.keys()
        except ProxyError as exc:
            log.warning("cannot list stored virtual models: %s", exc.message)

    async def close(self) -> None:
        if self._refreshing is not None:
            self._refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refreshing
