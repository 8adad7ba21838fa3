"""A small cluster on loopback: private PostgreSQL and Redis, a scripted backend, three proxy
processes sharing them, and nginx in front (round robin). Every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.fake_backend import FakeBackend, free_port
from tests.support.processes import proxy_command, wait_answering
from tests.support.services import Nginx, Postgres, Redis, ensure_installed

MAX_CONCURRENCY = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/scale/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.scale)


class Replica:
    """One proxy process on a fixed port (a restart comes back on the same one)."""

    def __init__(self, name: str, env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Replica:
        self.starts += 1
        log = (self.folder / f"{self.name}-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            proxy_command(self.port, "--host", "127.0.0.1"),
            env=self.env,
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 30.0) -> Replica:
        assert self.proc is not None
        wait_answering(self.proc, f"{self.url}/ready", self.log, self.name, timeout)
        return self

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait_exit(20)

    def log(self) -> str:
        return (self.folder / f"{self.name}-{self.starts}.log").read_text(errors="replace")[-4000:]


class Cluster:
    def __init__(self, backend: FakeBackend, replicas: list[Replica], nginx: Nginx, redis: Redis) -> None:
        self.backend = backend
        self.replicas = replicas
        self.nginx = nginx
        self.redis = redis
        self.stop_helpers = threading.Event()  # set to stop a test's helper threads


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    try:
        ensure_installed()
    except pytest.fail.Exception:
        if os.environ.get("CI"):
            raise
        pytest.skip("PostgreSQL, Redis and nginx are not installed (scripts/install_scale_services.sh)")
    folder = Path(tempfile.mkdtemp(prefix="oop-scale-"))
    started: list[object] = []
    try:
        postgres = Postgres().start()
        started.append(postgres)
        redis = Redis().start()
        started.append(redis)
        backend = FakeBackend(
            models=[{"id": "test-model", "object": "model", "owned_by": "test", "created": 1700000000}]
        ).start()
        started.append(backend)
        config = folder / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {"backends": [{"name": "main", "base_url": backend.url, "max_concurrency": MAX_CONCURRENCY}]}
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "OPENAI_"))}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.update(
            {
                "OLLAMA_PROXY_CONFIG": str(config),
                "OLLAMA_PROXY_DATABASE_URL": postgres.create_database("proxy"),
                "OLLAMA_PROXY_REDIS_URL": redis.url,
                "OLLAMA_PROXY_DRAIN_DELAY": "1",
                "OLLAMA_PROXY_SHUTDOWN_GRACE": "10",
                "OLLAMA_PROXY_BACKEND_PROFILE": "generic",
                "OLLAMA_PROXY_LOG_LEVEL": "warning",
                "OLLAMA_PROXY_STATE_DIR": str(folder),
            }
        )
        # All three start at once: they race to migrate the empty database.
        replicas = [Replica(name, env, folder).start() for name in ("a", "b", "c")]
        started.extend(replicas)
        for replica in replicas:
            replica.wait_ready()
        nginx = Nginx([f"127.0.0.1:{r.port}" for r in replicas]).start()
        started.append(nginx)
        yield Cluster(backend, replicas, nginx, redis)
    finally:
        for item in reversed(started):
            item.stop()  # type: ignore[attr-defined]
