#!/usr/bin/env python3
"""Benchmark suite for ollama-openai-proxy (issue "Performance").

    python bench/run.py                       # full run (~5 min on 2 cores)
    python bench/run.py --quick               # CI smoke (~75 s, no 5,000-stream scenario)
    python bench/run.py --scenarios chat_c1,chat_c64
    python bench/run.py --compare ollama-proxy-plus,pypi-ollama-openai-proxy
    python bench/run.py --workers 2 --write-docs

Backends: nginx (Debian package, installed if missing) serving canned OpenAI responses from files,
and bench/paced_backend.py for slow streams. Load: wrk + bench/post.lua for non-streamed requests,
bench/stream_client.py (aiohttp, own process) for streams. Every scenario is also run directly
against the backend with the equivalent OpenAI request, in the same run, as the baseline.
Outputs bench/results/latest.{md,json,png}. Traffic goes to 127.0.0.1 only; every loop is
bounded; every process started here is stopped on exit, Ctrl-C or error.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_PY = ROOT / ".venv" / "bin" / "python"


def _reexec_in_venv() -> None:
    """`python bench/run.py` may be started with any interpreter: switch to the repo's venv."""
    try:
        import aiohttp  # noqa: F401
        import orjson  # noqa: F401
    except ImportError:
        if (
            VENV_PY.exists()
            and Path(sys.executable).resolve() != VENV_PY.resolve()
            and not os.environ.get("BENCH_REEXEC")
        ):
            os.environ["BENCH_REEXEC"] = "1"
            os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])
        raise SystemExit("needs aiohttp and orjson: run with the project's venv (.venv/bin/python)") from None


_reexec_in_venv()
sys.path.insert(0, str(HERE))

import backends as B  # noqa: E402, N812
from common import (  # noqa: E402
    CLK_TCK,
    HOST,
    MiB,
    Procs,
    RssSampler,
    free_port,
    percentile,
    raise_nofile,
    tree_cpu_seconds,
    tree_rss_bytes,
    tree_rss_list,
    wait_http_ok,
)
from targets import TARGETS, Target  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    name: str
    kind: str  # wrk | stream | slow | cold
    title: str
    backend: str = "plain"  # plain | sse | paced:<chunks per stream>
    proxy_path: str = ""
    proxy_body: bytes = b""
    proxy_format: str = "json"  # json | ndjson | sse (response format through the proxy)
    direct_path: str = ""  # appended to the backend's /v1 base URL
    direct_body: bytes = b""
    direct_format: str = "json"
    concurrency: int = 1
    chunks_per_request: int = 0  # content chunks per stream (for CPU per chunk)
    check: str = ""  # validation of a proxied response: ollama_chat | openai_chat | ollama_embed


def slow_plan(b: Budget, n: int) -> tuple[float, int]:
    """(ramp seconds, chunks per stream) so that all n streams are open together for b.slow_hold s."""
    ramp = n / b.slow_rate
    return ramp, math.ceil((ramp + b.slow_hold) / b.slow_interval)


def scenarios(b: Budget) -> list[Scenario]:
    chat_f, chat_t = B.ollama_chat_body(False), B.ollama_chat_body(True)
    oa_f, oa_t = B.openai_chat_body(False), B.openai_chat_body(True)
    out: list[Scenario] = []
    for c in (1, 64):
        out.append(
            Scenario(
                f"chat_c{c}",
                "wrk",
                f"/api/chat non-streamed, c={c}",
                "plain",
                "/api/chat",
                chat_f,
                "json",
                "/chat/completions",
                oa_f,
                "json",
                c,
                check="ollama_chat",
            )
        )
    for c in (1, 64):
        out.append(
            Scenario(
                f"chat_stream_c{c}",
                "stream",
                f"/api/chat streamed {B.SSE_CHUNKS} chunks, c={c}",
                "sse",
                "/api/chat",
                chat_t,
                "ndjson",
                "/chat/completions",
                oa_t,
                "sse",
                c,
                B.SSE_CHUNKS,
                check="ollama_stream",
            )
        )
    for c in (1, 64):
        out.append(
            Scenario(
                f"relay_c{c}",
                "wrk",
                f"/v1/chat/completions relay non-streamed, c={c}",
                "plain",
                "/v1/chat/completions",
                oa_f,
                "json",
                "/chat/completions",
                oa_f,
                "json",
                c,
                check="openai_chat",
            )
        )
    for c in (1, 64):
        out.append(
            Scenario(
                f"relay_stream_c{c}",
                "stream",
                f"/v1/chat/completions relay streamed {B.SSE_CHUNKS} chunks, c={c}",
                "sse",
                "/v1/chat/completions",
                oa_t,
                "sse",
                "/chat/completions",
                oa_t,
                "sse",
                c,
                B.SSE_CHUNKS,
                check="openai_stream",
            )
        )
    # The Anthropic and Responses dialects: the same backend answers, through the one chat path.
    dialects = (
        ("messages", "/v1/messages", B.anthropic_body, "anthropic"),
        ("responses", "/v1/responses", B.responses_body, "responses"),
    )
    for name, path, body, fmt in dialects:
        out.append(
            Scenario(
                f"{name}_c64",
                "wrk",
                f"{path} non-streamed, c=64",
                "plain",
                path,
                body(False),
                "json",
                "/chat/completions",
                oa_f,
                "json",
                64,
                check=f"{fmt}_json",
            )
        )
        out.append(
            Scenario(
                f"{name}_stream_c64",
                "stream",
                f"{path} streamed {B.SSE_CHUNKS} chunks, c=64",
                "sse",
                path,
                body(True),
                fmt,
                "/chat/completions",
                oa_t,
                "sse",
                64,
                B.SSE_CHUNKS,
                check=f"{fmt}_stream",
            )
        )
    out.append(
        Scenario(
            "embed_c16",
            "wrk",
            f"/api/embed batch of {B.EMBED_BATCH}x{B.EMBED_DIM}, c=16",
            "plain",
            "/api/embed",
            B.ollama_embed_body(),
            "json",
            "/embeddings",
            B.openai_embed_body(),
            "json",
            16,
            check="ollama_embed",
        )
    )
    for n in (1000, 5000):
        _, chunks = slow_plan(b, n)
        out.append(
            Scenario(
                f"slow_{n}",
                "slow",
                f"{n} concurrent slow /api/chat streams held open",
                f"paced:{chunks}",
                "/api/chat",
                chat_t,
                "ndjson",
                "/chat/completions",
                oa_t,
                "sse",
                n,
                chunks,
                check="ollama_stream",
            )
        )
    out.append(Scenario("cold_start", "cold", "cold start: spawn to first 200 on GET /"))
    return out


