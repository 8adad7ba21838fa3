"""Shared helpers for the benchmark suite: ports, rlimits, child processes, /proc accounting.

Everything here is loopback-only and bounded in time.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def raise_nofile() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def http_get_status(port: int, path: str = "/", timeout: float = 0.5) -> int | None:
    """Tiny blocking HTTP/1.0 GET returning the status code, or None if nothing answers."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(f"GET {path} HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
            data = s.recv(64)
    except OSError:
        return None
    parts = data.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1].isdigit():
        return int(parts[1])
    return None


def wait_http_ok(
    port: int,
    path: str = "/",
    timeout: float = 30.0,
    interval: float = 0.005,
    proc: subprocess.Popen[bytes] | None = None,
) -> float | None:
    """Poll GET path until it answers 200; return seconds waited or None on timeout/exit."""
    t0 = time.perf_counter()
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if http_get_status(port, path) == 200:
            return time.perf_counter() - t0
        if proc is not None and proc.poll() is not None:
            return None
        time.sleep(interval)
    return None


# --------------------------------------------------------------------------- processes


class Procs:
    """Registry of every child we start; each gets its own session so the group can be killed."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        self._lock = threading.Lock()

    def spawn(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stdout: int | object | None = subprocess.DEVNULL,
        stderr: int | object | None = None,
    ) -> subprocess.Popen[bytes]:
        # children inherit the orchestrator's RLIMIT_NOFILE, raised to the hard limit at start
        raise_nofile()
        p = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,  # type: ignore[arg-type]
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        with self._lock:
            self._procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=timeout)
        else:
            # leader gone; make sure stragglers of its own group are gone too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        with self._lock:
            if p in self._procs:
                self._procs.remove(p)

    def stop_all(self) -> None:
        with self._lock:
            procs = list(reversed(self._procs))
        for p in procs:
            self.stop(p, timeout=3.0)


# --------------------------------------------------------------------------- /proc accounting


def _all_stats() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, cpu ticks incl. reaped children, rss pages)."""
    out: dict[int, tuple[int, int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        rest = raw[raw.rfind(b")") + 2 :].split()
        # rest[0]=state(3) rest[1]=ppid(4) ... utime(14)=rest[11] stime=rest[12] cutime=rest[13]
        # cstime=rest[14] ... rss(24)=rest[21]
        try:
            ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
            out[int(name)] = (int(rest[1]), ticks, int(rest[21]))
        except (IndexError, ValueError):
            continue
    return out


def tree_pids(root: int, stats: dict[int, tuple[int, int, int]] | None = None) -> list[int]:
    stats = stats if stats is not None else _all_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out.append(pid)
            todo.extend(children.get(pid, ()))
    return out


def tree_cpu_seconds(root: int) -> float:
    """utime+stime (plus reaped children's) summed over the live process tree of root."""
    stats = _all_stats()
    return sum(stats[p][1] for p in tree_pids(root, stats)) / CLK_TCK


def tree_rss_list(root: int) -> list[tuple[int, int]]:
    """[(pid, rss bytes)] for root and its live descendants, root first."""
    stats = _all_stats()
    return [(p, stats[p][2] * PAGE) for p in tree_pids(root, stats)]


def tree_rss_bytes(root: int) -> int:
    stats = _all_stats()
    return sum(stats[p][2] for p in tree_pids(root, stats)) * PAGE


class RssSampler:
    """Background thread sampling the tree RSS of root every `interval` seconds (bounded)."""

    def __init__(self, root: int, interval: float = 0.25, max_seconds: float = 900.0) -> None:
        self.root, self.interval, self.max_seconds = root, interval, max_seconds
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t_end = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < t_end:
            with contextlib.suppress(Exception):
                self.samples.append(tree_rss_bytes(self.root))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(timeout=5)

    @property
    def peak(self) -> int:
        return max(self.samples) if self.samples else 0


def percentile(values: Iterable[float], q: float) -> float | None:
    vs = sorted(values)
    if not vs:
        return None
    k = (len(vs) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(vs) - 1)
    return vs[lo] + (vs[hi] - vs[lo]) * (k - lo)


MiB = 1024 * 1024
