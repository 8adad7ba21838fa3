"""What start-up imports: the store's libraries (SQLAlchemy, Alembic), redis, h11 and FastAPI stay out
of a proxy that serves plain backend models, so start-up time and idle memory stay low."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ollama_openai_proxy.store.database import Database
from ollama_openai_proxy.store.loaded import LoadedModels

HEAVY = ("sqlalchemy", "alembic", "redis", "h11", "fastapi", "yaml")


def _modules_after(code: str, tmp_path: Path, **env: str) -> set[str]:
    script = textwrap.dedent(
        f"""
        import sys
        {textwrap.indent(textwrap.dedent(code), "        ").strip()}
        print(",".join(sorted(m for m in {HEAVY!r} if m in sys.modules)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            "OLLAMA_PROXY_STATE_DIR": str(tmp_path / "state"),
            **env,
        },
    )
    assert result.returncode == 0, result.stderr
    return {m for m in result.stdout.strip().split(",") if m}


def test_serving_plain_models_imports_no_store_or_redis(tmp_path: Path) -> None:
    code = """
        import asyncio
        from starlette.testclient import TestClient
        from ollama_openai_proxy.app import create_app
        import ollama_openai_proxy.server, ollama_openai_proxy.connections, ollama_openai_proxy.cli
        with TestClient(create_app(), base_url="http://127.0.0.1:11434") as client:
            assert client.get("/").status_code == 200
            assert client.get("/api/version").status_code == 200
            assert client.get("/api/ps").json() == {"models": []}
    """
    assert _modules_after(code, tmp_path) == set()


def test_a_redis_url_imports_redis_only_then(tmp_path: Path) -> None:
    code = """
        from ollama_openai_proxy.app import create_app
        create_app()
    """
    assert _modules_after(code, tmp_path, OLLAMA_PROXY_REDIS_URL="redis://127.0.0.1:9/0") == {"redis"}


async def test_one_process_keeps_loaded_models_in_memory(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    loaded = LoadedModels(database, shared=False)
    loaded.touch("a:latest", None)
    loaded.touch("b:latest", -1)
    loaded.touch("c:latest", 0.000001)  # expires at once
    loaded.touch("d:latest", 60)
    loaded.touch("d:latest", 0)  # unloaded
    active = await loaded.active()
    assert [name for _, name in active] == ["b:latest", "a:latest"]
    assert active[0][0] == float("inf")
    assert not (tmp_path / "store.db").exists()  # nothing was written: no store for one process
    await loaded.close()


@pytest.mark.parametrize(
    ("url", "dialect", "path"),
    [
        ("sqlite:////abs/dir/x.db", "sqlite", Path("/abs/dir/x.db")),
        ("sqlite:///rel/x.db", "sqlite", Path("rel/x.db")),
        ("sqlite:///x.db?mode=rwc", "sqlite", Path("x.db")),
        ("sqlite://", "sqlite", None),
        ("sqlite:///:memory:", "sqlite", None),
        ("postgresql://u:p@h:5432/db", "postgresql", None),
        ("postgres://u:p@h/db", "postgresql", None),
        ("postgresql+asyncpg://u@h/db", "postgresql", None),
    ],
)
def test_database_urls_are_read_without_sqlalchemy(url: str, dialect: str, path: Path | None) -> None:
    database = Database(url)
    assert (database.dialect, database.path) == (dialect, path)


def test_the_display_url_hides_the_password() -> None:
    assert "secret" not in Database("postgresql://user:secret@host/db").display_url
