#!/usr/bin/env python3
"""Starts the proxy the way rendered Kubernetes manifests would, without a cluster.

Reads the Deployment in a multi-document YAML file, builds its container's environment from its
``env`` and ``envFrom`` (ConfigMaps, Secrets; a missing optional Secret is skipped), mounts the
config file it names into a temporary folder, points the backend URLs at a local scripted backend,
then runs the proxy and requires /ready 200 and a chat answer. The backend demands the API key, so
a key the manifests fail to pass on is a failure too.

Usage: check_rendered_start.py RENDERED.yaml PROXY_EXECUTABLE BACKEND_URL KEY
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    return next((d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name), None)


def container_env(docs: list[dict[str, Any]], folder: Path, backend: str) -> dict[str, str]:
    deployment = next(d for d in docs if d.get("kind") == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            ref = source["configMapRef"]
            found = find(docs, "ConfigMap", ref["name"])
            if found is None:
                raise SystemExit(f"ConfigMap {ref['name']} is not in the rendered output")
            env.update(found.get("data", {}))
        if "secretRef" in source:
            ref = source["secretRef"]
            secret = find(docs, "Secret", ref["name"])
            if secret is None:
                if ref.get("optional"):
                    continue
                raise SystemExit(f"Secret {ref['name']} is not in the rendered output")
            env.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
            env.update(secret.get("stringData", {}))
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
    # The config file the pod would mount, with its backends pointed here.
    if "OLLAMA_PROXY_CONFIG" in env:
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        target = Path(env["OLLAMA_PROXY_CONFIG"])
        for volume in pod.get("volumes", []):
            if "configMap" in volume and mounts.get(volume["name"]) == str(target.parent):
                data = find(docs, "ConfigMap", volume["configMap"]["name"])
                text = (data or {}).get("data", {}).get(target.name)
                if text is None:
                    raise SystemExit(f"{target} is not in the ConfigMap mounted at {target.parent}")
                config = yaml.safe_load(text)
                for entry in config.get("backends", []):
                    entry["base_url"] = backend
                (folder / target.name).write_text(yaml.safe_dump(config))
                env["OLLAMA_PROXY_CONFIG"] = str(folder / target.name)
                break
        else:
            raise SystemExit(f"nothing is mounted at {target.parent} for OLLAMA_PROXY_CONFIG")
    if "OPENAI_BASE_URL" in env:
        env["OPENAI_BASE_URL"] = backend
    return env


def main() -> int:
    rendered, proxy, backend, key = sys.argv[1:5]
    docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
    folder = Path(tempfile.mkdtemp(prefix="oop-rendered-"))
    env = container_env(docs, folder, backend)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.update({"OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_PROXY_STATE_DIR": str(folder)})
    env.pop("OLLAMA_PROXY_DATABASE_URL", None)  # no PostgreSQL here: the local store stands in
    env.pop("OLLAMA_PROXY_REDIS_URL", None)
    shown = {k: ("***" if "KEY" in k or ("URL" in k and "@" in v) else v) for k, v in env.items()}
    print(f"{rendered}: environment {json.dumps(shown, sort_keys=True)}", flush=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "OPENAI_"))}
    log = folder / "proxy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [proxy], env={**base, **env}, cwd=folder, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and proc.poll() is None and not ready:
            try:
                with urllib.request.urlopen(f"{url}/ready", timeout=2) as response:
                    ready = response.status == 200
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        if not ready:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            print(
                f"{rendered}: the proxy never became ready (backend key {'set' if key else 'none'})",
                file=sys.stderr,
            )
            return 1
        body = json.dumps(
            {"model": "check-model", "messages": [{"role": "user", "content": "hi"}], "stream": False}
        )
        request = urllib.request.Request(
            f"{url}/api/chat", body.encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
        if not answer.get("done"):
            print(f"{rendered}: unexpected chat answer {answer}", file=sys.stderr)
            return 1
        print(f"{rendered}: started, ready, and answered a chat with the backend's key", flush=True)
        return 0
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    sys.exit(main())
