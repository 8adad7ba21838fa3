# Sourced by scripts/run and scripts/test: creates .venv (Python 3.12 when the machine has it, else
# python3 >= 3.11) and installs the project with its dev extras whenever pyproject.toml changed.
ensure_venv() {
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  local venv="$root/.venv" py=""
  if [ ! -x "$venv/bin/python" ]; then
    if PYENV_VERSION=3.12.1 python3.12 -c 'import sys' >/dev/null 2>&1; then py="env PYENV_VERSION=3.12.1 python3.12"
    elif command -v python3.12 >/dev/null 2>&1 && python3.12 -c 'import sys' >/dev/null 2>&1; then py=python3.12
    else py=python3; fi
    $py -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
    echo "setting up $venv with $($py --version)" >&2
    $py -m venv "$venv"
  fi
  local stamp="$venv/.installed" want
  want="$(cat "$root/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' >&2 || true
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[dev]" 2>&1 | grep -v '^WARNING: Location' >&2 || true
    "$venv/bin/python" -c 'import ollama_openai_proxy, pytest, ollama' || { echo "installing the project failed" >&2; return 1; }
    echo "$want" > "$stamp"
  fi
}
