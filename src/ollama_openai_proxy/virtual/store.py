"""Where virtual models live: the shared SQL store (created via the API), memory (configuration file)
and both layered."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ollama_openai_proxy.store.database import Database
from ollama_openai_proxy.translate import names
from ollama_openai_proxy.virtual.errors import ModelNotFoundError, ReadOnlyModelError, VirtualModelError
from ollama_openai_proxy.virtual.spec import VirtualModel, normalize_name

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger(__name__)


class VirtualStore:
    """The interface every store offers; names match case-insensitively with ``:latest`` optional."""

    async def get(self, name: str) -> VirtualModel | None:
        """The model called ``name``, or None."""
        raise NotImplementedError

    async def list(self) -> list[VirtualModel]:
        """Every model, ordered by name."""
        raise NotImplementedError

    async def put(self, model: VirtualModel) -> None:
        """Create or replace ``model`` (`ollama create` over an existing name replaces it)."""
        raise NotImplementedError

    async def delete(self, name: str) -> bool:
        """Remove ``name``; False when there was no such model."""
        raise NotImplementedError

    async def copy(self, src: str, dst: str) -> VirtualModel:
        """Store a copy of ``src`` named ``dst`` (replacing any ``dst``) and return it.

        Raises ModelNotFoundError (``model "src" not found``) when ``src`` is not in this store, and
        VirtualModelError ``invalid model name`` for a bad ``dst``.
        """
        model = await self.get(src)
        if model is None:
            raise ModelNotFoundError(src, quote='"')
        copied = model.renamed(normalize_name(dst))
        await self.put(copied)
        return copied


class MemoryStore(VirtualStore):
    """Models declared in the configuration file: read-only; ``put``/``delete`` raise ReadOnlyModelError."""

    def __init__(self, models: Iterable[VirtualModel] = ()) -> None:
        self._models: dict[str, VirtualModel] = {}
        for model in models:
            if model.key in self._models:
                raise VirtualModelError(f"model '{model.name}' is declared twice in the configuration file")
            self._models[model.key] = model

    def find(self, name: str) -> VirtualModel | None:
        """``get`` without awaiting: the configuration is in memory."""
        return self._models.get(names.canonical(name))

    async def get(self, name: str) -> VirtualModel | None:
        return self.find(name)

    async def list(self) -> list[VirtualModel]:
        return sorted(self._models.values(), key=lambda m: m.key)

    async def put(self, model: VirtualModel) -> None:
        raise ReadOnlyModelError(model.name)

    async def delete(self, name: str) -> bool:
        model = self.find(name)
        if model is None:
            return False
        raise ReadOnlyModelError(model.name)

    async def copy(self, src: str, dst: str) -> VirtualModel:
        raise ReadOnlyModelError(normalize_name(dst))


class SQLStore(VirtualStore):
    """Models created through the API, in the shared database (SQLite or PostgreSQL): every process
    and replica reads the same rows, and ``copy`` runs in one write transaction. SQLAlchemy is
    imported on first use (store/database.py)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @staticmethod
    def _load(name: str, data: str) -> VirtualModel | None:
        try:
            return VirtualModel.model_validate_json(data)
        except (ValidationError, ValueError) as exc:
            log.warning("ignoring stored virtual model %r: %s", name, exc)
            return None

    async def get(self, name: str) -> VirtualModel | None:
        if not self.database.exists():
            return None
        async with self.database.read() as db:
            return await self._get(db, name)

    async def _get(self, db: AsyncConnection, name: str) -> VirtualModel | None:
        from sqlalchemy import select

        from ollama_openai_proxy.store.tables import virtual_models

        query = select(virtual_models.c.name, virtual_models.c.data).where(
            virtual_models.c.key == names.canonical(name)
        )
        row = (await db.execute(query)).first()
        return None if row is None else self._load(row.name, row.data)

    async def list(self) -> list[VirtualModel]:
        if not self.database.exists():
            return []
        from sqlalchemy import select

        from ollama_openai_proxy.store.tables import virtual_models

        async with self.database.read() as db:
            query = select(virtual_models.c.name, virtual_models.c.data).order_by(virtual_models.c.key)
            rows = (await db.execute(query)).all()
        return [m for m in (self._load(row.name, row.data) for row in rows) if m is not None]

    async def keys(self) -> set[str]:
        """The canonical name of every stored model (cheap: no JSON is read or parsed)."""
        if not self.database.exists():
            return set()
        from sqlalchemy import select

        from ollama_openai_proxy.store.tables import virtual_models

        async with self.database.read() as db:
            return set((await db.execute(select(virtual_models.c.key))).scalars())

    async def put(self, model: VirtualModel) -> None:
        async with self.database.write() as db:
            await self._write(db, model)

    async def _write(self, db: AsyncConnection, model: VirtualModel) -> None:
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        from ollama_openai_proxy.store.tables import virtual_models

        insert = pg_insert if self.database.dialect == "postgresql" else sqlite_insert
        values = {
            "key": model.key,
            "name": model.name,
            "data": model.model_dump_json(),
            "updated_at": time.time(),
        }
        statement = insert(virtual_models).values(**values)
        await db.execute(
            statement.on_conflict_do_update(
                index_elements=[virtual_models.c.key],
                set_={k: statement.excluded[k] for k in ("name", "data", "updated_at")},
            )
        )

    async def delete(self, name: str) -> bool:
        if not self.database.exists():
            return False
        from sqlalchemy import delete

        from ollama_openai_proxy.store.tables import virtual_models

        async with self.database.write() as db:
            result = await db.execute(
                delete(virtual_models).where(virtual_models.c.key == names.canonical(name))
            )
        return bool(result.rowcount)

    async def copy(self, src: str, dst: str) -> VirtualModel:
        target = normalize_name(dst)
        async with self.database.write() as db:
            model = await self._get(db, src)
            if model is None:
                raise ModelNotFoundError(src, quote='"')
            copied = model.renamed(target)
            await self._write(db, copied)
        return copied


class LayeredStore(VirtualStore):
    """Configuration-declared models over API-created ones: the configuration wins and is read-only.

    ``put``/``delete``/``copy`` onto a configured name raise ReadOnlyModelError; ``copy`` from a
    configured model into a new name is allowed (the copy lands in the writable store).
    """

    def __init__(self, config_models: MemoryStore | Iterable[VirtualModel], writable: VirtualStore) -> None:
        self.config = config_models if isinstance(config_models, MemoryStore) else MemoryStore(config_models)
        self.writable = writable

    def is_read_only(self, name: str) -> bool:
        """True when ``name`` is declared in the configuration file."""
        return self.config.find(name) is not None

    async def get(self, name: str) -> VirtualModel | None:
        return self.config.find(name) or await self.writable.get(name)

    async def list(self) -> list[VirtualModel]:
        models = {m.key: m for m in await self.writable.list()}
        models.update((m.key, m) for m in await self.config.list())
        return sorted(models.values(), key=lambda m: m.key)

    async def put(self, model: VirtualModel) -> None:
        if self.is_read_only(model.name):
            raise ReadOnlyModelError(model.name)
        await self.writable.put(model)

    async def delete(self, name: str) -> bool:
        configured = self.config.find(name)
        if configured is not None:
            raise ReadOnlyModelError(configured.name)
        return await self.writable.delete(name)

    async def copy(self, src: str, dst: str) -> VirtualModel:
        target = normalize_name(dst)
        if self.is_read_only(target):
            raise ReadOnlyModelError(target)
        configured = self.config.find(src)
        if configured is None:
            return await self.writable.copy(src, target)
        copied = configured.renamed(target)
        await self.writable.put(copied)
        return copied
