"""The running proxy's view of virtual models: config-declared ones plus an SQLite file, cached in
memory and reloaded only when the file changes (a stat per lookup, not a query)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ollama_openai_proxy.translate import names
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.virtual.spec import VirtualModel
from ollama_openai_proxy.virtual.store import LayeredStore, MemoryStore, SQLiteStore, VirtualStore

DB_NAME = "virtual-models.db"
# How stale another worker's write may look here: the file is stat'ed at most this often.
RECHECK_SECONDS = 1.0


def default_state_dir(config: Path | None) -> Path:
    if config is not None:
        return config.resolve().parent
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "ollama-openai-proxy"


class _LazySQLite(VirtualStore):
    """Opens (and creates) the SQLite file only when a model is written, so a read-only
    deployment that declares its models in the configuration file never needs a writable disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store: SQLiteStore | None = None

    def _open(self, create: bool) -> SQLiteStore | None:
        if self._store is None and (create or self.path.exists()):
            try:
                self._store = SQLiteStore(self.path)
            except OSError as exc:
                raise ProxyError(
                    500, f"cannot store virtual models in {self.path}: {exc}; set OLLAMA_PROXY_STATE_DIR"
                ) from None
        return self._store

    def get(self, name: str) -> VirtualModel | None:
        store = self._open(False)
        return store.get(name) if store else None

    def list(self) -> list[VirtualModel]:
        store = self._open(False)
        return store.list() if store else []

    def put(self, model: VirtualModel) -> None:
        store = self._open(True)
        assert store is not None
        store.put(model)

    def delete(self, name: str) -> bool:
        store = self._open(False)
        return store.delete(name) if store else False

    def copy(self, src: str, dst: str) -> VirtualModel:
        store = self._open(True)
        assert store is not None
        return store.copy(src, dst)


class VirtualModels:
    """Lookups from an in-memory snapshot; writes go to the store and refresh the snapshot."""

    def __init__(self, declared: list[VirtualModel], state_dir: Path) -> None:
        self.path = state_dir / DB_NAME
        self.store = LayeredStore(MemoryStore(declared), _LazySQLite(self.path))
        self._stamp: tuple[int, ...] = ()
        self._snapshot: dict[str, VirtualModel] = {}
        self._checked = time.monotonic()
        self._reload()

    def _file_stamp(self) -> tuple[int, ...]:
        stamp: list[int] = []
        for suffix in ("", "-wal"):
            try:
                st = os.stat(f"{self.path}{suffix}")
                stamp += [st.st_mtime_ns, st.st_size]
            except OSError:
                stamp += [0, 0]
        return tuple(stamp)

    def _reload(self) -> None:
        self._stamp = self._file_stamp()
        self._snapshot = {m.key: m for m in self.store.list()}

    def _fresh(self) -> dict[str, VirtualModel]:
        now = time.monotonic()
        if now - self._checked >= RECHECK_SECONDS:  # at most one stat a second, not one per request
            self._checked = now
            if self._file_stamp() != self._stamp:  # another worker or replica wrote to the file
                self._reload()
        return self._snapshot

    def get(self, name: str) -> VirtualModel | None:
        return self._fresh().get(names.canonical(name))

    def list(self) -> list[VirtualModel]:
        return sorted(self._fresh().values(), key=lambda m: m.name)

    def put(self, model: VirtualModel) -> None:
        self.store.put(model)
        self._reload()

    def delete(self, name: str) -> bool:
        deleted = self.store.delete(name)
        self._reload()
        return deleted

    def copy(self, src: str, dst: str) -> VirtualModel:
        model = self.store.copy(src, dst)
        self._reload()
        return model

    def is_read_only(self, name: str) -> bool:
        return self.store.is_read_only(name)
