"""Virtual model stores: the shared SQL store (SQLite and PostgreSQL), memory (configuration,
read-only) and layered."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ollama_openai_proxy.store.database import Database
from ollama_openai_proxy.virtual import (
    LayeredStore,
    MemoryStore,
    ModelNotFoundError,
    ReadOnlyModelError,
    SQLStore,
    VirtualModel,
    VirtualModelError,
    VirtualStore,
)


def vm(name: str, base: str = "llama3.2", **fields: object) -> VirtualModel:
    return VirtualModel.model_validate({"name": name, "base": base, **fields})


READ_ONLY = "model '{}' is declared in the configuration file and cannot be changed here"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SQLStore]:
    database = Database(database_url)
    yield SQLStore(database)
    await database.dispose()


async def test_sqlite_creates_parent_folders_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "virtual.sqlite"
    database = Database(f"sqlite:///{path}")
    store = SQLStore(database)
    assert await store.get("x") is None
    assert not path.exists(), "a read must not create the file"
    await store.put(vm("x"))
    await database.dispose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_crud(store: SQLStore) -> None:
    assert await store.get("pirate") is None
    assert await store.list() == []
    model = vm("Pirate", system="Arr", parameters={"temperature": 0.5, "stop": ["x"]})
    await store.put(model)
    for spelling in ("pirate", "PIRATE:latest", "Pirate:Latest", "registry.ollama.ai/library/pirate"):
        assert await store.get(spelling) == model, spelling
    assert await store.get("pirate:v2") is None
    await store.put(vm("pirate:latest", system="replaced"))
    got = await store.get("pirate")
    assert got is not None
    assert got.system == "replaced"
    assert [m.name for m in await store.list()] == ["pirate:latest"]
    assert await store.delete("PIRATE") is True
    assert await store.delete("pirate") is False
    assert await store.get("pirate") is None


async def test_list_is_ordered(store: SQLStore) -> None:
    for name in ("b", "C", "a:v1"):
        await store.put(vm(name))
    assert [m.name for m in await store.list()] == ["a:v1", "b:latest", "C:latest"]
    assert await store.keys() == {"a:v1", "b", "c"}


async def test_copy(store: SQLStore) -> None:
    original = vm("pirate", system="Arr", created_at=1.0)
    await store.put(original)
    copied = await store.copy("Pirate:latest", "corsair:v1")
    assert copied.name == "corsair:v1"
    assert copied.system == "Arr"
    assert copied.created_at > 1.0
    assert copied.digest == original.digest
    assert await store.get("corsair:v1") == copied
    assert await store.get("pirate") == original
    await store.copy("pirate", "corsair:v1")  # overwrites the destination, like `ollama cp`
    assert len(await store.list()) == 2


async def test_copy_errors(store: SQLStore) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        await store.copy("ghost", "x")
    assert str(info.value) == 'model "ghost" not found'
    assert info.value.status == 404
    assert isinstance(info.value, LookupError)
    await store.put(vm("pirate"))
    with pytest.raises(VirtualModelError, match=r"^invalid model name$"):
        await store.copy("pirate", "no good")
    assert [m.name for m in await store.list()] == ["pirate:latest"]


async def test_two_instances_share_one_database(database_url: str) -> None:
    one, two = Database(database_url), Database(database_url)
    first, second = SQLStore(one), SQLStore(two)
    await first.put(vm("a", system="one"))
    got = await second.get("a")
    assert got is not None
    assert got.system == "one"
    await second.put(vm("a", system="two"))
    await second.copy("a", "b")
    got = await first.get("a")
    assert got is not None
    assert got.system == "two"
    assert [m.name for m in await first.list()] == ["a:latest", "b:latest"]
    assert await first.delete("b")
    assert await second.get("b") is None
    await one.dispose()
    await two.dispose()


def _writer(url: str, worker: int) -> None:
    async def write() -> None:
        database = Database(url, busy_timeout=30)
        store = SQLStore(database)
        for i in range(25):
            await store.put(vm(f"w{worker}-{i}", system=str(i)))
            await store.copy(f"w{worker}-{i}", f"shared-{i}")
        await database.dispose()

    asyncio.run(write())


async def test_concurrent_processes_migrate_and_write(database_url: str) -> None:
    # Nothing is migrated yet: the three processes race to create the schema, then to write.
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(database_url, n)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        await asyncio.to_thread(p.join, 90)
        assert p.exitcode == 0
    database = Database(database_url)
    assert len(await SQLStore(database).list()) == 3 * 25 + 25
    await database.dispose()


async def test_corrupt_row_is_skipped(store: SQLStore, caplog: pytest.LogCaptureFixture) -> None:
    from ollama_openai_proxy.store.tables import virtual_models

    await store.put(vm("good"))
    async with store.database.write() as db:
        await db.execute(
            virtual_models.insert().values(key="bad", name="bad:latest", data='{"name": 1}', updated_at=0)
        )
    assert [m.name for m in await store.list()] == ["good:latest"]
    assert await store.get("bad") is None
    assert "ignoring stored virtual model 'bad:latest'" in caplog.text


async def test_a_file_from_before_migrations_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "virtual-models.db"
    with sqlite3.connect(path) as conn:  # the schema 0.x wrote, without Alembic
        conn.execute(
            "CREATE TABLE virtual_models (key TEXT PRIMARY KEY, name TEXT NOT NULL, data TEXT NOT NULL,"
            " updated_at REAL NOT NULL)"
        )
        conn.execute(
            "INSERT INTO virtual_models VALUES ('old', 'old:latest', ?, 0)", (vm("old").model_dump_json(),)
        )
    conn.close()
    database = Database(f"sqlite:///{path}")
    assert [m.name for m in await SQLStore(database).list()] == ["old:latest"]
    await database.dispose()


async def test_memory_store_is_read_only() -> None:
    store = MemoryStore([vm("Cfg", system="configured")])
    assert await store.get("cfg:latest") is not None
    assert [m.name for m in await store.list()] == ["Cfg:latest"]
    with pytest.raises(ReadOnlyModelError) as info:
        await store.put(vm("cfg"))
    assert str(info.value) == READ_ONLY.format("cfg:latest")
    with pytest.raises(ReadOnlyModelError, match=READ_ONLY.format("Cfg:latest")):
        await store.delete("CFG")
    assert await store.delete("other") is False
    with pytest.raises(ReadOnlyModelError, match=READ_ONLY.format("x:latest")):
        await store.copy("cfg", "x")


def test_memory_store_rejects_duplicates() -> None:
    with pytest.raises(
        VirtualModelError, match=r"^model 'A:latest' is declared twice in the configuration file$"
    ):
        MemoryStore([vm("a"), vm("A:latest")])


async def test_layered_store(store: SQLStore) -> None:
    await store.put(vm("shadowed", system="from the store"))
    await store.put(vm("mine", system="mine"))
    layered = LayeredStore([vm("shadowed", system="from config"), vm("cfg")], store)

    shadowed = await layered.get("SHADOWED")
    assert shadowed is not None
    assert shadowed.system == "from config"
    assert [m.name for m in await layered.list()] == ["cfg:latest", "mine:latest", "shadowed:latest"]
    assert layered.is_read_only("cfg")
    assert not layered.is_read_only("mine")

    for action in (
        lambda: layered.put(vm("cfg:latest")),
        lambda: layered.delete("cfg"),
        lambda: layered.copy("mine", "CFG"),
    ):
        with pytest.raises(ReadOnlyModelError):
            await action()
    with pytest.raises(ReadOnlyModelError, match=READ_ONLY.format("shadowed:latest")):
        await layered.delete("shadowed")

    await layered.put(vm("new"))
    assert await store.get("new") is not None
    assert await layered.delete("new") is True
    assert await layered.delete("new") is False

    copied = await layered.copy("cfg", "from-cfg")  # copying a configured model writes to the store
    assert await store.get("from-cfg") == copied
    assert (await layered.copy("mine", "mine2")).system == "mine"
    with pytest.raises(ModelNotFoundError, match=r'^model "ghost" not found$'):
        await layered.copy("ghost", "x")


def test_layered_store_accepts_a_memory_store(tmp_path: Path) -> None:
    config = MemoryStore([vm("cfg")])
    layered = LayeredStore(config, SQLStore(Database(f"sqlite:///{tmp_path / 'x.db'}")))
    assert layered.config is config


async def test_base_class_copy_and_abstract_methods() -> None:
    class Dict(VirtualStore):
        def __init__(self) -> None:
            self.models: dict[str, VirtualModel] = {}

        async def get(self, name: str) -> VirtualModel | None:
            return self.models.get(name)

        async def put(self, model: VirtualModel) -> None:
            self.models[model.name] = model

    store = Dict()
    await store.put(vm("a:latest"))
    assert (await store.copy("a:latest", "b")).name == "b:latest"
    with pytest.raises(ModelNotFoundError):
        await store.copy("zzz", "b")
    with pytest.raises(NotImplementedError):
        await VirtualStore().list()


async def test_unreachable_database_is_a_clear_500(tmp_path: Path) -> None:
    from ollama_openai_proxy.translate.errors import ProxyError

    blocker = tmp_path / "file"
    blocker.write_text("")
    database = Database(f"sqlite:///{blocker / 'sub' / 'x.db'}")  # a folder under a file
    with pytest.raises(ProxyError) as info:
        await SQLStore(database).put(vm("x"))
    assert info.value.status == 500
    assert "the store at sqlite+aiosqlite:///" in info.value.message


def test_database_urls() -> None:
    from ollama_openai_proxy.store.database import async_url

    assert async_url("sqlite:////tmp/x.db") == "sqlite+aiosqlite:////tmp/x.db"
    assert async_url("postgresql://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    assert async_url("postgres://h/db") == "postgresql+asyncpg://h/db"
    assert async_url("postgresql+asyncpg://h/db") == "postgresql+asyncpg://h/db"
    for bad in ("mysql://h/db", "/tmp/x.db"):
        with pytest.raises(ValueError, match="sqlite:///path or postgresql://host/db"):
            async_url(bad)
