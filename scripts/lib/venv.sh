# shellcheck shell=bash
# Sourced by scripts/run and scripts/test: `ensure_venv runtime` (scripts/run) or `ensure_venv dev`
# (scripts/test) creates .venv (Python 3.12 when the machine has it, else python3 >= 3.11) and installs
# the project, with its dev extras for `dev`, whenever pyproject.toml changed. Each stage is announced
# with the elapsed time and pip's progress is shown one line per step, so a first run is never silent.
# Stamps: .venv/.installed-runtime and .venv/.installed-dev hold the pyproject.toml hash each was made
# from; a dev install implies the runtime, so a runtime-only .venv is upgraded in place by scripts/test.

_setup_started=$SECONDS

_setup_say() {
  local elapsed=$((SECONDS - _setup_started))
  printf '[setup %d:%02d] %s\n' $((elapsed / 60)) $((elapsed % 60)) "$*" >&2
}

# Runs pip, relaying the lines that say what it is doing (one per package) with the elapsed time;
# on failure, the end of pip's full output.
_setup_pip() {
  local log rc
  log="$(mktemp)"
  set +e
  "$_setup_venv/bin/python" -m pip "$@" --disable-pip-version-check --no-input --progress-bar off 2>&1 \
    | tee "$log" \
    | while IFS= read -r line; do
        line="${line#"${line%%[![:space:]]*}"}"
        case "$line" in
          Collecting*) _setup_say "  ${line%% (from *}" ;;
          Downloading*" MB)" | Downloading*" GB)")
            line="${line#Downloading }"
            _setup_say "  downloading ${line##*/}"
            ;;
          *": started") _setup_say "  ${line%: started}" ;;
          "Installing collected packages: "*)
            IFS=, read -ra names <<<"${line#*: }"
            _setup_say "  installing ${#names[@]} packages"
            ;;
          "Successfully installed "*) _setup_say "  done" ;;
        esac
      done
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    grep -v '^WARNING: Location' "$log" | tail -n 25 >&2
    _setup_say "pip $* failed (exit $rc)"
  fi
  rm -f "$log"
  return "$rc"
}

ensure_venv() {
  local kind="${1:-dev}"
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  local venv="$root/.venv" py="" want
  _setup_venv="$venv"
  want="$(sha256sum <"$root/pyproject.toml" | cut -c1-16)"
  if [ "$(cat "$venv/.installed-dev" 2>/dev/null)" = "$want" ] \
    || { [ "$kind" = runtime ] && [ "$(cat "$venv/.installed-runtime" 2>/dev/null)" = "$want" ]; }; then
    return 0
  fi
  if [ ! -x "$venv/bin/python" ]; then
    if PYENV_VERSION=3.12.1 python3.12 -c 'import sys' >/dev/null 2>&1; then py="env PYENV_VERSION=3.12.1 python3.12"
    elif command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys' >/dev/null 2>&1; then py=python3.12
    else py=python3; fi
    $py -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
    _setup_say "creating $venv with $($py --version)"
    $py -m venv "$venv"
    _setup_say "upgrading pip"
    _setup_pip install --quiet --upgrade pip || return 1
  fi
  local target="$root" check="import ollama_openai_proxy"
  if [ "$kind" = dev ]; then
    target="${root}[dev]" check="import ollama_openai_proxy, pytest, ollama"
    _setup_say "installing the project with its dev extras (pip install -e '.[dev]': tests, linters, type checker)"
  else
    _setup_say "installing the project (pip install -e .: the runtime only)"
  fi
  _setup_pip install --editable "$target" || return 1
  "$venv/bin/python" -c "$check" || { _setup_say "installing the project failed" && return 1; }
  echo "$want" >"$venv/.installed-runtime"
  [ "$kind" = dev ] && echo "$want" >"$venv/.installed-dev"
  rm -f "$venv/.installed" # the single stamp of earlier versions of this script
  _setup_say "ready"
}
