"""Private PostgreSQL, Redis and nginx instances for tests: Debian's binaries (installed by
scripts/install_scale_services.sh when missing), on loopback, on free ports, in temporary folders."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_backend import free_port

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install_scale_services.sh"


def ensure_installed() -> None:
    """Install the Debian packages when missing; fails the test with the installer's output."""
    result = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        pytest.fail(f"installing PostgreSQL/Redis/nginx failed:\n{result.stdout}\n{result.stderr}")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(name)
    return found[-1]


def _wait_port(port: int, timeout: float = 20.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:g}s")


class Postgres:
    """``initdb`` + ``pg_ctl`` in a temporary folder; as root, the server runs as user postgres."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="oop-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> Postgres:
        data = self.dir / "data"
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        )
        self._run(
            _pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"
        )
        _wait_port(self.port)
        return self

    def create_database(self, name: str) -> str:
        """A fresh, empty database on this server; its URL."""
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, FileNotFoundError):
            self._run(_pg_bin("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class _Daemon:
    """A server run in the foreground on a free loopback port, with a temporary folder."""

    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Redis(_Daemon):
    def __init__(self) -> None:
        super().__init__("oop-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> Redis:
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        self._spawn([*argv, "--appendonly", "no", "--dir", str(self.dir)])
        return self


class Nginx(_Daemon):
    """Round robin over ``upstreams`` (host:port), HTTP/1.1 keep-alive to them, retrying a request
    on the next replica only when the connection failed before anything was sent back."""

    def __init__(self, upstreams: list[str]) -> None:
        super().__init__("oop-nginx-")
        self.url = f"http://127.0.0.1:{self.port}"
        self.upstreams = upstreams

    def config(self) -> str:
        servers = "\n".join(f"    server {u} max_fails=0;" for u in self.upstreams)
        return f"""
daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  upstream proxies {{
{servers}
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://proxies;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 120s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 3;
    }}
  }}
}}
"""

    def start(self) -> Nginx:
        (self.dir / "nginx.conf").write_text(self.config())
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        conf, log = str(self.dir / "nginx.conf"), str(self.dir / "error.log")
        self._spawn([nginx, "-c", conf, "-p", str(self.dir), "-e", log])
        return self


def started_or_skip(service: Callable[[], Postgres | Redis]) -> Any:
    """A started private PostgreSQL or Redis; in CI a missing one fails, elsewhere it skips the test."""
    try:
        ensure_installed()
        return service()
    except (pytest.fail.Exception, OSError, subprocess.SubprocessError) as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL/Redis here: {exc}")


def postgres_or_skip() -> Postgres:
    server: Postgres = started_or_skip(lambda: Postgres().start())
    return server


def redis_or_skip() -> Redis:
    server: Redis = started_or_skip(lambda: Redis().start())
    return server
