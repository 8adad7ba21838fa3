#!/usr/bin/env bash
# Container check: builds the `ci` and `prod` images of the Dockerfile on a PRIVATE dockerd,
# runs the test suite inside the ci image, starts the prod image against a scripted OpenAI-style
# backend, waits for the container to be healthy, sends one real /api/chat request and reports
# the prod image size.
#
# No container registry is reachable here, so the base image `python:3.12-slim` is replaced by a
# local stand-in: a minimal Debian bookworm (mmdebstrap from the machine's Debian mirror) with a
# CPython 3.12 at /usr/local. The stand-in ALONE trusts this machine's CA bundle and pip settings
# so that `pip install` works during the build; nothing of that reaches the Dockerfile.
# Nothing is ever pushed.
#
# Usage: scripts/container_check.sh            (as root; installs docker.io/mmdebstrap if missing)
# Env:   OOP_CACHE_DIR   cache folder (default: <repo>/.cache) - stand-in tarball + docker data-root
#        OOP_STANDIN_PY  CPython prefix copied into the stand-in (default: pyenv 3.12.1, else
#                        Debian's python3 is used)
#        OOP_KEEP_CACHE=0  drop the private docker data-root at the end (default: keep, warm re-runs)
#        OOP_SKIP_TESTS=1  skip running the test suite inside the ci image
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OOP_CACHE_DIR:-$REPO/.cache}"
STANDIN_PY="${OOP_STANDIN_PY:-/root/.pyenv/versions/3.12.1}"
STANDIN_REV=4 # bump to rebuild the stand-in base when its recipe changes
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY_MIRROR=http://deb.debian.org/debian-security
BASE_TAG=python:3.12-slim
CI_TAG=ollama-openai-proxy:ci-check
PROD_TAG=ollama-openai-proxy:prod-check
DOCKER_BIN=/usr/bin/docker # Debian's docker.io CLI, matching its daemon
PROD_BUDGET_MB=200

