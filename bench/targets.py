"""Proxies the benchmark can drive.

`proxy`    this project (src/ollama_openai_proxy), run from the repo's .venv
`standin`  bench/standin_proxy.py, a trivial aiohttp bridge to check the harness itself

Side-by-side bridges from PyPI for --compare, each installed into its own venv under
.cache/bench-venvs/<name>:

`ollama-proxy-plus`         PyPI ollama-proxy-plus: `ollama-proxy serve`; an unprefixed model goes
                            to its "openai" provider, whose base URL is overridden with
                            PROVIDERS_OPENAI_BASE_URL.
`pypi-ollama-openai-proxy`  PyPI ollama-openai-proxy 0.7.0 (an unrelated project of that name):
                            its wheel installs main.py/config.py/... at the top of site-packages but
                            imports them as `src.*`, so its console script cannot start; we add a
                            shim folder with `src` -> site-packages and run `uvicorn src.main:app`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import HOST

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / ".cache" / "bench-venvs"
BENCH = ROOT / "bench"

# environment variables that would redirect or reconfigure a proxy behind our back
_SCRUB_PREFIXES = (
    "OLLAMA_",
    "OPENAI_",
    "PROVIDERS_",
    "PROXY_",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB_PREFIXES)}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Target:
    name: str
    description: str
    argv: Callable[[int, int], list[str]]  # (port, workers) -> argv
    env: Callable[[str], dict[str, str]]  # backend base URL -> env
    prepare: Callable[[], str | None] = lambda: None  # returns a reason it cannot run, or None
    honours_workers: bool = False
    notes: list[str] = field(default_factory=list)


def _venv_python() -> str:
    p = ROOT / ".venv" / "bin" / "python"
    return str(p) if p.exists() else sys.executable


def _proxy_prepare() -> str | None:
    if not (ROOT / "src" / "ollama_openai_proxy" / "__main__.py").exists():
        return "src/ollama_openai_proxy/__main__.py is missing"
    r = subprocess.run(
        [_venv_python(), "-m", "ollama_openai_proxy", "--help"],
        env=_proxy_env("x"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    if r.returncode != 0:
        return "`python -m ollama_openai_proxy --help` failed: " + (r.stderr or r.stdout).strip()[-400:]
    return None


def _proxy_env(base: str) -> dict[str, str]:
    env = base_env()
    env["OPENAI_BASE_URL"] = base
    env["OPENAI_API_KEY"] = "bench-key"
    # A state directory of its own: the run measures plain backend models, not what a user created.
    env["OLLAMA_PROXY_STATE_DIR"] = tempfile.mkdtemp(prefix="bench-proxy-state-")
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _proxy_argv(port: int, workers: int) -> list[str]:
    argv = [_venv_python(), "-m", "ollama_openai_proxy", "--host", HOST, "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return argv


def _standin_argv(port: int, workers: int) -> list[str]:
    return [_venv_python(), str(BENCH / "standin_proxy.py"), "--host", HOST, "--port", str(port)]


def _standin_env(base: str) -> dict[str, str]:
    env = base_env()
    env["OPENAI_BASE_URL"] = base
    return env


# --------------------------------------------------------------------------- PyPI bridges


def _pip_venv(name: str, packages: list[str]) -> str | None:
    """Create .cache/bench-venvs/<name> and pip install packages; return an error or None."""
    venv = VENVS / name
    marker = venv / ".bench-installed"
    if marker.exists():
        return None
    VENVS.mkdir(parents=True, exist_ok=True)
    py = shutil.which("python3") or sys.executable
    try:
        if not (venv / "bin" / "python").exists():
            subprocess.run([py, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        r = subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", *packages],
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as e:
        return f"venv/pip failed: {e}"
    if r.returncode != 0:
        return f"pip install {' '.join(packages)} failed: {r.stderr.strip()[-400:]}"
    marker.write_text(" ".join(packages))
    return None


def _site_packages(venv: Path) -> Path | None:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    return found[0] if found else None


def _pp_prepare() -> str | None:
    err = _pip_venv("ollama-proxy-plus", ["ollama-proxy-plus"])
    if err:
        return err
    if not (VENVS / "ollama-proxy-plus" / "bin" / "ollama-proxy").exists():
        return "ollama-proxy-plus installed no `ollama-proxy` command"
    return None


def _pp_env(base: str) -> dict[str, str]:
    env = base_env()
    env["PROVIDERS_OPENAI_BASE_URL"] = base
    env["PROVIDERS_OPENAI_API_KEY"] = "bench-key"
    env["OPENAI_API_KEY"] = "bench-key"
    return env


def _oop_shim() -> Path:
    return VENVS / "pypi-ollama-openai-proxy" / "shim"


def _oop_prepare() -> str | None:
    err = _pip_venv("pypi-ollama-openai-proxy", ["ollama-openai-proxy==0.7.0"])
    if err:
        return err
    sp = _site_packages(VENVS / "pypi-ollama-openai-proxy")
    if sp is None or not (sp / "main.py").exists():
        return "ollama-openai-proxy 0.7.0: main.py not found in site-packages"
    shim = _oop_shim()
    shim.mkdir(exist_ok=True)
    link = shim / "src"
    if not link.exists():
        link.symlink_to(sp, target_is_directory=True)
    return None


def _oop_env(base: str) -> dict[str, str]:
    env = base_env()
    # its settings want the server root, it appends /v1/... itself
    env["OPENAI_API_BASE_URL"] = base
    env["OPENAI_API_KEY"] = "bench-key"
    env["LOG_LEVEL"] = "WARNING"
    env["PYTHONPATH"] = str(_oop_shim())
    return env


TARGETS: dict[str, Target] = {
    "proxy": Target(
        "proxy",
        "this project (python -m ollama_openai_proxy)",
        _proxy_argv,
        _proxy_env,
        _proxy_prepare,
        honours_workers=True,
    ),
    "standin": Target(
        "standin", "bench/standin_proxy.py (aiohttp, harness self-check)", _standin_argv, _standin_env
    ),
    "ollama-proxy-plus": Target(
        "ollama-proxy-plus",
        "PyPI ollama-proxy-plus 0.1.0 (FastAPI + openai SDK)",
        lambda port, w: [
            str(VENVS / "ollama-proxy-plus" / "bin" / "ollama-proxy"),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        _pp_env,
        _pp_prepare,
    ),
    "pypi-ollama-openai-proxy": Target(
        "pypi-ollama-openai-proxy",
        "PyPI ollama-openai-proxy 0.7.0 (FastAPI + httpx), via a src/ shim",
        lambda port, w: [
            str(VENVS / "pypi-ollama-openai-proxy" / "bin" / "python"),
            "-m",
            "uvicorn",
            "src.main:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        _oop_env,
        _oop_prepare,
    ),
}
