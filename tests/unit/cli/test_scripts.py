"""scripts/run and scripts/lib/venv.sh on a copy of the repository whose .venv, proxy, pip and demo backend
are stand-ins that record what they were asked: which install, which stamps, and that the demo backend
scripts/run started is stopped however the proxy ends (and only then)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

FAKE_BACKEND = """\
import os, pathlib, sys
log = pathlib.Path(os.environ["FAKE_LOG"])
state = pathlib.Path(os.environ["FAKE_STATE"])
command = sys.argv[1]
with log.open("a") as f:
    f.write(f"backend {command}\\n")
if command == "status":
    sys.exit(0 if state.exists() else 1)
if command == "start":
    if os.environ.get("FAKE_BACKEND_FAIL"):
        print("[llama_backend] error: port 18080 on 127.0.0.1 is in use", file=sys.stderr)
        sys.exit(2)
    state.touch()
    print("progress line")
    print("http://127.0.0.1:18080/v1")
if command == "stop":
    state.unlink(missing_ok=True)
"""

FAKE_PROXY = """\
#!/usr/bin/env python3
import os, pathlib, signal, sys, time
log = pathlib.Path(os.environ["FAKE_LOG"])
def say(text):
    with log.open("a") as f:
        f.write(text + "\\n")
def stop(signum, frame):
    say(f"proxy got {signal.Signals(signum).name}")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
if "--dry-run" in sys.argv:
    say(f"dry-run {' '.join(a for a in sys.argv[1:] if a != '--dry-run')}".rstrip())
    if os.environ.get("FAKE_DRY_RUN_EXIT"):
        print("ollama-openai-proxy: error: argument --port: bad", file=sys.stderr)
    sys.exit(int(os.environ.get("FAKE_DRY_RUN_EXIT", "0")))
say(f"proxy {' '.join(sys.argv[1:])} url={os.environ.get('OPENAI_BASE_URL', '')}")
if os.environ.get("FAKE_PROXY_EXIT"):
    sys.exit(int(os.environ["FAKE_PROXY_EXIT"]))
