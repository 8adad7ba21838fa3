"""Running the app under Uvicorn (the drain on a shutdown signal is in shutdown.py)."""

from __future__ import annotations

import errno
import os
import socket
import tempfile

import uvicorn

from ollama_openai_proxy.config import ConfigError


class ListenError(Exception):
    """The listen address cannot be used; the message is one line naming it."""


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_listen_address(host: str, port: int) -> None:
    """Fail early, in one line, where Uvicorn would log a stack of lines: resolve ``host`` and bind every
    address it names the way Uvicorn will (SO_REUSEADDR), then let go. ``ConfigError``: not resolvable."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise ConfigError(f"cannot resolve the listen host {host!r}: {reason}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                hint = {
                    errno.EADDRINUSE: " (another server, or Ollama itself, listens there: stop it or pick another port)",
                    errno.EACCES: " (ports below 1024 need privileges: pick another port)",
                    errno.EADDRNOTAVAIL: " (not an address of this machine)",
                }.get(exc.errno or 0, "")
                where = format_address(str(address[0]), port)
                raise ListenError(
                    f"cannot listen on {where}: {(exc.strerror or str(exc)).lower()}{hint}"
                ) from None


def serve(host: str, port: int, workers: int, log_level: str, grace: float) -> int:
    # Workers inherit the environment: the app reads its listen address (for the DNS-rebinding
    # guard) from OLLAMA_HOST, and metrics are shared through a multiprocess directory.
    os.environ["OLLAMA_HOST"] = format_address(host, port)
    os.environ["OLLAMA_PROXY_WORKERS"] = str(workers)
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ollama-openai-proxy-metrics-")
    uvicorn.run(
        "ollama_openai_proxy.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
        server_header=False,
        log_config=None,
        # shutdown.py has already given streams their grace (+1 s) when Uvicorn's shutdown begins:
        # this bounds what is left (a slow non-streamed answer), so the exit comes <= grace + 5 s
        # after the drain delay.
        timeout_graceful_shutdown=4,
        http="ollama_openai_proxy.connections:GuardedProtocol",  # header timeout, connection cap
    )
    return 0
