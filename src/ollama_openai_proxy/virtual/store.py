"""Where virtual models live: SQLite (created via the API), memory (configuration file) and both layered."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:
    import sqlite3

from ollama_openai_proxy.translate import names
from ollama_openai_proxy.virtual.errors import ModelNotFoundError, ReadOnlyModelError, VirtualModelError
from ollama_openai_proxy.virtual.spec import VirtualModel, normalize_name

log = logging.getLogger(__name__)

_SCHEMA_VERSION = 1


class VirtualStore:
    """The interface every store offers; names match case-insensitively with ``:latest`` optional.

    All methods are synchronous and fast; an async caller may wrap them in ``asyncio.to_thread``.
    """

    def get(self, name: str) -> VirtualModel | None:
        """The model called ``name``, or None."""
        raise NotImplementedError

    def list(self) -> list[VirtualModel]:
        """Every model, ordered by name."""
        raise NotImplementedError

    def put(self, model: VirtualModel) -> None:
        """Create or replace ``model`` (`ollama create` over an existing name replaces it)."""
        raise NotImplementedError

    def delete(self, name: str) -> bool:
        """Remove ``name``; False when there was no such model."""
        raise NotImplementedError

    def copy(self, src: str, dst: str) -> VirtualModel:
        """Store a copy of ``src`` named ``dst`` (replacing any ``dst``) and return it.

        Raises ModelNotFoundError (``model "src" not found``) when ``src`` is not in this store, and
        VirtualModelError ``invalid model name`` for a bad ``dst``.
        """
        model = self.get(src)
        if model is None:
            raise ModelNotFoundError(src, quote='"')
        copied = model.renamed(normalize_name(dst))
        self.put(copied)
        return copied


class MemoryStore(VirtualStore):
    """Models declared in the configuration file: read-only; ``put``/``delete`` raise ReadOnlyModelError."""

    def __init__(self, models: Iterable[VirtualModel] = ()) -> None:
        self._models: dict[str, VirtualModel] = {}
        for model in models:
            if model.key in self._models:
                raise VirtualModelError(f"model '{model.name}' is declared twice in the configuration file")
            self._models[model.key] = model

    def get(self, name: str) -> VirtualModel | None:
        return self._models.get(names.canonical(name))

    def list(self) -> list[VirtualModel]:
        return sorted(self._models.values(), key=lambda m: m.key)

    def put(self, model: VirtualModel) -> None:
        raise ReadOnlyModelError(model.name)

    def delete(self, name: str) -> bool:
        model = self.get(name)
        if model is None:
            return False
        raise ReadOnlyModelError(model.name)

    def copy(self, src: str, dst: str) -> VirtualModel:
        raise ReadOnlyModelError(normalize_name(dst))


class SQLiteStore(VirtualStore):
    """Models created through the API, in one SQLite file that several worker processes may share.

    One short-lived connection per call (so any thread may call), WAL journal, a busy timeout for
    concurrent writers, and ``copy`` in one write transaction. Parent folders are created.
    """

    def __init__(self, path: str | Path, *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS virtual_models ("
                " key TEXT PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL, updated_at REAL NOT NULL)"
            )
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        import sqlite3  # only once a virtual model is stored: most deployments never open it

        db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            yield db
        finally:
            db.close()

    @staticmethod
    def _load(name: str, data: str) -> VirtualModel | None:
        try:
            return VirtualModel.model_validate_json(data)
        except (ValidationError, ValueError) as exc:
            log.warning("ignoring stored virtual model %r: %s", name, exc)
            return None

    def get(self, name: str) -> VirtualModel | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT name, data FROM virtual_models WHERE key = ?", (names.canonical(name),)
            ).fetchone()
        return None if row is None else self._load(row[0], row[1])

    def list(self) -> list[VirtualModel]:
        with self._connect() as db:
            rows = db.execute("SELECT name, data FROM virtual_models ORDER BY key").fetchall()
        return [m for m in (self._load(name, data) for name, data in rows) if m is not None]

    def put(self, model: VirtualModel) -> None:
        with self._connect() as db:
            self._write(db, model)

    @staticmethod
    def _write(db: sqlite3.Connection, model: VirtualModel) -> None:
        db.execute(
            "INSERT INTO virtual_models (key, name, data, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET name = excluded.name, data = excluded.data,"
            " updated_at = excluded.updated_at",
            (model.key, model.name, model.model_dump_json(), time.time()),
        )

    def delete(self, name: str) -> bool:
        with self._connect() as db:
            cursor = db.execute("DELETE FROM virtual_models WHERE key = ?", (names.canonical(name),))
        return cursor.rowcount > 0

    def copy(self, src: str, dst: str) -> VirtualModel:
        target = normalize_name(dst)
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute(
                    "SELECT name, data FROM virtual_models WHERE key = ?", (names.canonical(src),)
                ).fetchone()
                model = None if row is None else self._load(row[0], row[1])
                if model is None:
                    raise ModelNotFoundError(src, quote='"')
                copied = model.renamed(target)
                self._write(db, copied)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return copied


class LayeredStore(VirtualStore):
    """Configuration-declared models over API-created ones: the configuration wins and is read-only.

    ``put``/``delete``/``copy`` onto a configured name raise ReadOnlyModelError; ``copy`` from a
    configured model into a new name is allowed (the copy lands in the writable store).
    """

    def __init__(self, config_models: MemoryStore | Iterable[VirtualModel], sqlite: VirtualStore) -> None:
        self.config = config_models if isinstance(config_models, MemoryStore) else MemoryStore(config_models)
        self.writable = sqlite

    def is_read_only(self, name: str) -> bool:
        """True when ``name`` is declared in the configuration file."""
        return self.config.get(name) is not None

    def get(self, name: str) -> VirtualModel | None:
        return self.config.get(name) or self.writable.get(name)

    def list(self) -> list[VirtualModel]:
        models = {m.key: m for m in self.writable.list()}
        models.update((m.key, m) for m in self.config.list())
        return sorted(models.values(), key=lambda m: m.key)

    def put(self, model: VirtualModel) -> None:
        if self.is_read_only(model.name):
            raise ReadOnlyModelError(model.name)
        self.writable.put(model)

    def delete(self, name: str) -> bool:
        configured = self.config.get(name)
        if configured is not None:
            raise ReadOnlyModelError(configured.name)
        return self.writable.delete(name)

    def copy(self, src: str, dst: str) -> VirtualModel:
        target = normalize_name(dst)
        if self.is_read_only(target):
            raise ReadOnlyModelError(target)
        configured = self.config.get(src)
        if configured is None:
            return self.writable.copy(src, target)
        copied = configured.renamed(target)
        self.writable.put(copied)
        return copied
