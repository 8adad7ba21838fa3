"""Loaded-model state for /api/ps: each request marks its model loaded for its ``keep_alive``,
``keep_alive: 0`` unloads it, and expired entries drop out. Where several processes answer (a
PostgreSQL store, or more than one worker on SQLite) it is shared through the store, written in the
background at most every few seconds per model and process; a single process keeps it in memory."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from ollama_openai_proxy.store.database import Database
from ollama_openai_proxy.translate.errors import ProxyError

log = logging.getLogger(__name__)

DEFAULT_KEEP_ALIVE = 300.0
# A request that moves a model's expiry by less than this is not written again: a busy model costs
# one write every few seconds per process, not one per request.
REWRITE_AFTER_SECONDS = 5.0
# A negative keep_alive keeps a model loaded "forever": stored as a far-future time (year 9999).
FOREVER = 253402300799.0


class LoadedModels:
    """The models served lately, with their expiry: in the shared store when ``shared``, else in
    this process's memory (``_written``)."""

    def __init__(self, database: Database, *, shared: bool = True) -> None:
        self.database = database
        self.shared = shared
        self._written: dict[str, float] = {}  # name -> the expiry this process last stored
        self._pending: set[asyncio.Task[None]] = set()

    def touch(self, name: str, keep_alive: float | None) -> None:
        """Mark ``name`` loaded for ``keep_alive`` seconds (negative: forever; 0: unload), in the background."""
        seconds = DEFAULT_KEEP_ALIVE if keep_alive is None else keep_alive
        if seconds == 0:
            self._written.pop(name, None)
            if self.shared:
                self._spawn(self._unload(name))
            return
        now = time.time()
        until = FOREVER if seconds < 0 else now + seconds
        if not self.shared:
            self._written[name] = until
            return
        last = self._written.get(name)
        if last is not None and last > now and abs(until - last) < REWRITE_AFTER_SECONDS:
            return
        self._written[name] = until
        self._spawn(self._store(name, until, now))

    def _spawn(self, write: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(write)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait for the writes started so far (an explicit load or unload answers once it is stored)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _store(self, name: str, until: float, now: float) -> None:
        from sqlalchemy import delete
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        from ollama_openai_proxy.store.tables import loaded_models

        insert = pg_insert if self.database.dialect == "postgresql" else sqlite_insert
        statement = insert(loaded_models).values(name=name, expires_at=until, updated_at=now)
        try:
            async with self.database.write() as db:
                await db.execute(
                    statement.on_conflict_do_update(
                        index_elements=[loaded_models.c.name],
                        set_={"expires_at": statement.excluded.expires_at, "updated_at": now},
                    )
                )
                await db.execute(delete(loaded_models).where(loaded_models.c.expires_at <= now))
        except ProxyError as exc:  # kept in _written: retried after REWRITE_AFTER_SECONDS, not per request
            log.warning("cannot record %s as loaded: %s", name, exc.message)

    async def _unload(self, name: str) -> None:
        from sqlalchemy import delete

        from ollama_openai_proxy.store.tables import loaded_models

        try:
            async with self.database.write() as db:
                await db.execute(delete(loaded_models).where(loaded_models.c.name == name))
        except ProxyError as exc:
            log.warning("cannot record %s as unloaded: %s", name, exc.message)

    async def active(self) -> list[tuple[float, str]]:
        """(expiry, name) of every model still loaded, the one expiring last first."""
        await self.flush()  # this process's own requests are in the answer
        now = time.time()
        if not self.shared:
            for name in [name for name, until in self._written.items() if until <= now]:
                del self._written[name]
            rows = [(until, name) for name, until in self._written.items()]
        elif not self.database.exists():
            rows = []
        else:
            from sqlalchemy import select

            from ollama_openai_proxy.store.tables import loaded_models

            query = select(loaded_models.c.name, loaded_models.c.expires_at).where(
                loaded_models.c.expires_at > now
            )
            try:
                async with self.database.read() as db:
                    rows = [(row.expires_at, row.name) for row in await db.execute(query)]
            except ProxyError as exc:  # no store: this process's own view is better than an error
                log.warning("listing loaded models: %s; answering from this process only", exc.message)
                rows = [(until, name) for name, until in self._written.items() if until > now]
        active = [(float("inf") if until >= FOREVER else until, name) for until, name in rows]
        return sorted(active, key=lambda item: item[0], reverse=True)

    async def close(self) -> None:
        await self.flush()