@dataclass
class Budget:
    wrk_warmup: float
    wrk_seconds: float
    stream_requests_c1: int
    stream_requests_per_conn: int
    slow_interval: float  # seconds between chunks of a slow stream
    slow_rate: float  # slow streams opened per second
    slow_hold: float  # seconds all slow streams stay open together (if the proxy keeps up)
    cold_repeats: int
    stream_max_time: float


FULL = Budget(2, 10, 150, 15, 0.5, 250, 8, 5, 90)
QUICK = Budget(1, 3, 30, 3, 0.4, 500, 3, 3, 30)
QUICK_SKIP = {"slow_5000"}


# --------------------------------------------------------------------------- results


@dataclass
class Run:
    scenario: str
    target: str  # target name or "direct"
    ok: bool = True
    note: str = ""
    requests: int = 0
    errors: int = 0
    error_detail: str = ""
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    ttfl_p50_ms: float | None = None
    ttfl_p99_ms: float | None = None
    lines_per_s: float | None = None
    chunks: int = 0
    peak_open: int | None = None
    added_p50_ms: float | None = None
    added_p99_ms: float | None = None
    cpu_s: float | None = None
    cpu_us_per_req: float | None = None
    cpu_us_per_chunk: float | None = None
    rss_idle_mib: float | None = None
    rss_peak_mib: float | None = None
    duration_s: float | None = None
    extra: dict[str, object] = field(default_factory=dict)


# --------------------------------------------------------------------------- load generators


def run_wrk(url: str, body_file: Path, conc: int, seconds: float) -> dict[str, float]:
    env = dict(os.environ, WRK_BODY_FILE=str(body_file))
    argv = [
        "wrk",
        "-t1",
        f"-c{conc}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "post.lua"),
        url,
    ]
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"WRKJSON (\{.*\})", r.stdout)
    if not m:
        raise RuntimeError(f"wrk gave no summary (rc={r.returncode}): {r.stdout[-300:]} {r.stderr[-300:]}")
    return json.loads(m.group(1))


def run_stream_client(
    url: str,
    body_file: Path,
    fmt: str,
    conc: int,
    requests: int,
    *,
    ramp: float = 0,
    expect_chunks: int = 0,
    max_time: float = 60,
    timeout: float = 120,
) -> dict[str, object]:
    argv = [
        sys.executable,
        str(HERE / "stream_client.py"),
        "--url",
        url,
        "--body-file",
        str(body_file),
        "--format",
        fmt,
        "--concurrency",
        str(conc),
        "--requests",
        str(requests),
        "--ramp",
        str(ramp),
        "--expect-chunks",
        str(expect_chunks),
        "--max-time",
        str(max_time),
        "--timeout",
        str(timeout),
    ]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=max_time + 90)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"stream client failed rc={r.returncode}: {r.stderr[-600:]}")
    return json.loads(lines[-1])


def validate(url: str, body: bytes, check: str) -> str | None:
    """One request through the proxy; return a problem description or None when the answer is right."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, ctype, data = r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}: {e.read()[:200]!r}"
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    try:
        if check == "ollama_chat":
            d = json.loads(data)
            if d.get("message", {}).get("content") != B.CHAT_CONTENT or d.get("done") is not True:
                return f"unexpected /api/chat answer: {data[:200]!r}"
        elif check == "openai_chat":
            d = json.loads(data)
            if d["choices"][0]["message"]["content"] != B.CHAT_CONTENT:
                return f"unexpected relay answer: {data[:200]!r}"
        elif check == "ollama_embed":
            d = json.loads(data)
            e = d.get("embeddings")
            if not (isinstance(e, list) and len(e) == B.EMBED_BATCH and len(e[0]) == B.EMBED_DIM):
                return f"unexpected /api/embed answer: {data[:200]!r}"
        elif check == "ollama_stream":
            lines = [json.loads(x) for x in data.splitlines() if x.strip()]
            text = "".join((x.get("message") or {}).get("content", "") for x in lines)
            if not lines or lines[-1].get("done") is not True or "tok0 " not in text:
                return f"unexpected NDJSON stream: {data[:200]!r}"
        elif check == "anthropic_json":
            d = json.loads(data)
            if d["content"][0]["text"] != B.CHAT_CONTENT or d["stop_reason"] != "end_turn":
                return f"unexpected /v1/messages answer: {data[:200]!r}"
        elif check == "responses_json":
            d = json.loads(data)
            if d["output"][0]["content"][0]["text"] != B.CHAT_CONTENT or d["status"] != "completed":
                return f"unexpected /v1/responses answer: {data[:200]!r}"
        elif check in ("anthropic_stream", "responses_stream"):
            names = [x[6:].strip() for x in data.splitlines() if x.startswith(b"event:")]
            last = b"message_stop" if check == "anthropic_stream" else b"response.completed"
            if not ctype.startswith("text/event-stream") or not names or names[-1] != last:
                return f"unexpected dialect stream: {data[-200:]!r}"
        elif check == "openai_stream":
            if not ctype.startswith("text/event-stream"):
                return f"relay stream content-type {ctype!r}"
            events = [x[5:].strip() for x in data.splitlines() if x.startswith(b"data:")]
            if not events or events[-1] != b"[DONE]":
                return f"relay stream does not end with [DONE]: {data[-200:]!r}"
            for ev in events[:-1]:
                json.loads(ev)
    except (ValueError, KeyError, IndexError, TypeError) as e:
        return f"bad answer ({type(e).__name__}: {e}): {data[:200]!r}"
    return None if status == 200 else f"HTTP {status}"


class BusyMeter:
    """CPU use of the whole machine between creation and stop(), from /proc/stat, split into this
    benchmark's own process tree (orchestrator, backends, proxies, load generators) and everything
    else ("others": other jobs on a shared machine)."""

    def __init__(self) -> None:
        self.me = os.getpid()
        self.t0 = self._read()
        self.o0 = tree_cpu_seconds(self.me)

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]), idle

    def stop(self) -> tuple[float | None, float | None]:
        """(busy % of all cores, % of all cores used by processes outside this benchmark)."""
        t1 = self._read()
        ours = (tree_cpu_seconds(self.me) - self.o0) * CLK_TCK
        total, idle = t1[0] - self.t0[0], t1[1] - self.t0[1]
        if total <= 0:
            return None, None
        busy = total - idle
        return round(100 * busy / total, 1), round(max(0.0, 100 * (busy - ours) / total), 1)


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


# --------------------------------------------------------------------------- proxies


class ProxyInstance:
    def __init__(self, procs: Procs, target: Target, base: str, workers: int, logdir: Path, tag: str):
        self.target, self.base, self.workers = target, base, workers
        self.port = free_port()
        self.logf = open(logdir / f"{target.name}-{tag}.log", "wb")  # noqa: SIM115
        self.procs = procs
        t0 = time.perf_counter()
        self.proc = procs.spawn(
            target.argv(self.port, workers),
            env=target.env(base),
            cwd=str(logdir),
            stdout=self.logf,
            stderr=subprocess.STDOUT,
        )
        waited = wait_http_ok(self.port, "/", timeout=60, proc=self.proc)
        if waited is None:
            self.stop()
            tail = " / ".join(
                ln.strip()
                for ln in (logdir / f"{target.name}-{tag}.log")
                .read_bytes()[-1500:]
                .decode(errors="replace")
                .splitlines()[-6:]
                if ln.strip()
            )
            raise RuntimeError(f"{target.name} did not answer GET / with 200: {tail}")
        self.ready_s = time.perf_counter() - t0
        time.sleep(1.0)  # let lazy imports / first GC settle before reading the idle RSS
        self.rss_idle_procs = tree_rss_list(self.proc.pid)
        self.rss_idle = sum(r for _, r in self.rss_idle_procs)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def rss(self) -> int:
        return tree_rss_bytes(self.proc.pid)

    def log_tail(self, n: int = 2) -> str:
        """Last lines of the proxy's own log (e.g. the exception behind a 500)."""
        with contextlib.suppress(Exception):
            self.logf.flush()
            lines = [
                ln.strip()
                for ln in Path(self.logf.name).read_text(errors="replace").splitlines()
                if ln.strip()
            ]
            return " / ".join(lines[-n:])[-400:]
        return ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.procs.stop(self.proc)
        with contextlib.suppress(Exception):
            self.logf.close()


