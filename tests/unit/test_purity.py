"""The translation core stays pure: no module of translate/ pulls in I/O, a framework or the
settings (each imported alone in a fresh interpreter), and none reads the clock."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ollama_openai_proxy.translate as translate

TRANSLATE = Path(translate.__file__).parent
# Every module, the dialect subpackages' (translate/anthropic/, translate/responses/) included.
MODULES = sorted(
    "ollama_openai_proxy.translate." + ".".join(p.relative_to(TRANSLATE).with_suffix("").parts)
    for p in TRANSLATE.rglob("*.py")
    if p.stem != "__init__"
)
# Packages doing I/O (network, disk, database), frameworks, settings, and the proxy's impure layers.
FORBIDDEN = (
    "aiohttp",
    "sqlite3",
    "pydantic_settings",
    "starlette",
    "fastapi",
    "uvicorn",
    "yaml",
    "prometheus_client",
    "structlog",
    "ollama_openai_proxy.backends",
    "ollama_openai_proxy.virtual",
    "ollama_openai_proxy.serving",
    "ollama_openai_proxy.config",
)
CLOCK_CALLS = frozenset(
    {
        "time",
        "time_ns",
        "monotonic",
        "monotonic_ns",
        "perf_counter",
        "perf_counter_ns",
        "now",
        "utcnow",
        "today",
    }
)


def imported_by(module: str) -> set[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out))


def forbidden(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def clock_reads(source: str) -> list[str]:
    """Calls like ``time.perf_counter()`` or ``datetime.now()``, and ``import time``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in CLOCK_CALLS
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}()")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: import {n}" for n in names if n == "time"]
    return found


def test_every_translate_module_is_checked() -> None:
    assert len(MODULES) >= 10, MODULES
    assert "ollama_openai_proxy.translate.anthropic.stream" in MODULES
    assert "ollama_openai_proxy.translate.responses.request" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_imports_nothing_doing_io(module: str) -> None:
    assert forbidden(imported_by(module)) == []


@pytest.mark.parametrize("module", MODULES)
def test_reads_no_clock(module: str) -> None:
    path = TRANSLATE.joinpath(*module.split(".")[2:]).with_suffix(".py")
    assert clock_reads(path.read_text()) == []


def test_the_checks_can_fail() -> None:
    assert forbidden(imported_by("ollama_openai_proxy.backends.client")) != []
    assert sorted(clock_reads("import time\nx = time.perf_counter_ns()\n")) == [
        "line 1: import time",
        "line 2: .perf_counter_ns()",
    ]
    assert clock_reads("from datetime import datetime\nx = datetime.now()\n") == ["line 2: .now()"]
