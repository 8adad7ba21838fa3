"""The proxy as a real subprocess: the command that starts it, the wait until it answers, the stop."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable


def proxy_command(port: int, *args: str) -> list[str]:
    """``python -m ollama_openai_proxy`` on ``port`` (loopback unless ``args`` say otherwise)."""
    return [PYTHON, "-m", "ollama_openai_proxy", "--port", str(port), *args]


def wait_answering(
    proc: subprocess.Popen[bytes], url: str, log: Callable[[], str], what: str, timeout: float
) -> None:
    """Until ``url`` answers 200 (bounded); the process exiting first, or the time running out, is a
    RuntimeError carrying its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}): {log()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready: {log()}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM (the graceful drain), then SIGKILL if it is still there after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
