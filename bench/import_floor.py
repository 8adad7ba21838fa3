"""Start-up floor: CPU time and RSS of importing the libraries the design requires, beside the
proxy's own start-up (app built, nothing served), each in a fresh interpreter, best of N.

    .venv/bin/python bench/import_floor.py [--repeats 5] [--python PATH]

Shows how much of "ready after start" and "idle RSS" is the stack itself: a target below the
libraries' floor cannot be met by the proxy's code, only by dropping a library."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, time
{imports}
status = open("/proc/self/status").read()
rss = int(status.split("VmRSS:")[1].split()[0]) / 1024
print(json.dumps({{"cpu_s": time.process_time(), "rss_mib": rss}}))
"""

STAGES = {
    "bare Python": "",
    "required libraries (uvicorn, starlette, aiohttp, pydantic-settings, prometheus_client, "
    "structlog, uvloop, httptools, orjson)": (
        "import uvicorn, uvicorn.main, starlette.applications, starlette.routing, aiohttp, "
        "pydantic_settings, prometheus_client, structlog, uvloop, httptools, orjson"
    ),
    "the proxy (CLI, server, app built)": (
        "import ollama_openai_proxy.cli, ollama_openai_proxy.server, ollama_openai_proxy.connections, "
        "uvicorn.main, uvloop\nfrom ollama_openai_proxy.app import create_app\ncreate_app()"
    ),
}


def measure(python: str, imports: str, repeats: int) -> dict[str, float]:
    env = dict(os.environ, OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY="x")
    env["OLLAMA_PROXY_STATE_DIR"] = tempfile.mkdtemp(prefix="import-floor-")
    env["PYTHONPATH"] = str(ROOT / "src")
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [python, "-c", PROBE.format(imports=imports)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tempfile.gettempdir(),
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {"cpu_s": min(r["cpu_s"] for r in runs), "rss_mib": min(r["rss_mib"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    print("| stage | CPU s (best) | RSS MiB |")
    print("|---|---|---|")
    for name, imports in STAGES.items():
        m = measure(args.python, imports, args.repeats)
        print(f"| {name} | {m['cpu_s']:.3f} | {m['rss_mib']:.1f} |")


if __name__ == "__main__":
    main()