# --------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.budget = QUICK if args.quick else FULL
        self.procs = Procs()
        self.tmp = B.make_tmp()
        self.runs: list[Run] = []
        self.cold: dict[str, dict[str, object]] = {}
        self.instances: dict[tuple[str, str], ProxyInstance] = {}
        self.unavailable: dict[str, str] = {}
        self.bodies: dict[str, Path] = {}
        self.paced_base = ""

    # ----- infrastructure
    def body_file(self, body: bytes) -> Path:
        key = str(hash(body))
        if key not in self.bodies:
            p = self.tmp / f"body-{len(self.bodies)}.json"
            p.write_bytes(body)
            self.bodies[key] = p
        return self.bodies[key]

    def start_backends(self, need_paced: bool) -> None:
        B.ensure_debian_tools(log)
        self.ngx = B.start_nginx(self.procs, self.tmp)
        problems = B.verify_nginx(self.ngx)
        if problems:
            raise SystemExit("nginx canned routes are wrong: " + "; ".join(problems))
        log(f"nginx {self.ngx.port}: {self.ngx.plain} {self.ngx.sse} (routes verified)")
        if need_paced:
            port = free_port()
            b = self.budget
            self.paced = self.procs.spawn(
                [
                    sys.executable,
                    str(HERE / "paced_backend.py"),
                    "--port",
                    str(port),
                    "--interval",
                    str(b.slow_interval),
                    "--max-seconds",
                    "3600",
                ],
                stderr=open(self.tmp / "paced.log", "wb"),  # noqa: SIM115 - child keeps it
            )
            if wait_http_ok(port, "/v1/models", timeout=20, proc=self.paced) is None:
                raise SystemExit(
                    "paced backend did not start: " + (self.tmp / "paced.log").read_text()[-400:]
                )
            self.paced_base = f"http://{HOST}:{port}"
            log(f"paced backend {self.paced_base}: a chunk every {b.slow_interval}s")

    def backend_base(self, kind: str) -> str:
        if kind.startswith("paced:"):  # the chunk count travels in the path: /c<N>/v1
            return f"{self.paced_base}/c{kind.split(':', 1)[1]}/v1"
        return {"plain": self.ngx.plain, "sse": self.ngx.sse}[kind]

    def instance(self, target: Target, kind: str) -> ProxyInstance:
        key = (target.name, kind)
        inst = self.instances.get(key)
        if inst is not None and not inst.alive():
            log(f"{target.name}/{kind} died; restarting it")
            inst.stop()
            inst = None
        if inst is None:
            try:
                inst = ProxyInstance(
                    self.procs, target, self.backend_base(kind), self.args.workers, self.tmp, kind
                )
            except RuntimeError as e:  # one retry: a bad port pick or a file being edited mid-start
                log(f"{target.name}/{kind}: start failed ({str(e)[-200:]}); retrying once")
                time.sleep(2)
                inst = ProxyInstance(
                    self.procs, target, self.backend_base(kind), self.args.workers, self.tmp, kind + "-retry"
                )
            log(
                f"{target.name} for {kind} backend on :{inst.port}, ready in {inst.ready_s:.2f}s, "
                f"idle RSS {inst.rss_idle / MiB:.1f} MiB"
            )
            self.instances[key] = inst
        return inst

    def stop_all(self) -> None:
        for inst in self.instances.values():
            with contextlib.suppress(Exception):
                inst.stop()
        self.procs.stop_all()
        if not self.args.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ----- measurement
    def measure(
        self, sc: Scenario, target_name: str, url: str, body: bytes, fmt: str, inst: ProxyInstance | None
    ) -> Run:
        run = Run(sc.name, target_name)
        bf = self.body_file(body)
        b = self.budget
        cpu0 = rss0 = None
        sampler = RssSampler(inst.proc.pid) if inst else None
        prof: tuple[subprocess.Popen[bytes], Path] | None = None
        busy = BusyMeter()
        t0 = time.perf_counter()
        try:
            if sc.kind == "wrk":
                if b.wrk_warmup:
                    run_wrk(url, bf, sc.concurrency, b.wrk_warmup)
                if inst:
                    rss0, cpu0 = inst.rss(), inst.cpu()
                    sampler.__enter__()
                    prof = self.start_profile(sc, target_name, inst, b.wrk_seconds)
                busy = BusyMeter()
                w = run_wrk(url, bf, sc.concurrency, b.wrk_seconds)
                dur = w["duration_us"] / 1e6
                run.requests = int(w["requests"])
                run.errors = int(
                    w["err_connect"] + w["err_read"] + w["err_write"] + w["err_status"] + w["err_timeout"]
                )
                if run.errors:
                    run.error_detail = ", ".join(
                        f"{k[4:]}={int(v)}" for k, v in w.items() if k.startswith("err_") and v
                    )
                run.rps = round(run.requests / dur, 1) if dur else None
                run.p50_ms, run.p99_ms = w["p50_us"] / 1000, w["p99_us"] / 1000
                ok_requests = run.requests - int(w["err_status"])
            else:
                if sc.kind == "slow":
                    n = sc.concurrency
                    ramp, chunks = slow_plan(b, n)
                    stream_s = chunks * b.slow_interval
                    max_time = ramp + stream_s + 60
                    conc, requests = n, n
                else:
                    ramp = 0
                    conc = sc.concurrency
                    requests = b.stream_requests_c1 if conc == 1 else conc * b.stream_requests_per_conn
                    max_time = b.stream_max_time
                    # short warm-up so connection set-up and first-use costs stay out of the numbers
                    run_stream_client(url, bf, fmt, conc, conc * 2 if conc > 1 else 5, max_time=30)
                if inst:
                    rss0, cpu0 = inst.rss(), inst.cpu()
                    sampler.__enter__()
                    prof = self.start_profile(sc, target_name, inst, max_time)
                busy = BusyMeter()
                s = run_stream_client(
                    url,
                    bf,
                    fmt,
                    conc,
                    requests,
                    ramp=ramp,
                    expect_chunks=sc.chunks_per_request,
                    max_time=max_time,
                    timeout=max_time,
                )
                run.requests = int(s["requests"])  # type: ignore[arg-type]
                run.errors = int(s["errors"])  # type: ignore[arg-type]
                if run.errors:
                    run.error_detail = (
                        json.dumps(s["error_kinds"]) + " " + "; ".join(s["error_samples"])[:400]
                    )  # type: ignore[arg-type]
                run.rps = s["rps"]  # type: ignore[assignment]
                run.p50_ms, run.p99_ms = s["p50_ms"], s["p99_ms"]  # type: ignore[assignment]
                run.ttfl_p50_ms, run.ttfl_p99_ms = s["ttfl_p50_ms"], s["ttfl_p99_ms"]  # type: ignore[assignment]
                run.lines_per_s = s["lines_per_s"]  # type: ignore[assignment]
                run.chunks = int(s["content_chunks"])  # type: ignore[arg-type]
                run.peak_open = int(s["peak_open"])  # type: ignore[arg-type]
                ok_requests = int(s["ok"])  # type: ignore[arg-type]
                dur = float(s["wall_s"])  # type: ignore[arg-type]
        except Exception as e:
            run.ok = False
            run.note = f"load generator failed: {e}"[:500]
            return run
        finally:
            if sampler and sampler._t.is_alive():
                sampler.__exit__()
            if prof:
                run.extra["profile"] = self.finish_profile(sc, target_name, prof)
        run.duration_s = round(time.perf_counter() - t0, 2)
        run.extra["machine_busy_pct"], run.extra["others_pct"] = busy.stop()
        if inst:
            cpu = inst.cpu() - (cpu0 or 0)
            run.cpu_s = round(cpu, 3)
            if ok_requests > 0:
                run.cpu_us_per_req = round(cpu / ok_requests * 1e6, 1)
            if run.chunks:
                run.cpu_us_per_chunk = round(cpu / run.chunks * 1e6, 2)
            run.rss_idle_mib = round((rss0 or inst.rss_idle) / MiB, 1)
            run.rss_peak_mib = round(max(sampler.peak, inst.rss()) / MiB, 1)
            if not inst.alive():
                run.ok = False
                run.note = "proxy process exited during the scenario"
        if run.requests == 0 or (sc.kind == "wrk" and ok_requests == 0):
            run.ok = False
            run.note = run.note or "no request completed within the measured window"
        return run

    # ----- optional py-spy profile of the proxy during one scenario's measured window
    def start_profile(
        self, sc: Scenario, target: str, inst: ProxyInstance, seconds: float
    ) -> tuple[subprocess.Popen[bytes], Path] | None:
        if self.args.profile != sc.name or target != self.args.target:
            return None
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not os.path.exists(exe):
            log("py-spy not found (pip install -r bench/requirements.txt): no profile")
            return None
        raw = Path(self.args.out) / f"profile-{sc.name}.raw.tmp"  # collapsed stacks (gitignored)
        raw.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            exe,
            "record",
            "--pid",
            str(inst.proc.pid),
            "--duration",
            str(max(1, int(seconds))),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
        ]
        if inst.workers > 1:
            argv.append("--subprocesses")
        p = self.procs.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # let py-spy attach
        return p, raw

    def finish_profile(self, sc: Scenario, target: str, prof: tuple[subprocess.Popen[bytes], Path]) -> str:
        p, raw = prof
        if p.poll() is None:  # the load ended first: py-spy writes its output on SIGINT
            p.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=20)
        self.procs.stop(p)
        if not raw.exists():
            return "py-spy wrote nothing"
        out = raw.with_name(f"profile-{sc.name}.md")
        out.write_text(summarize_profile(raw, f"{target} during {sc.name}"))
        log(f"  profile: {out}")
        return str(out)

    def cold_start(self, target: Target) -> dict[str, object]:
        times, rss, err = [], [], ""
        for i in range(self.budget.cold_repeats):
            port = free_port()
            logf = open(self.tmp / f"{target.name}-cold{i}.log", "wb")  # noqa: SIM115
            t0 = time.perf_counter()
            p = self.procs.spawn(
                target.argv(port, self.args.workers),
                env=target.env(self.ngx.plain),
                cwd=str(self.tmp),
                stdout=logf,
                stderr=subprocess.STDOUT,
            )
            try:
                waited = wait_http_ok(port, "/", timeout=60, interval=0.002, proc=p)
                if waited is None:
                    err = "did not become ready within 60 s"
                    break
                times.append(time.perf_counter() - t0)
                rss.append(tree_rss_bytes(p.pid))
            finally:
                self.procs.stop(p)
                logf.close()
        if not times:
            return {"ok": False, "note": err}
        return {
            "ok": True,
            "repeats": len(times),
            "median_s": round(percentile(times, 50) or 0, 3),
            "min_s": round(min(times), 3),
            "max_s": round(max(times), 3),
            "rss_at_ready_mib": round((percentile(rss, 50) or 0) / MiB, 1),
            "note": err,
        }

    # ----- main loop
    def run(self, selected: list[Scenario], targets: list[Target]) -> None:
        need_paced = any(s.kind == "slow" for s in selected)
        self.start_backends(need_paced)
        for t in list(targets):
            reason = t.prepare()
            if reason:
                log(f"target {t.name} unavailable: {reason}")
                self.unavailable[t.name] = reason
                targets.remove(t)
        direct_by_scenario: dict[str, Run] = {}
        for sc in selected:
            if sc.kind == "cold":
                for t in targets:
                    log(f"{sc.name}: {t.name} x{self.budget.cold_repeats}")
                    self.cold[t.name] = self.cold_start(t)
                    log(f"  -> {self.cold[t.name]}")
                continue
            log(f"{sc.name}: {sc.title}")
            if not self.args.no_direct:
                d = self.measure(
                    sc,
                    "direct",
                    self.backend_base(sc.backend) + sc.direct_path,
                    sc.direct_body,
                    sc.direct_format,
                    None,
                )
                direct_by_scenario[sc.name] = d
                self.runs.append(d)
                log(f"  direct: {self._brief(d)}")
            for t in targets:
                try:
                    inst = self.instance(t, sc.backend)
                except RuntimeError as e:
                    self.runs.append(Run(sc.name, t.name, ok=False, note=str(e)[:500]))
                    log(f"  {t.name}: cannot start: {str(e)[:300]}")
                    continue
                url = inst.url + sc.proxy_path
                # slow streams take many seconds each: the stream client checks every one of them instead
                problem = validate(url, sc.proxy_body, sc.check) if sc.check and sc.kind != "slow" else None
                if problem:
                    tail = inst.log_tail()
                    r = Run(
                        sc.name,
                        t.name,
                        ok=False,
                        note=(f"validation failed: {problem}" + (f" (proxy log: {tail})" if tail else ""))[
                            :700
                        ],
                    )
                    self.runs.append(r)
                    log(f"  {t.name}: {r.note}")
                    continue
                r = self.measure(sc, t.name, url, sc.proxy_body, sc.proxy_format, inst)
                d = direct_by_scenario.get(sc.name)
                if d and d.ok and r.ok:
                    if r.p50_ms is not None and d.p50_ms is not None:
                        r.added_p50_ms = round(r.p50_ms - d.p50_ms, 3)
                    if r.p99_ms is not None and d.p99_ms is not None:
                        r.added_p99_ms = round(r.p99_ms - d.p99_ms, 3)
                self.runs.append(r)
                log(f"  {t.name}: {self._brief(r)}")

    @staticmethod
    def _brief(r: Run) -> str:
        if not r.ok and r.note:
            return "FAILED " + r.note
        s = f"{r.requests} req, {r.rps} req/s, p50 {r.p50_ms} ms, p99 {r.p99_ms} ms, errors {r.errors}"
        if r.ttfl_p50_ms is not None:
            s += f", ttfl p50 {r.ttfl_p50_ms} ms"
        if r.cpu_us_per_req is not None:
            s += f", CPU {r.cpu_us_per_req} us/req"
        if r.cpu_us_per_chunk is not None:
            s += f" {r.cpu_us_per_chunk} us/chunk"
        if r.rss_peak_mib is not None:
            s += f", RSS {r.rss_idle_mib}->{r.rss_peak_mib} MiB"
        if r.peak_open is not None and r.chunks and r.peak_open > 1:
            s += f", peak open {r.peak_open}"
        if r.error_detail:
            s += f" [{r.error_detail}]"
        return s


