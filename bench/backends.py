"""Backends that are never the bottleneck: nginx serving canned OpenAI responses from files,
and (in paced_backend.py) a paced SSE server for slow streams.

nginx layout (all files live in a temp folder, nginx runs `daemon off` as our child):

    GET  /plain/v1/models             -> models.json
    POST /plain/v1/chat/completions   -> chat completion with usage (application/json)
    POST /plain/v1/embeddings         -> 16 x 384-float embeddings (application/json)
    GET  /sse/v1/models               -> models.json
    POST /sse/v1/chat/completions     -> 200-chunk SSE stream (text/event-stream)

nginx refuses POST on static files with 405; `error_page 405 =200 $uri;` turns that into an
internal GET redirect to the same file with status 200, which works on every nginx version.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import HOST, Procs, free_port, http_get_status

MODEL = "bench-model"
SSE_CHUNKS = 200
EMBED_BATCH = 16
EMBED_DIM = 384
CHAT_CONTENT = "Hello! I am a canned benchmark answer. How can I help you today?"


def models_doc() -> bytes:
    return json.dumps(
        {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": 1700000000, "owned_by": "bench"}],
        }
    ).encode()


def chat_doc() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": CHAT_CONTENT},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 15, "total_tokens": 24},
        },
        separators=(",", ":"),
    ).encode()


def embeddings_doc() -> bytes:
    rnd = random.Random(42)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": [round(rnd.uniform(-1, 1), 7) for _ in range(EMBED_DIM)],
        }
        for i in range(EMBED_BATCH)
    ]
    return json.dumps(
        {"object": "list", "data": data, "model": MODEL, "usage": {"prompt_tokens": 64, "total_tokens": 64}},
        separators=(",", ":"),
    ).encode()


def sse_chunk(i: int, delta: dict[str, object], finish: str | None = None) -> bytes:
    doc = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def sse_finish() -> bytes:
    return sse_chunk(0, {}, "stop")


def sse_usage(n: int) -> bytes:
    doc = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": n, "total_tokens": 9 + n},
    }
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"


def sse_content(i: int) -> bytes:
    delta: dict[str, object] = {"content": f"tok{i} "}
    if i == 0:
        delta = {"role": "assistant", "content": f"tok{i} "}
    return sse_chunk(i, delta)


def sse_doc(n: int = SSE_CHUNKS) -> bytes:
    parts = [sse_content(i) for i in range(n)]
    parts += [sse_finish(), sse_usage(n), b"data: [DONE]\n\n"]
    return b"".join(parts)


# --------------------------------------------------------------------------- request bodies


def ollama_chat_body(stream: bool) -> bytes:
    return json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    ).encode()


def openai_chat_body(stream: bool) -> bytes:
    d: dict[str, object] = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if stream:
        d["stream_options"] = {"include_usage": True}
    return json.dumps(d).encode()


def anthropic_body(stream: bool) -> bytes:
    d = {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }
    return json.dumps(d).encode()


def responses_body(stream: bool) -> bytes:
    return json.dumps({"model": MODEL, "input": "hi", "stream": stream}).encode()


def embed_inputs() -> list[str]:
    return [f"benchmark sentence number {i} about proxies and latency" for i in range(EMBED_BATCH)]


def ollama_embed_body() -> bytes:
    return json.dumps({"model": MODEL, "input": embed_inputs()}).encode()


def openai_embed_body() -> bytes:
    return json.dumps({"model": MODEL, "input": embed_inputs()}).encode()


# --------------------------------------------------------------------------- nginx

NGINX_CONF = """\
worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16000; multi_accept on; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 10000000;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 10m;
    client_body_buffer_size 1m;
    etag off;
    server_tokens off;
    types {{ }}
    server {{
        listen {host}:{port} backlog=4096 reuseport;
        root {d}/www;
        location /plain/ {{ default_type application/json; error_page 405 =200 $uri; }}
        location /sse/v1/models {{ default_type application/json; }}
        location /sse/ {{ default_type text/event-stream; error_page 405 =200 $uri; }}
        location / {{ return 404 '{{"error":{{"message":"not found","type":"invalid_request_error"}}}}'; }}
    }}
}}
"""


def find_nginx() -> str | None:
    for c in ("nginx", "/usr/sbin/nginx"):
        p = shutil.which(c) or (c if os.path.exists(c) else None)
        if p:
            return p
    return None


def ensure_debian_tools(log: callable = print) -> None:  # type: ignore[valid-type]
    """Install nginx-light and wrk from Debian's packages when missing (needs root)."""
    missing = []
    if not find_nginx():
        missing.append("nginx-light")
    if not shutil.which("wrk"):
        missing.append("wrk")
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(f"missing {' '.join(missing)}; install them: apt-get install -y {' '.join(missing)}")
    log(f"installing {' '.join(missing)} from Debian packages ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, timeout=300, stdout=subprocess.DEVNULL)
    r = subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing], env=env, timeout=600, stdout=subprocess.DEVNULL
    )
    if r.returncode != 0 and "nginx-light" in missing:  # newer Debian folds nginx-light into nginx
        missing = ["nginx" if m == "nginx-light" else m for m in missing]
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *missing],
            env=env,
            timeout=600,
            stdout=subprocess.DEVNULL,
            check=True,
        )
    if not find_nginx() or not shutil.which("wrk"):
        raise SystemExit("could not install nginx/wrk")


