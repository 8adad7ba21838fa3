"""The shared store as several processes see it: virtual models read through at once, plain backend
names kept off the database, and loaded-model state (/api/ps) written sparingly and visible to all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import event

from ollama_openai_proxy.store.database import Database
from ollama_openai_proxy.store.loaded import REWRITE_AFTER_SECONDS, LoadedModels
from ollama_openai_proxy.virtual import SQLStore, VirtualModel
from ollama_openai_proxy.virtual.registry import VirtualModels


def vm(name: str, base: str = "backend-model") -> VirtualModel:
    return VirtualModel.model_validate({"name": name, "base": base})


@pytest.fixture
async def databases(database_url: str) -> AsyncIterator[Callable[[], Database]]:
    """Databases over one store, as separate replicas would open it."""
    opened: list[Database] = []

    def open_one() -> Database:
        opened.append(Database(database_url))
        return opened[-1]

    yield open_one
    for database in opened:
        await database.dispose()


def count_queries(database: Database) -> list[str]:
    seen: list[str] = []
    event.listen(database.engine.sync_engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


async def test_create_on_one_is_used_and_deleted_on_another_at_once(
    databases: Callable[[], Database],
) -> None:
    a, b, c = (VirtualModels([vm("configured")], SQLStore(databases())) for _ in range(3))
    await a.put(vm("pirate"))
    assert await b.get("pirate") == await c.get("Pirate:latest") is not None
    chain, bottom = await b.chain("pirate")
    assert [m.name for m in chain] == ["pirate:latest"]
    assert bottom == "backend-model"
    assert await c.delete("pirate") is True
    assert await a.get("pirate") is None
    assert await b.get("pirate") is None
    assert [m.name for m in await b.list()] == ["configured:latest"]


async def test_plain_backend_names_never_reach_the_database(databases: Callable[[], Database]) -> None:
    database = databases()
    models = VirtualModels([vm("configured")], SQLStore(database))
    await models.put(vm("other"))
    models._keys_at = time.monotonic()  # the background key refresh is tested on its own below
    queries = count_queries(database)
    for _ in range(50):
        assert await models.get("backend-model", backend_serves=True) is None
        assert (await models.get("configured", backend_serves=True)) is not None
        chain, bottom = await models.chain("backend-model", lambda _: True)
        assert (chain, bottom) == ([], "backend-model")
    assert queries == []
    assert await models.get("other") is not None  # an unknown-to-backends name is read through
    assert len(queries) == 1


async def test_a_shadowing_model_is_seen_within_the_recheck_window(
    databases: Callable[[], Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ollama_openai_proxy.virtual import registry

    monkeypatch.setattr(registry, "SHADOW_RECHECK_SECONDS", 0.0)
    writer, reader = (VirtualModels([], SQLStore(databases())) for _ in range(2))
    await writer.put(vm("backend-model", base="elsewhere"))  # the same name as a backend model
    assert await writer.get("backend-model", backend_serves=True) is not None  # its own write: at once
    await reader.get("backend-model", backend_serves=True)  # starts the background refresh
    assert reader._refreshing is not None
    await reader._refreshing
    assert await reader.get("backend-model", backend_serves=True) is not None
    await writer.close()
    await reader.close()


async def test_loaded_models_are_shared_and_unloaded_anywhere(databases: Callable[[], Database]) -> None:
    a, b = LoadedModels(databases()), LoadedModels(databases())
    assert await b.active() == []
    a.touch("m1", 600)
    a.touch("m2", -1)
    await a.flush()
    active = await b.active()
    assert [name for _, name in active] == ["m2", "m1"]
    assert active[0][0] == float("inf")
    assert 590 < active[1][0] - time.time() <= 600
    b.touch("m2", 0)  # unload from the other replica
    await b.flush()
    assert [name for _, name in await a.active()] == ["m1"]
    a.touch("gone", 0.01)
    await a.flush()
    await asyncio.sleep(0.05)
    assert "gone" not in [name for _, name in await b.active()]


async def test_a_busy_model_is_not_rewritten_per_request(databases: Callable[[], Database]) -> None:
    database = databases()
    loaded = LoadedModels(database)
    loaded.touch("m", 300)
    await loaded.flush()
    queries = count_queries(database)
    for _ in range(100):
        loaded.touch("m", 300)
    await loaded.flush()
    assert queries == []
    loaded.touch("m", 300 + 2 * REWRITE_AFTER_SECONDS)  # a real change in expiry is written
    await loaded.flush()
    assert queries


async def test_loaded_models_answer_locally_when_the_store_is_down(tmp_path: object) -> None:
    from pathlib import Path

    blocker = Path(str(tmp_path)) / "file"
    blocker.write_text("")
    loaded = LoadedModels(Database(f"sqlite:///{blocker / 'x.db'}"))
    loaded.touch("m", 60)
    loaded._written["m"] = time.time() + 60
    await loaded.flush()
    loaded.database._migrated = False
    loaded.database.path = None  # make it look like a remote database that cannot be reached
    assert [name for _, name in await loaded.active()] == ["m"]