# --------------------------------------------------------------------------- checks, machine, report


def machine() -> dict[str, object]:
    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    nginx_v = (
        subprocess.run([B.find_nginx() or "nginx", "-v"], capture_output=True, text=True).stderr.strip()
        if B.find_nginx()
        else "?"
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "nginx": nginx_v.replace("nginx version: ", "").replace("nginx/", ""),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def target_checks(bench: Bench, target: str) -> list[dict[str, object]]:
    def get(sc: str) -> Run | None:
        for r in bench.runs:
            if r.scenario == sc and r.target == target:
                return r
        return None

    workers = max(1, bench.args.workers)
    out = []

    def add(name: str, limit: str, value: object, passed: bool | None, how: str) -> None:
        out.append(
            {
                "target": name,
                "limit": limit,
                "value": value,
                "result": "n/a" if passed is None else ("PASS" if passed else "FAIL"),
                "how": how,
            }
        )

    def ceiling(name: str, scenario: str, attr: str, bound: float, unit: str, how: str) -> None:
        """A target that holds when the scenario's ``attr`` is at most ``bound``."""
        r = get(scenario)
        v = getattr(r, attr) if r and r.ok else None
        add(
            name,
            f"<= {bound:g} {unit}",
            f"{v} {unit}" if v is not None else "n/a",
            None if v is None else v <= bound,
            how,
        )

    ceiling(
        "CPU per non-streamed /api/chat request",
        "chat_c64",
        "cpu_us_per_req",
        300,
        "us",
        "chat_c64: proxy tree CPU / requests",
    )
    ceiling(
        "latency added over direct, c=1, p50",
        "chat_c1",
        "added_p50_ms",
        0.5,
        "ms",
        "chat_c1: proxy p50 - nginx p50",
    )
    for name in ("messages", "responses"):
        ceiling(
            f"CPU per non-streamed /v1/{name} request",
            f"{name}_c64",
            "cpu_us_per_req",
            300,
            "us",
            f"{name}_c64: proxy tree CPU / requests",
        )
        ceiling(
            f"CPU per /v1/{name} stream chunk",
            f"{name}_stream_c64",
            "cpu_us_per_chunk",
            10,
            "us",
            f"{name}_stream_c64: proxy tree CPU / content chunks",
        )
    ceiling(
        "CPU per relayed stream chunk",
        "relay_stream_c64",
        "cpu_us_per_chunk",
        15,
        "us",
        "relay_stream_c64: proxy tree CPU / content chunks",
    )
    inst = bench.instances.get((target, "plain"))
    v = how = None
    if inst and (workers == 1 or len(inst.rss_idle_procs) == 1):
        v, how = round(inst.rss_idle / MiB, 1), "process tree RSS 1 s after ready"
    elif inst:  # the largest process other than the supervisor
        v = round(max(r for _, r in inst.rss_idle_procs[1:]) / MiB, 1)
        how = (
            f"largest worker process 1 s after ready; tree of {len(inst.rss_idle_procs)} processes: "
            + " + ".join(f"{r / MiB:.0f}" for _, r in inst.rss_idle_procs)
            + " MiB"
        )
    add(
        "idle RSS per worker",
        "<= 40 MiB",
        f"{v} MiB" if v is not None else "n/a",
        None if v is None else v <= 40,
        how or "no instance on the plain backend",
    )
    r = get("slow_1000")
    v = (
        round(r.rss_peak_mib - r.rss_idle_mib, 1)
        if r and r.ok and r.rss_peak_mib and r.rss_idle_mib
        else None
    )
    add(
        "RSS growth under 1,000 concurrent streams",
        "<= 100 MiB",
        f"{v} MiB" if v is not None else "n/a",
        None if v is None else v <= 100,
        "slow_1000: peak tree RSS - RSS before",
    )
    r = get("slow_5000")
    if r and r.ok:
        held = r.peak_open or 0
        passed = r.errors == 0 and r.requests == 5000 and held == 5000
        add(
            "5,000 concurrent slow streams",
            "no error",
            f"{r.errors} errors, {held} held at once",
            passed,
            "slow_5000: every stream complete and valid, all open together",
        )
    else:
        add(
            "5,000 concurrent slow streams",
            "no error",
            r.note[:80] if r else "not run",
            False if r else None,
            "slow_5000",
        )
    c = bench.cold.get(target)
    v = c.get("median_s") if c and c.get("ok") else None
    add(
        "ready after start",
        "<= 0.3 s",  # issue 11's target (the first round's limit was 0.5 s)
        f"{v} s" if v is not None else (c or {}).get("note", "n/a"),
        None if v is None else float(v) <= 0.3,
        "cold_start: median spawn -> GET / 200",
    )  # type: ignore[arg-type]
    return out


def _frame(f: str) -> str:
    m = re.match(r"(.*) \((.*?)(?::\d+)?\)$", f)
    if not m:
        return f
    func, path = m.groups()
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{func} ({path})"


def summarize_profile(raw: Path, title: str, top: int = 25) -> str:
    """Top frames by self and inclusive samples from py-spy's collapsed-stack output."""
    self_c: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [_frame(f) for f in stack.split(";")]
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and frames[0].startswith("thread "):
            frames = frames[1:]
        if not frames:
            continue
        total += count
        self_c[frames[-1]] = self_c.get(frames[-1], 0) + count
        for f in set(frames):
            incl[f] = incl.get(f, 0) + count
    by_pkg: dict[str, int] = {}
    for f, c in self_c.items():
        m = re.search(r"\((.*)\)$", f)
        path = m.group(1) if m else "?"
        pkg = path.split("/", 1)[0] if "/" in path else ("stdlib" if path.endswith(".py") else path)
        by_pkg[pkg] = by_pkg.get(pkg, 0) + c
    lines = [
        f"# py-spy profile: {title}",
        "",
        f"{total} samples (250 Hz, --nonblocking, idle excluded).",
        "",
        "## Self time by package",
        "",
        "| % self | package |",
        "|---|---|",
        *(
            f"| {100 * c / max(1, total):.1f} | {k} |"
            for k, c in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:12]
        ),
        "",
        "## Top frames by self time",
        "",
        "| % self | frame |",
        "|---|---|",
    ]
    for f, c in sorted(self_c.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {100 * c / max(1, total):.1f} | `{f}` |")
    lines += [
        "",
        "## Top frames by inclusive time",
        "",
        "Under uvloop the event loop is C code, so a task's stack starts at its coroutine: inclusive "
        "shares of the outermost frames are understated.",
        "",
        "| % incl | frame |",
        "|---|---|",
    ]
    for f, c in sorted(incl.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {100 * c / max(1, total):.1f} | `{f}` |")
    return "\n".join(lines) + "\n"


def fmt(v: object, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{nd}f}"
    return str(v)


def render_md(bench: Bench, meta: dict[str, object], targets: list[str]) -> str:
    m = meta["machine"]
    lines = [
        f"# ollama-openai-proxy benchmark ({'quick' if bench.args.quick else 'full'} run)",
        "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · {m['memory_gib']} GiB · "  # type: ignore[index]
        f"Python {m['python']} · kernel {m['kernel']} · nginx {m['nginx']} · "  # type: ignore[index]
        f"proxy workers: {bench.args.workers}",
        "",
        f"Command: `{meta['command']}` · wall time {meta['wall_s']} s · load average at start "
        f"{meta['loadavg_start']}, at end {meta['loadavg_end']}",
        "",
    ]
    others = [float(r.extra["others_pct"]) for r in bench.runs if r.extra.get("others_pct") is not None]
    if others and max(others) > 10:
        lines += [
            "> **Warning:** other jobs used the machine during this run (up to "
            f"{max(others):.0f}% of all cores in a measured window, median {percentile(others, 50):.0f}%; "
            "see the `others %` column): latencies and req/s are unreliable there and CPU per request "
            "is inflated. `--wait-quiet 300` waits for a quiet machine first.",
            "",
        ]
    for t in targets:
        lines += [
            f"## Targets: {t}",
            "",
            "| target | limit | measured | result | how |",
            "|---|---|---|---|---|",
        ]
        for c in target_checks(bench, t):
            lines.append(f"| {c['target']} | {c['limit']} | {c['value']} | **{c['result']}** | {c['how']} |")
        lines.append("")
    for name, reason in bench.unavailable.items():
        lines += [f"**{name}: could not be run** — {reason}", ""]
    lines += [
        "## Scenarios",
        "",
        "Latency is per request (for streams: until the last line); `+p50`/`+p99` is the proxy minus the "
        "direct-to-nginx baseline of the same scenario in this run. CPU is utime+stime of the proxy's "
        "whole process tree over the measured window, per successful request and per content chunk. "
        "RSS is the tree's sum, before → peak (sampled every 0.25 s).",
        "",
        "| scenario | target | req/s | p50 ms | p99 ms | +p50 ms | +p99 ms | TTFL p50 ms | lines/s | "
        "CPU µs/req | CPU µs/chunk | RSS MiB | errors | others % | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in bench.runs:
        rss = f"{fmt(r.rss_idle_mib, 1)} → {fmt(r.rss_peak_mib, 1)}" if r.rss_peak_mib is not None else "-"
        note = r.note or r.error_detail
        if r.peak_open and r.scenario.startswith("slow_"):
            note = (f"held {r.peak_open} at once; " + note).strip("; ")
        lines.append(
            f"| {r.scenario} | {r.target} | {fmt(r.rps, 1)} | {fmt(r.p50_ms, 3)} | {fmt(r.p99_ms, 3)} | "
            f"{fmt(r.added_p50_ms, 3)} | {fmt(r.added_p99_ms, 3)} | {fmt(r.ttfl_p50_ms, 3)} | "
            f"{fmt(r.lines_per_s, 0)} | {fmt(r.cpu_us_per_req, 1)} | {fmt(r.cpu_us_per_chunk, 2)} | "
            f"{rss} | {r.errors} | {fmt(r.extra.get('others_pct'), 0)} | {note.replace('|', '/')[:160]} |"
        )
    if bench.cold:
        lines += [
            "",
            "## Cold start (spawn → first 200 on GET /)",
            "",
            "| target | median s | min s | max s | RSS at ready MiB | note |",
            "|---|---|---|---|---|---|",
        ]
        for t, c in bench.cold.items():
            lines.append(
                f"| {t} | {fmt(c.get('median_s'), 3)} | {fmt(c.get('min_s'), 3)} | {fmt(c.get('max_s'), 3)} | "
                f"{fmt(c.get('rss_at_ready_mib'), 1)} | {c.get('note', '')} |"
            )
    idle = list(bench.instances.items())
    if idle:
        lines += [
            "",
            "## Proxy instances",
            "",
            "| target | backend | ready s | idle RSS MiB | processes (MiB each) |",
            "|---|---|---|---|---|",
        ]
        for (t, kind), inst in idle:
            each = " + ".join(f"{r / MiB:.0f}" for _, r in inst.rss_idle_procs)
            lines.append(
                f"| {t} | {kind} | {inst.ready_s:.2f} | {inst.rss_idle / MiB:.1f} | "
                f"{len(inst.rss_idle_procs)} ({each}) |"
            )
    b = bench.budget
    lines += [
        "",
        "## Setup",
        "",
        f"- nginx (1 worker, access_log off) serves canned files: chat completion with usage, "
        f"{B.EMBED_BATCH}x{B.EMBED_DIM} embeddings, a {B.SSE_CHUNKS}-chunk SSE stream (+ finish, usage, "
        f"[DONE]); routed by base URL (/plain/v1, /sse/v1).",
        f"- Non-streamed: wrk -t1, {b.wrk_warmup:g} s warm-up, {b.wrk_seconds:g} s measured. Streams: "
        f"bench/stream_client.py (aiohttp, own process), {b.stream_requests_c1} streams at c=1, "
        f"{b.stream_requests_per_conn} per connection at c=64; every line parsed, last must be "
        f"done:true (NDJSON) or [DONE] (SSE).",
        f"- Slow streams: bench/paced_backend.py, a chunk every {b.slow_interval:g} s; streams opened at "
        f"{b.slow_rate:g}/s and long enough to be all open together for {b.slow_hold:g} s "
        f"(1,000: {slow_plan(b, 1000)[1]} chunks, 5,000: {slow_plan(b, 5000)[1]} chunks).",
        "- Load generators share the 2 cores with the proxy, so numbers at c=64 are a lower bound on "
        "throughput; CPU per request/chunk is the stable figure.",
    ]
    return "\n".join(lines) + "\n"


def render_png(bench: Bench, path: Path, targets: list[str]) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib missing (pip install -r bench/requirements.txt): no chart"
    all_scen = list(dict.fromkeys(r.scenario for r in bench.runs))
    names = ["direct", *targets]
    fig, axes = plt.subplots(2, 2, figsize=(15, 9))
    width = 0.8 / max(1, len(names))

    def bars(
        ax: object, metric: str, title: str, who: list[str], only: list[str] | None = None, log: bool = False
    ) -> None:
        scen = only if only is not None else all_scen
        for i, n in enumerate(who):
            vals = []
            for s in scen:
                r = next((x for x in bench.runs if x.scenario == s and x.target == n and x.ok), None)
                v = getattr(r, metric) if r else None
                vals.append(v if v is not None else 0)
            xs = [j + (i - (len(who) - 1) / 2) * width for j in range(len(scen))]
            ax.bar(xs, vals, width, label=n)  # type: ignore[attr-defined]
        ax.set_title(title)  # type: ignore[attr-defined]
        ax.set_xticks(range(len(scen)))  # type: ignore[attr-defined]
        ax.set_xticklabels(scen, rotation=35, ha="right", fontsize=8)  # type: ignore[attr-defined]
        if log:
            ax.set_yscale("log")  # type: ignore[attr-defined]
        ax.legend(fontsize=8)  # type: ignore[attr-defined]
        ax.grid(axis="y", alpha=0.3)  # type: ignore[attr-defined]

    bars(axes[0][0], "rps", "requests/s (log)", names, log=True)
    fast = [x for x in all_scen if not x.startswith("slow_")]
    bars(
        axes[0][1],
        "added_p50_ms",
        "latency added over direct, p50 (ms; slow streams left out)",
        targets,
        fast,
    )
    bars(
        axes[1][0],
        "cpu_us_per_req",
        "proxy CPU per request (µs, log; dashed: 300 µs target)",
        targets,
        log=True,
    )
    axes[1][0].axhline(300, color="red", linestyle="--", linewidth=1)
    bars(axes[1][1], "rss_peak_mib", "proxy RSS peak under load (MiB)", targets)
    fig.suptitle(
        f"ollama-openai-proxy bench ({'quick' if bench.args.quick else 'full'}), {machine()['date']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


def write_docs(md: str, meta: dict[str, object]) -> Path:
    m = meta["machine"]
    doc = ROOT / "docs" / "performance.md"
    doc.parent.mkdir(exist_ok=True)
    head = [
        "# Performance",
        "",
        "Numbers from `python bench/run.py` (the benchmark suite in `bench/`, see `bench/README.md`). "
        "They come from one run on the machine below and move by 10-30 % between runs on a shared "
        "machine; compare runs only on the same machine.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores"  # type: ignore[index]
        f"\n- Memory: {m['memory_gib']} GiB"  # type: ignore[index]
        f"\n- Python {m['python']}, kernel {m['kernel']}, nginx {m['nginx']}"  # type: ignore[index]
        f"\n- Date: {m['date']}",
        "",  # type: ignore[index]
        "## How to reproduce",
        "",
        "```sh\npython bench/run.py            # full run\npython bench/run.py --quick    # CI smoke\n"
        "python bench/run.py --compare ollama-proxy-plus --write-docs\n```",
        "",
        "## Latest results",
        "",
        "Chart: [bench/results/latest.png](../bench/results/latest.png); raw figures: "
        "`bench/results/latest.json`.",
        "",
    ]
    body = md.split("\n", 2)[2] if md.startswith("# ") else md
    # The hand-written reading of the figures (what changed, which targets are not met and why).
    analysis = (HERE / "analysis.md").read_text() if (HERE / "analysis.md").exists() else ""
    doc.write_text("\n".join(head) + "\n" + body.replace("\n## ", "\n### ") + "\n" + analysis)
    return doc


# --------------------------------------------------------------------------- CLI


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="", help="comma list of scenario names (default: all)")
    ap.add_argument("--quick", action="store_true", help="smaller counts, no 5,000-stream scenario (<3 min)")
    ap.add_argument(
        "--compare",
        default="",
        help=f"other bridges, comma list of: {', '.join(k for k in TARGETS if k != 'proxy')}",
    )
    ap.add_argument("--target", default="proxy", help="main target (proxy, or standin to check the harness)")
    ap.add_argument("--workers", type=int, default=1, help="proxy worker processes (passed as --workers N)")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--write-docs", action="store_true", help="also write docs/performance.md")
    ap.add_argument("--no-direct", action="store_true", help="skip the direct-to-backend baselines")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp folder (configs, proxy logs)")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="S",
        help="first wait up to S seconds for the machine to be <25%% busy (other jobs running)",
    )
    ap.add_argument(
        "--profile",
        default="",
        metavar="SCENARIO",
        help="py-spy the main target during this scenario -> <out>/profile-SCENARIO.md",
    )
    ap.add_argument("--list", action="store_true", help="list scenarios and targets, then exit")
    args = ap.parse_args()

    budget = QUICK if args.quick else FULL
    all_sc = scenarios(budget)
    if args.list:
        for s in all_sc:
            print(f"{s.name:18} {s.title}")
        print("targets:", ", ".join(TARGETS))
        return 0
    wanted = [x.strip() for x in args.scenarios.split(",") if x.strip()]
    unknown = [w for w in wanted if w not in {s.name for s in all_sc}]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; see --list")
    selected = [
        s for s in all_sc if (s.name in wanted if wanted else not (args.quick and s.name in QUICK_SKIP))
    ]
    names = [args.target] + [
        x.strip() for x in args.compare.split(",") if x.strip() and x.strip() != args.target
    ]
    bad = [n for n in names if n not in TARGETS]
    if bad:
        raise SystemExit(f"unknown target(s) {bad}; known: {', '.join(TARGETS)}")
    targets = [TARGETS[n] for n in names]

    soft, hard = raise_nofile()
    log(
        f"RLIMIT_NOFILE {soft}/{hard}; scenarios: {', '.join(s.name for s in selected)}; "
        f"targets: {', '.join(names)}"
    )
    if any(s.name == "slow_5000" for s in selected) and soft < 12000:
        log("warning: RLIMIT_NOFILE below 12,000: slow_5000 will likely fail")

    def _term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    if args.wait_quiet > 0:
        t_end = time.monotonic() + args.wait_quiet
        while time.monotonic() < t_end:
            m = BusyMeter()
            time.sleep(2)
            pct = m.stop()[1] or 0
            if pct < 25:
                break
            log(f"machine {pct:.0f}% busy with other work; waiting (up to {args.wait_quiet:g} s)")
    bench = Bench(args)
    load0 = loadavg()
    t0 = time.perf_counter()
    interrupted = False
    try:
        bench.run(selected, targets)
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up, writing what was measured")
    finally:
        # measure nothing more, but keep the instance RSS figures for the report before stopping
        bench.stop_all()
    wall = round(time.perf_counter() - t0, 1)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shown = [t.name for t in targets if t.name not in bench.unavailable]
    meta: dict[str, object] = {
        "machine": machine(),
        "command": "python bench/run.py " + " ".join(sys.argv[1:]),
        "wall_s": wall,
        "loadavg_start": load0,
        "loadavg_end": loadavg(),
        "quick": args.quick,
        "workers": args.workers,
        "interrupted": interrupted,
        "budget": asdict(bench.budget),
    }
    md = render_md(bench, meta, shown)
    (out / "latest.md").write_text(md)
    (out / "latest.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "runs": [asdict(r) for r in bench.runs],
                "cold_start": bench.cold,
                "unavailable": bench.unavailable,
                "instances": {
                    f"{t}/{k}": {"ready_s": round(i.ready_s, 3), "idle_rss_mib": round(i.rss_idle / MiB, 1)}
                    for (t, k), i in bench.instances.items()
                },
                "targets": {t: target_checks(bench, t) for t in shown},
            },
            indent=2,
        )
    )
    png_note = render_png(bench, out / "latest.png", shown)
    if png_note:
        log(png_note)
    if args.write_docs:
        log(f"wrote {write_docs(md, meta)}")
    log(f"done in {wall} s: {out / 'latest.md'}")
    print(md)
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