time.sleep(60)
"""


def _stamp(root: Path) -> str:
    return hashlib.sha256((root / "pyproject.toml").read_bytes()).hexdigest()[:16]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts" / "lib").mkdir(parents=True)
    for name in ("scripts/run", "scripts/test", "scripts/lib/venv.sh", "pyproject.toml"):
        shutil.copy(REPO / name, root / name)
    (root / "scripts" / "llama_backend.py").write_text(FAKE_BACKEND)
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    proxy = bin_dir / "ollama-openai-proxy"
    proxy.write_text(FAKE_PROXY.replace("/usr/bin/env python3", sys.executable))
    proxy.chmod(0o755)
    (root / ".venv" / ".installed-runtime").write_text(_stamp(root) + "\n")
    return root


def _env(repo: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OLLAMA_", "LLAMA_BACKEND_"))}
    env.update(FAKE_LOG=str(repo / "log"), FAKE_STATE=str(repo / "backend-running"), **extra)
    return env


def _log(repo: Path) -> list[str]:
    path = repo / "log"
    return path.read_text().splitlines() if path.exists() else []


def _default_signals() -> None:
    # A job started in the background by a non-interactive shell (as CI may run us) inherits
    # SIGINT ignored, and bash cannot trap a signal ignored on entry; a signal blocked in this
    # process (the mask survives exec) would never reach the script: give it a terminal's.
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT})


def _start(repo: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(repo / "scripts" / "run"), *args],
        env=_env(repo, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_signals,
    )
    deadline = time.monotonic() + 30
    while not any(line.startswith("proxy ") for line in _log(repo)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, _log(repo)
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_the_demo_backend_stops_with_the_proxy_on_a_signal(repo: Path, sig: signal.Signals) -> None:
    proc = _start(repo, "--port", "8080")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    forwarded = "SIGINT" if sig == signal.SIGINT else "SIGTERM"
    assert _log(repo) == [
        "dry-run --port 8080",  # the arguments checked before anything else
        "backend status",
        "backend start",
        "proxy --port 8080 url=http://127.0.0.1:18080/v1",
        f"proxy got {forwarded}",  # once: a second SIGINT would skip Uvicorn's graceful drain
        "backend stop",
    ]
    assert "started here: it stops with the proxy" in err
    assert not (repo / "backend-running").exists()


@pytest.mark.parametrize("code", ["0", "1", "3"])
def test_the_demo_backend_stops_when_the_proxy_exits(repo: Path, code: str) -> None:
    proc = subprocess.run(
        [str(repo / "scripts" / "run")],
        env=_env(repo, FAKE_PROXY_EXIT=code),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == int(code)
    assert _log(repo)[-1] == "backend stop"


def test_a_demo_backend_already_running_is_left_running(repo: Path) -> None:
    (repo / "backend-running").touch()
    proc = _start(repo)
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert "backend stop" not in _log(repo)
    assert "already running: left running" in err
    assert (repo / "backend-running").exists()


def test_a_demo_backend_that_fails_to_start_is_one_line_and_the_proxy_never_runs(repo: Path) -> None:
    proc = subprocess.run(
        [str(repo / "scripts" / "run")],
        env=_env(repo, FAKE_BACKEND_FAIL="1"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "[llama_backend] error: port 18080 on 127.0.0.1 is in use" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(line.startswith("proxy") for line in _log(repo))


def test_a_bad_argument_fails_before_the_demo_backend_is_touched(repo: Path) -> None:
    proc = subprocess.run(
        [str(repo / "scripts" / "run"), "--port", "70000"],
        env=_env(repo, FAKE_DRY_RUN_EXIT="2"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["ollama-openai-proxy: error: argument --port: bad"]
    assert _log(repo) == ["dry-run --port 70000"]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--port", "70000"], 2, "--port"),
        (["--port", "0"], 2, "--port"),
        (["--workers", "0"], 2, "--workers"),
        (["--frob"], 2, "--frob"),
        (["--log-level", "loud"], 2, "--log-level"),
        (["--host", "10.255.255.1"], 1, "not an address of this machine"),
        (["check", "--port", "3"], 2, "--port"),
        (["--config", "/nonexistent/x.yaml"], 2, "x.yaml"),  # a named config: no demo at all
    ],
)
def test_the_real_cli_checks_its_arguments_before_the_demo(
    repo: Path, args: list[str], code: int, says: str
) -> None:
    proxy = repo / ".venv" / "bin" / "ollama-openai-proxy"
    proxy.write_text(f'#!/bin/sh\nexec {sys.executable} -m ollama_openai_proxy "$@"\n')
    proc = subprocess.run(
        [str(repo / "scripts" / "run"), *args], env=_env(repo), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("ollama-openai-proxy: ") and says in lines[0]
    assert _log(repo) == []  # the demo backend was neither asked about nor started


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ([], {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}),
        ([], {"OPENAI_API_BASE_URL": "http://127.0.0.1:9/v1"}),
        ([], {"OLLAMA_PROXY_CONFIG": "x.yaml"}),
        (["--config", "x.yaml"], {}),
        (["check", "--config=x.yaml"], {}),
        (["--help"], {}),
        (["--version"], {}),
    ],
)
def test_no_demo_backend_when_a_backend_is_configured(
    repo: Path, args: list[str], env: dict[str, str]
) -> None:
    proc = subprocess.run(
        [str(repo / "scripts" / "run"), *args],
        env=_env(repo, FAKE_PROXY_EXIT="0", **env),
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 0
    assert [line.split(" url=")[0].rstrip() for line in _log(repo)] == [f"proxy {' '.join(args)}".rstrip()]


def test_a_backend_in_dot_env_means_no_demo(repo: Path) -> None:
    (repo / ".env").write_text("OPENAI_BASE_URL=http://127.0.0.1:9/v1\n")
    subprocess.run(
        [str(repo / "scripts" / "run")], env=_env(repo, FAKE_PROXY_EXIT="0"), check=True, timeout=30
    )
    assert not any(line.startswith("backend") for line in _log(repo))


# -- venv.sh: which install, and the stamps ---------------------------------------------------------

FAKE_PYTHON = """\
#!/usr/bin/env bash
# Records pip calls and answers like pip, one line per step; `-c` import checks succeed.
if [ "$1" = -m ] && [ "$2" = pip ]; then
  echo "pip ${*:3}" >>"$FAKE_LOG"
  echo "Collecting fastapi>=0.115 (from ollama-openai-gateway==0.1.0)"
  echo "  Downloading uvloop-0.23.0-cp312-manylinux.whl (4.5 MB)"
  echo "  Downloading tiny-1.0-py3-none-any.whl (5.3 kB)"
  echo "Installing collected packages: a, b, c"
  exit "${FAKE_PIP_EXIT:-0}"
