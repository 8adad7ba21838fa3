"""Container HEALTHCHECK: GET /health on the port the proxy listens on (from OLLAMA_HOST).

Stdlib only (python:3.12-slim has no curl). Exit 0 when /health answers 200, else 1.
OLLAMA_HOST follows `ollama serve`: [scheme://]host[:port][/path]; the default port is 11434.
A wildcard or empty host is probed on loopback; an IPv6 address on [::1].
"""

import os
import sys
import urllib.request


def target() -> str:
    raw = os.environ.get("OLLAMA_HOST", "").strip() or "0.0.0.0:11434"
    hostport = raw.split("://", 1)[-1].split("/", 1)[0]
    port = "11434"
    if hostport.startswith("["):  # [v6]:port
        host, _, rest = hostport[1:].partition("]")
        port = rest.lstrip(":") or port
        host = "::1" if host in ("", "::") else host
        return f"http://[{host}]:{port}/health"
    host, sep, maybe_port = hostport.rpartition(":")
    if not sep:
        host = hostport
    elif maybe_port:
        port = maybe_port
    if host in ("", "0.0.0.0", "localhost"):
        host = "127.0.0.1"
    return f"http://{host}:{port}/health"


def main() -> int:
    url = target()
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:
            return 0 if resp.status == 200 else 1
    except Exception as exc:  # any failure means unhealthy
        print(f"healthcheck {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