T0=$(date +%s)
log() { printf '[container_check %4ss] %s\n' "$(($(date +%s) - T0))" "$*" >&2; }
die() {
  printf '[container_check] FAILED: %s\n' "$*" >&2
  exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (private dockerd, mmdebstrap)"

# ------------------------------------------------------------------------------------ tools
need_pkgs=()
command -v dockerd >/dev/null 2>&1 && [[ -x $DOCKER_BIN ]] || need_pkgs+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || need_pkgs+=(mmdebstrap)
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null ||
    die "apt-get install ${need_pkgs[*]} failed"
fi

# ------------------------------------------------------------------------------- private dockerd
mkdir -p "$CACHE"
RUN_DIR="$(mktemp -d /tmp/oop-container-check.XXXXXX)"
DATA_ROOT="$CACHE/docker-data"
SOCK="$RUN_DIR/docker.sock"
DOCKERD_PID=""
BACKEND_PID=""
PROD_CTR=""

cleanup() {
  local rc=$?
  set +e
  if [[ -n $PROD_CTR ]]; then
    "$DOCKER_BIN" -H "unix://$SOCK" rm -f "$PROD_CTR" >/dev/null 2>&1
  fi
  [[ -n $BACKEND_PID ]] && kill "$BACKEND_PID" 2>/dev/null && wait "$BACKEND_PID" 2>/dev/null
  if [[ -n $DOCKERD_PID ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    kill "$DOCKERD_PID"
    for _ in $(seq 1 30); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -9 "$DOCKERD_PID"
  fi
  rm -f "$CACHE/dockerd.pid"
  # dockerd leaves its netns bind mount (and, if killed, overlay mounts) behind: unmount ours only.
  awk -v a="$RUN_DIR" -v b="$DATA_ROOT" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts |
    sort -r | while read -r m; do umount -l "$m"; done
  [[ ${OOP_KEEP_CACHE:-1} == 0 ]] && rm -rf "$DATA_ROOT"
  rm -rf "$RUN_DIR"
  if ((rc == 0)); then log "OK"; else log "exit $rc (dockerd log was $RUN_DIR/dockerd.log)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A previous run killed hard may have left its dockerd on our data-root: stop only that one.
if [[ -f $CACHE/dockerd.pid ]]; then
  old=$(cat "$CACHE/dockerd.pid")
  if [[ -n $old ]] && tr '\0' ' ' 2>/dev/null </proc/"$old"/cmdline | grep -q -- "--data-root $DATA_ROOT"; then
    log "stopping stale private dockerd $old"
    kill "$old"
    for _ in $(seq 1 30); do kill -0 "$old" 2>/dev/null || break; sleep 1; done
  fi
  rm -f "$CACHE/dockerd.pid"
fi

log "starting private dockerd (data-root $DATA_ROOT)"
dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
  --data-root "$DATA_ROOT" --exec-root "$RUN_DIR/exec" --pidfile "$RUN_DIR/dockerd.pid" \
  -H "unix://$SOCK" >"$RUN_DIR/dockerd.log" 2>&1 &
DOCKERD_PID=$!
echo "$DOCKERD_PID" >"$CACHE/dockerd.pid"
for _ in $(seq 1 60); do
  "$DOCKER_BIN" -H "unix://$SOCK" version >/dev/null 2>&1 && break
  kill -0 "$DOCKERD_PID" 2>/dev/null || { tail -20 "$RUN_DIR/dockerd.log" >&2; die "dockerd exited"; }
  sleep 1
done
"$DOCKER_BIN" -H "unix://$SOCK" version >/dev/null 2>&1 || die "private dockerd did not come up"
dk() { "$DOCKER_BIN" -H "unix://$SOCK" "$@"; }

# Registry hosts the build needs, resolved the way this machine resolves them (the build runs
# with --network host but gets its own /etc/hosts).
ADD_HOSTS=()
for h in deb.debian.org pypi.org files.pythonhosted.org; do
  ip=$(getent ahostsv4 "$h" | awk 'NR==1{print $1}')
  [[ -n $ip ]] && ADD_HOSTS+=(--add-host "$h:$ip")
done

# --------------------------------------------------------------------------- stand-in base image
py_ver() { "$1/bin/python3" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'; }
if [[ -x $STANDIN_PY/bin/python3 ]]; then
  PYV=$(py_ver "$STANDIN_PY")
else
  PYV=debian
fi
STANDIN_KEY="$SUITE-py$PYV-r$STANDIN_REV"
TARBALL="$CACHE/standin/python-slim-$STANDIN_KEY.tar"

build_standin_tarball() {
  local root="$RUN_DIR/rootfs"
  local debs=ca-certificates,netbase,tzdata
  if [[ $PYV == debian ]]; then
    debs+=,python3,python3-venv,python3-pip
  else
    # Shared libraries the CPython build's extension modules link against (no Tk).
    debs+=,libssl3,libsqlite3-0,libffi8,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libtinfo6
    debs+=,zlib1g,libuuid1,libgdbm6,libexpat1,libcrypt1,libnsl2,libtirpc3
  fi
  log "mmdebstrap $SUITE ($debs) from $MIRROR"
  mkdir -p "$(dirname "$TARBALL")"
  local hooks=()
  # Merged /usr set up by mmdebstrap's hook, as the official images have it (the usrmerge
  # package would drag in a full perl).
  [[ -d /usr/share/mmdebstrap/hooks/merged-usr ]] && hooks=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
  mmdebstrap --mode=root --variant=minbase --include="$debs" "${hooks[@]}" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    "$SUITE" "$root" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
    "deb $SECURITY_MIRROR $SUITE-security main" >"$RUN_DIR/mmdebstrap.log" 2>&1 ||
    { tail -30 "$RUN_DIR/mmdebstrap.log" >&2; die "mmdebstrap failed"; }

  if [[ $PYV != debian ]]; then
    log "copying CPython $PYV from $STANDIN_PY into /usr/local (stdlib + pip only)"
    local sp=lib/python${PYV%.*}/site-packages
    (cd "$STANDIN_PY" && tar -cf - \
      --exclude='__pycache__' --exclude='*.pyc' --exclude='libpython*.a' \
      --exclude="lib/python${PYV%.*}/test" --exclude='*/idlelib' --exclude='*/tkinter' \
      --exclude='*/turtledemo' --exclude='*/lib-dynload/_tkinter*' \
      --exclude="lib/python${PYV%.*}/config-*" \
      --exclude="$sp/*" bin include lib) | tar -C "$root/usr/local" -xf -
    (cd "$STANDIN_PY" && tar -cf - "$sp"/pip "$sp"/pip-*.dist-info) | tar -C "$root/usr/local" -xf -
    # Scripts keep the old prefix in their #! line; python3 -> python for the slim-image layout.
    grep -rlI "^#!$STANDIN_PY" "$root/usr/local/bin" | xargs -r sed -i "1s|^#!$STANDIN_PY|#!/usr/local|"
    for link in python python3; do
      [[ -e $root/usr/local/bin/$link ]] || ln -s "python${PYV%.*}" "$root/usr/local/bin/$link"
    done
    [[ -e $root/usr/local/bin/pip ]] || ln -s "pip${PYV%.*}" "$root/usr/local/bin/pip"
    # The official image links with --strip-all; a pyenv build keeps its debug info (~30 MB).
    if command -v strip >/dev/null 2>&1; then
      find "$root/usr/local" -type f \( -name '*.so' -o -name '*.so.*' -o -name "python${PYV%.*}" \) \
        -exec strip --strip-unneeded {} + 2>/dev/null || true
    fi
    rm -f "$root/usr/local/bin/"{idle*,2to3*,python*-config,python*-gdb.py}
    chroot "$root" ldconfig
  else
    ln -sf /usr/bin/python3 "$root/usr/local/bin/python"
    ln -sf /usr/bin/python3 "$root/usr/local/bin/python3"
  fi
  # Trust this machine's CA bundle (its egress proxy terminates TLS) for pip - in the stand-in only.
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/build-host-ca-bundle.crt"
  printf '[global]\ncert = /etc/ssl/certs/build-host-ca-bundle.crt\ntimeout = 180\n' >"$root/etc/pip.conf"
  [[ $PYV == debian ]] && printf 'break-system-packages = true\n' >>"$root/etc/pip.conf"
  chroot "$root" python3 -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, uuid, venv, ensurepip, pip' ||
    die "the stand-in's python is incomplete"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log
  log "writing $TARBALL"
  tar -C "$root" --numeric-owner -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
  find "$(dirname "$TARBALL")" -name 'python-slim-*.tar' ! -name "$(basename "$TARBALL")" -delete
  rm -rf "$root"
}

have_base=$(dk image inspect -f '{{ index .Config.Labels "oop.standin" }}' "$BASE_TAG" 2>/dev/null || true)
if [[ $have_base != "$STANDIN_KEY" ]]; then
  [[ -s $TARBALL ]] || build_standin_tarball
  log "importing stand-in $BASE_TAG ($STANDIN_KEY)"
  dk import \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change "ENV PYTHON_VERSION=$PYV" \
    --change "LABEL oop.standin=$STANDIN_KEY" --change 'CMD ["python3"]' \
    "$TARBALL" "$BASE_TAG" >/dev/null || die "docker import of the stand-in failed"
else
  log "stand-in $BASE_TAG ($STANDIN_KEY) already loaded"
fi

# ------------------------------------------------------------------------------------- builds
build() { # target tag
  log "docker build --target $1"
  if ! dk build --network host "${ADD_HOSTS[@]}" --target "$1" -t "$2" \
    -f "$REPO/Dockerfile" "$REPO" >"$RUN_DIR/build-$1.log" 2>&1; then
    tail -40 "$RUN_DIR/build-$1.log" >&2
    die "docker build --target $1 failed (log above)"
  fi
}
export DOCKER_BUILDKIT=0 # Debian's 20.10 CLI has no buildx; the classic builder is enough here
build ci "$CI_TAG"
build prod "$PROD_TAG"

size=$(dk image inspect -f '{{ .Size }}' "$PROD_TAG")
size_mb=$((size / 1000 / 1000))
base_mb=$(($(dk image inspect -f '{{ .Size }}' "$BASE_TAG") / 1000 / 1000))
log "prod image size: ${size_mb} MB (stand-in base ${base_mb} MB; budget ${PROD_BUDGET_MB} MB)"
if ((size_mb > PROD_BUDGET_MB)); then
  log "WARNING: prod image is over the ${PROD_BUDGET_MB} MB budget"
fi
dk image prune -f >/dev/null 2>&1 || true # dangling layers of earlier builds

# ----------------------------------------------------------------------------- tests in ci image
if [[ ${OOP_SKIP_TESTS:-0} != 1 ]]; then
  log "running the ci image's default command (pytest unit+contract, ruff, mypy)"
  ci_rc=0
  dk run --rm --network host "$CI_TAG" >"$RUN_DIR/ci-run.log" 2>&1 || ci_rc=$?
  if ((ci_rc != 0)); then
    tail -60 "$RUN_DIR/ci-run.log" >&2
    ((ci_rc == 5)) && die "pytest inside the ci image collected no tests (tests/unit, tests/contract)"
    die "tests/lint inside the ci image failed with exit code $ci_rc (output above)"
  fi
  tail -3 "$RUN_DIR/ci-run.log" >&2
fi

# -------------------------------------------------------------------- prod smoke test, real request
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
BACKEND_PORT=$(free_port)
PROXY_PORT=$(free_port)
python3 "$REPO/scripts/fake_openai_backend.py" --port "$BACKEND_PORT" >"$RUN_DIR/backend.log" 2>&1 &
BACKEND_PID=$!
for _ in $(seq 1 50); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$BACKEND_PORT/v1/models', timeout=1)" \
    2>/dev/null && break
  sleep 0.2
done

log "starting prod on 127.0.0.1:$PROXY_PORT (backend 127.0.0.1:$BACKEND_PORT)"
PROD_CTR=oop-prod-check-$$
dk run -d --name "$PROD_CTR" --network host --read-only --tmpfs /tmp --cap-drop ALL \
  --security-opt no-new-privileges \
  -e OLLAMA_HOST="127.0.0.1:$PROXY_PORT" \
  -e OPENAI_BASE_URL="http://127.0.0.1:$BACKEND_PORT/v1" \
  -e OPENAI_API_KEY=container-check \
  --health-interval 2s --health-start-period 30s \
  "$PROD_TAG" >/dev/null || die "docker run of the prod image failed"

status=""
for _ in $(seq 1 60); do
  status=$(dk inspect -f '{{ .State.Health.Status }}' "$PROD_CTR" 2>/dev/null || echo gone)
  [[ $status == healthy ]] && break
  running=$(dk inspect -f '{{ .State.Running }}' "$PROD_CTR" 2>/dev/null || echo false)
  [[ $running == true ]] || break
  sleep 1
done
if [[ $status != healthy ]]; then
  dk logs "$PROD_CTR" 2>&1 | tail -30 >&2
  die "prod container never became healthy (health status: ${status:-none})"
fi
log "prod container is healthy"

reply=$(python3 - "$PROXY_PORT" <<'EOF'
import json, sys, urllib.request
body = json.dumps({"model": "check-model", "stream": False,
                   "messages": [{"role": "user", "content": "Say hello"}]}).encode()
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/api/chat", data=body,
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=30) as resp:
    print(resp.read().decode())
EOF
) || {
  dk logs "$PROD_CTR" 2>&1 | tail -30 >&2
  die "POST /api/chat to the prod container failed"
}
content=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["message"]["content"])' "$reply" 2>/dev/null) ||
  die "POST /api/chat reply has no message.content: $reply"
[[ $content == *"canned reply from the scripted backend"* ]] ||
  die "POST /api/chat answered, but not with the backend's canned content: $reply"
log "POST /api/chat -> message.content = \"$content\""

# Graceful stop: SIGTERM must reach the proxy (exec-form ENTRYPOINT) and end it well within 10s.
t_stop=$(date +%s)
dk stop -t 10 "$PROD_CTR" >/dev/null
code=$(dk inspect -f '{{ .State.ExitCode }}' "$PROD_CTR")
log "prod stopped on SIGTERM in $(($(date +%s) - t_stop))s (exit code $code)"
[[ $code == 137 ]] && die "prod ignored SIGTERM and was killed (exit 137)"

echo "container_check: OK (prod image ${size_mb} MB, total $(($(date +%s) - T0))s)"