fi
exit 0
"""


@pytest.fixture
def venv(repo: Path) -> Path:
    python = repo / ".venv" / "bin" / "python"
    python.unlink()
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    (repo / ".venv" / ".installed-runtime").unlink()
    return repo / ".venv"


def _ensure(repo: Path, kind: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = f"set -euo pipefail; source scripts/lib/venv.sh; ensure_venv {kind}"
    return subprocess.run(
        ["bash", "-c", script], cwd=repo, env=_env(repo, **env), capture_output=True, text=True, timeout=60
    )


def _pip_calls(repo: Path) -> list[str]:
    return [line.removeprefix("pip ") for line in _log(repo) if line.startswith("pip ")]


def test_runtime_installs_without_the_dev_extras_and_shows_progress(repo: Path, venv: Path) -> None:
    done = _ensure(repo, "runtime")
    assert done.returncode == 0, done.stderr
    (call,) = _pip_calls(repo)
    assert call.startswith(f"install --editable {repo} ")
    assert "[dev]" not in call
    assert (venv / ".installed-runtime").read_text().strip() == _stamp(repo)
    assert not (venv / ".installed-dev").exists()
    lines = done.stderr.splitlines()
    assert all(line.startswith("[setup ") for line in lines), lines
    assert any("the runtime only" in line for line in lines)
    assert any(line.endswith("Collecting fastapi>=0.115") for line in lines)
    assert any("downloading uvloop" in line and "(4.5 MB)" in line for line in lines)
    assert not any("tiny-1.0" in line for line in lines)  # small downloads are not worth a line
    assert any(line.endswith("installing 3 packages") for line in lines)


def test_a_runtime_venv_is_upgraded_by_the_tests_and_then_left_alone(repo: Path, venv: Path) -> None:
    assert _ensure(repo, "runtime").returncode == 0
    assert _ensure(repo, "runtime").returncode == 0  # up to date: nothing installed
    assert len(_pip_calls(repo)) == 1
    assert _ensure(repo, "dev").returncode == 0
    calls = _pip_calls(repo)
    assert len(calls) == 2
    assert calls[1].startswith(f"install --editable {repo}[dev] ")
    assert (venv / ".installed-dev").read_text().strip() == _stamp(repo)
    assert _ensure(repo, "runtime").returncode == 0  # dev includes the runtime
    assert _ensure(repo, "dev").returncode == 0
    assert len(_pip_calls(repo)) == 2


def test_a_changed_pyproject_reinstalls(repo: Path, venv: Path) -> None:
    assert _ensure(repo, "dev").returncode == 0
    with (repo / "pyproject.toml").open("a") as f:
        f.write("\n# changed\n")
    assert _ensure(repo, "runtime").returncode == 0
    assert len(_pip_calls(repo)) == 2
    assert (venv / ".installed-runtime").read_text().strip() == _stamp(repo)
    assert (venv / ".installed-dev").read_text().strip() != _stamp(repo)


def test_a_failed_install_says_so_and_writes_no_stamp(repo: Path, venv: Path) -> None:
    done = _ensure(repo, "runtime", FAKE_PIP_EXIT="1")
    assert done.returncode != 0
    assert "failed (exit 1)" in done.stderr
    assert "Installing collected packages: a, b, c" in done.stderr  # the end of pip's own output
    assert not (venv / ".installed-runtime").exists()


def test_the_scripts_install_what_they_need() -> None:
    run = (REPO / "scripts" / "run").read_text()
    test = (REPO / "scripts" / "test").read_text()
    assert "ensure_venv runtime" in run
    assert "ensure_venv dev" in test
    assert run.count("ensure_venv") == 1
