"""Runs the official ``ollama`` npm client's tests (tests/e2e/js, ``node --test``) against the proxy."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.helpers import LlamaBackend

JS_DIR = Path(__file__).resolve().parent / "js"
STAMP = JS_DIR / "node_modules" / ".e2e-lockfile.sha256"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: the e2e JS tests need Node.js 20+ and npm", pytrace=False)
    return path


def _ensure_node_modules(npm: str) -> None:
    """``npm ci`` when node_modules is missing or package-lock.json changed since the last install."""
    want = hashlib.sha256((JS_DIR / "package-lock.json").read_bytes()).hexdigest()
    if (
        (JS_DIR / "node_modules" / "ollama").is_dir()
        and STAMP.is_file()
        and STAMP.read_text().strip() == want
    ):
        return
    proc = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(f"npm ci failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    STAMP.write_text(want + "\n")


def test_ollama_js_client(proxy_url: str, llama_backend: LlamaBackend) -> None:
    node, npm = _tool("node"), _tool("npm")
    _ensure_node_modules(npm)
    env = dict(os.environ, OLLAMA_PROXY_URL=proxy_url, LLAMA_SERVER_URL=llama_backend.root)
    env.pop("NODE_OPTIONS", None)
    proc = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(JS_DIR)],
        cwd=JS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = f"{proc.stdout}\n{proc.stderr}"
    assert proc.returncode == 0, f"node --test failed (exit {proc.returncode}):\n{output}"
    passed = re.search(r"\bpass (\d+)", output)
    assert passed, output
    assert int(passed.group(1)) > 0, output
    assert re.search(r"\bfail 0\b", output), output
