"""The database behind the store: URL resolution, an async SQLAlchemy engine, and Alembic migrations
run once before first use (serialised across processes, so several replicas may start at once).
SQLAlchemy and Alembic are imported only when a store is first opened: a proxy serving plain backend
models never loads them."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ollama_openai_proxy.translate.errors import ProxyError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

DB_NAME = "virtual-models.db"  # the name it had when it held virtual models only: upgrades keep them
# pg_advisory_lock key for migrations: any fixed number, the same in every replica ("oopmigr").
_MIGRATION_LOCK = 0x6F6F706D69677200 >> 8
_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def async_url(url: str) -> str:
    """``sqlite:///…`` and ``postgresql://…`` as the async drivers want them (aiosqlite, asyncpg)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r} (use sqlite:///path or postgresql://host/db)")
    if "+" in scheme:
        return url
    if scheme not in _DRIVERS:
        raise ValueError(f"unsupported database {scheme!r}: use sqlite:///path or postgresql://host/db")
    return f"{_DRIVERS[scheme]}://{rest}"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _backend_name(url: str) -> str:
    """``sqlite`` or ``postgresql``: the URL's scheme without its driver."""
    return url.partition("://")[0].split("+")[0]


def _sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///file`` URL (``sqlite:////abs``, ``sqlite:///rel``); None in memory."""
    if _backend_name(url) != "sqlite":
        return None
    database = url.partition("://")[2].partition("/")[2].partition("?")[0]
    return Path(database) if database and database != ":memory:" else None


class Database:
    """One engine per process; ``migrate`` brings the schema to the newest revision before first use.

    On SQLite, reads need no transaction (WAL lets them run beside a writer) and every write starts
    with ``BEGIN IMMEDIATE``, so concurrent writers queue on the busy timeout instead of failing.
    """

    def __init__(self, url: str, *, busy_timeout: float = 10.0) -> None:
        self.url = async_url(url)
        self.dialect = _backend_name(self.url)
        self.path = _sqlite_path(self.url)
        self.busy_timeout = busy_timeout
        self._engine: AsyncEngine | None = None
        self._migrated = False
        self._lock = asyncio.Lock()

    @property
    def display_url(self) -> str:
        """The URL without its password, for logs and errors."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> AsyncEngine:
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import create_async_engine

        if self.dialect != "sqlite":
            return create_async_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        engine = create_async_engine(self.url, connect_args={"timeout": self.busy_timeout})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # the driver's own BEGIN would be DEFERRED
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            cursor.close()

        return engine

    def exists(self) -> bool:
        """False only for an SQLite file not created yet (reads then find nothing, without creating it)."""
        return self._migrated or self.path is None or self.path.exists()

    async def ensure_ready(self) -> None:
        """Migrate on first use; a clear 500 when the database cannot be reached or created."""
        if self._migrated:
            return
        from sqlalchemy.exc import SQLAlchemyError

        async with self._lock:
            if self._migrated:
                return
            try:
                await self.migrate()
            except (OSError, SQLAlchemyError) as exc:
                raise ProxyError(
                    500, f"the store at {self.display_url} is unavailable: {_reason(exc)}"
                ) from None

    async def migrate(self) -> None:
        """Upgrade the schema to the newest Alembic revision, one process at a time."""
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # SQLite has no advisory locks: workers on one host take turns on a lock file instead.
            lock_path = self.path.with_name(self.path.name + ".migrate-lock")
            fd = await asyncio.to_thread(os.open, lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
                async with self.engine.connect() as conn:
                    await conn.run_sync(_upgrade)
                    await conn.commit()
            finally:
                os.close(fd)  # releases the lock
        else:
            from sqlalchemy import text

            async with self.engine.connect() as conn:
                # A transaction-scoped advisory lock: replicas starting together migrate one after another.
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                await conn.run_sync(_upgrade)
                await conn.commit()
        self._migrated = True
        # SQLAlchemy and Alembic were imported just now, after start-up froze its objects (app.py):
        # freeze theirs too, so the collector does not rescan them for every request.
        gc.freeze()
        log.info("store ready at %s", self.display_url)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        await self.ensure_ready()
        from sqlalchemy.exc import SQLAlchemyError

        try:
            async with self.engine.connect() as conn:
                yield conn
        except (OSError, SQLAlchemyError) as exc:
            raise ProxyError(500, f"the store at {self.display_url} failed: {_reason(exc)}") from None

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        await self.ensure_ready()
        from sqlalchemy.exc import SQLAlchemyError

        try:
            async with self.engine.begin() as conn:
                if self.dialect == "sqlite":
                    await conn.exec_driver_sql("BEGIN IMMEDIATE")
                yield conn
        except (OSError, SQLAlchemyError) as exc:
            raise ProxyError(500, f"the store at {self.display_url} failed: {_reason(exc)}") from None

    async def dispose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


def _reason(exc: BaseException) -> str:
    detail = getattr(exc, "orig", None) or exc
    return f"{type(detail).__name__}: {detail}".splitlines()[0][:300]


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