@dataclass
class Nginx:
    port: int
    dir: Path
    proc: subprocess.Popen[bytes]

    @property
    def plain(self) -> str:
        return f"http://{HOST}:{self.port}/plain/v1"

    @property
    def sse(self) -> str:
        return f"http://{HOST}:{self.port}/sse/v1"


def write_canned(www: Path) -> None:
    for prefix in ("plain", "sse"):
        (www / prefix / "v1" / "chat").mkdir(parents=True, exist_ok=True)
        (www / prefix / "v1" / "models").write_bytes(models_doc())
    (www / "plain/v1/chat/completions").write_bytes(chat_doc())
    (www / "plain/v1/embeddings").write_bytes(embeddings_doc())
    (www / "sse/v1/chat/completions").write_bytes(sse_doc())
    (www / "sse/v1/embeddings").write_bytes(embeddings_doc())


def start_nginx(procs: Procs, tmp: Path) -> Nginx:
    exe = find_nginx()
    if not exe:
        raise SystemExit("nginx not found")
    d = tmp / "nginx"
    (d / "www").mkdir(parents=True, exist_ok=True)
    write_canned(d / "www")
    # a root master runs its worker as an unprivileged user: the files must be world-readable
    os.chmod(tmp, 0o755)
    for root, dirs, files in os.walk(d):
        for x in dirs:
            os.chmod(os.path.join(root, x), 0o755)
        for x in files:
            os.chmod(os.path.join(root, x), 0o644)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (d / sub).mkdir(exist_ok=True)
    last_err = ""
    for _ in range(3):
        port = free_port()
        (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, host=HOST, port=port))
        p = procs.spawn(
            [exe, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")],
            stderr=subprocess.DEVNULL,
        )
        t_end = time.monotonic() + 10
        while time.monotonic() < t_end and p.poll() is None:
            if http_get_status(port, "/plain/v1/models") == 200:
                return Nginx(port, d, p)
            time.sleep(0.02)
        procs.stop(p)
        last_err = (d / "error.log").read_text()[-500:] if (d / "error.log").exists() else ""
    raise SystemExit(f"nginx did not start: {last_err}")


def verify_nginx(ngx: Nginx) -> list[str]:
    """Check every route answers as the scenarios expect; return a list of problems."""
    import urllib.request

    problems = []

    def call(url: str, body: bytes | None) -> tuple[int, str, bytes]:
        req = urllib.request.Request(
            url,
            data=body,
            method="POST" if body is not None else "GET",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()

    checks = [
        (ngx.plain + "/models", None, "application/json", models_doc()),
        (ngx.sse + "/models", None, "application/json", models_doc()),
        (ngx.plain + "/chat/completions", openai_chat_body(False), "application/json", chat_doc()),
        (ngx.plain + "/embeddings", openai_embed_body(), "application/json", embeddings_doc()),
        (ngx.sse + "/chat/completions", openai_chat_body(True), "text/event-stream", sse_doc()),
    ]
    for url, body, ctype, expect in checks:
        try:
            status, ct, data = call(url, body)
        except Exception as e:
            problems.append(f"{url}: {e}")
            continue
        if status != 200 or not ct.startswith(ctype) or data != expect:
            problems.append(f"{url}: status={status} content-type={ct!r} body_ok={data == expect}")
    return problems


def make_tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="ooproxy-bench-"))
