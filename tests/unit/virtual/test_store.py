"""Virtual model stores: SQLite (shared by processes), memory (configuration, read-only) and layered."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from ollama_openai_proxy.virtual import (
    LayeredStore,
    MemoryStore,
    ModelNotFoundError,
    ReadOnlyModelError,
    SQLiteStore,
    VirtualModel,
    VirtualModelError,
    VirtualStore,
)


def vm(name: str, base: str = "llama3.2", **fields: object) -> VirtualModel:
    return VirtualModel.model_validate({"name": name, "base": base, **fields})


READ_ONLY = "model '{}' is declared in the configuration file and cannot be changed here"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "virtual.sqlite"


def test_sqlite_creates_parent_folders_and_uses_wal(db: Path) -> None:
    SQLiteStore(db)
    assert db.exists()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_sqlite_crud(db: Path) -> None:
    store = SQLiteStore(db)
    assert store.get("pirate") is None
    assert store.list() == []
    model = vm("Pirate", system="Arr", parameters={"temperature": 0.5, "stop": ["x"]})
    store.put(model)
    for spelling in ("pirate", "PIRATE:latest", "Pirate:Latest", "registry.ollama.ai/library/pirate"):
        assert store.get(spelling) == model, spelling
    assert store.get("pirate:v2") is None
    store.put(vm("pirate:latest", system="replaced"))
    got = store.get("pirate")
    assert got is not None
    assert got.system == "replaced"
    assert [m.name for m in store.list()] == ["pirate:latest"]
    assert store.delete("PIRATE") is True
    assert store.delete("pirate") is False
    assert store.get("pirate") is None


def test_sqlite_list_is_ordered(db: Path) -> None:
    store = SQLiteStore(db)
    for name in ("b", "C", "a:v1"):
        store.put(vm(name))
    assert [m.name for m in store.list()] == ["a:v1", "b:latest", "C:latest"]


def test_sqlite_copy(db: Path) -> None:
    store = SQLiteStore(db)
    original = vm("pirate", system="Arr", created_at=1.0)
    store.put(original)
    copied = store.copy("Pirate:latest", "corsair:v1")
    assert copied.name == "corsair:v1"
    assert copied.system == "Arr"
    assert copied.created_at > 1.0
    assert copied.digest == original.digest
    assert store.get("corsair:v1") == copied
    assert store.get("pirate") == original
    store.copy("pirate", "corsair:v1")  # overwrites the destination, like `ollama cp`
    assert len(store.list()) == 2


def test_sqlite_copy_errors(db: Path) -> None:
    store = SQLiteStore(db)
    with pytest.raises(ModelNotFoundError) as info:
        store.copy("ghost", "x")
    assert str(info.value) == 'model "ghost" not found'
    assert info.value.status == 404
    assert isinstance(info.value, LookupError)
    store.put(vm("pirate"))
    with pytest.raises(VirtualModelError, match=r"^invalid model name$"):
        store.copy("pirate", "no good")
    assert [m.name for m in store.list()] == ["pirate:latest"]


def test_two_instances_share_one_file(db: Path) -> None:
    first, second = SQLiteStore(db), SQLiteStore(db)
    first.put(vm("a", system="one"))
    got = second.get("a")
    assert got is not None
    assert got.system == "one"
    second.put(vm("a", system="two"))
    second.copy("a", "b")
    got = first.get("a")
    assert got is not None
    assert got.system == "two"
    assert [m.name for m in first.list()] == ["a:latest", "b:latest"]
    assert first.delete("b")
    assert second.get("b") is None


def _writer(path: str, worker: int) -> None:
    store = SQLiteStore(path, timeout=30)
    for i in range(25):
        store.put(vm(f"w{worker}-{i}", system=str(i)))
        store.copy(f"w{worker}-{i}", f"shared-{i}")


def test_concurrent_processes(db: Path) -> None:
    SQLiteStore(db)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db), n)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    models = SQLiteStore(db).list()
    assert len(models) == 3 * 25 + 25


def test_corrupt_row_is_skipped(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SQLiteStore(db)
    store.put(vm("good"))
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO virtual_models VALUES ('bad', 'bad:latest', '{\"name\": 1}', 0)")
    assert [m.name for m in store.list()] == ["good:latest"]
    assert store.get("bad") is None
    assert "ignoring stored virtual model 'bad:latest'" in caplog.text


def test_memory_store_is_read_only() -> None:
    store = MemoryStore([vm("Cfg", system="configured")])
    assert store.get("cfg:latest") is not None
    assert [m.name for m in store.list()] == ["Cfg:latest"]
    with pytest.raises(ReadOnlyModelError) as info:
        store.put(vm("cfg"))
    assert str(info.value) == READ_ONLY.format("cfg:latest")
    with pytest.raises(ReadOnlyModelError, match=READ_ONLY.format("Cfg:latest")):
        store.delete("CFG")
    assert store.delete("other") is False
    with pytest.raises(ReadOnlyModelError, match=READ_ONLY.format("x:latest")):
        store.copy("cfg", "x")


def test_memory_store_rejects_duplicates() -> None:
    with pytest.raises(
        VirtualModelError, match=r"^model 'A:latest' is declared twice in the configuration file$"
    ):
        MemoryStore([vm("a"), vm("A:latest")])


def test_layered_store(db: Path) -> None:
    sqlite = SQLiteStore(db)
    sqlite.put(vm("shadowed", system="from sqlite"))
    sqlite.put(vm("mine", system="mine"))
    store = LayeredStore([vm("shadowed", system="from config"), vm("cfg")], sqlite)

    shadowed = store.get("SHADOWED")
    assert shadowed is not None
    assert shadowed.system == "from config"
    assert [m.name for m in store.list()] == ["cfg:latest", "mine:latest", "shadowed:latest"]
    assert store.is_read_only("cfg")
    assert not store.is_read_only("mine")

    for action in (
        lambda: store.put(vm("cfg:latest")),
        lambda: store.delete("cfg"),
        lambda: store.copy("mine", "CFG"),
    ):
        with pytest.raises(ReadOnlyModelError):
            action()
    with pytest.raises(ReadOnlyModelError, match=READ_ONLY.format("shadowed:latest")):
        store.delete("shadowed")

    store.put(vm("new"))
    assert sqlite.get("new") is not None
    assert store.delete("new") is True
    assert store.delete("new") is False

    copied = store.copy("cfg", "from-cfg")  # copying a configured model writes to SQLite
    assert sqlite.get("from-cfg") == copied
    assert store.copy("mine", "mine2").system == "mine"
    with pytest.raises(ModelNotFoundError, match=r'^model "ghost" not found$'):
        store.copy("ghost", "x")


def test_layered_store_accepts_a_memory_store(db: Path) -> None:
    config = MemoryStore([vm("cfg")])
    store = LayeredStore(config, SQLiteStore(db))
    assert store.config is config


def test_base_class_copy_and_abstract_methods() -> None:
    class Dict(VirtualStore):
        def __init__(self) -> None:
            self.models: dict[str, VirtualModel] = {}

        def get(self, name: str) -> VirtualModel | None:
            return self.models.get(name)

        def put(self, model: VirtualModel) -> None:
            self.models[model.name] = model

    store = Dict()
    store.put(vm("a:latest"))
    assert store.copy("a:latest", "b").name == "b:latest"
    with pytest.raises(ModelNotFoundError):
        store.copy("zzz", "b")
    with pytest.raises(NotImplementedError):
        VirtualStore().list()
