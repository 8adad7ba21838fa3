"""Real coding agents from npm (tests/agents/js): installed once, run headless against a proxy URL.

Claude Code's npm package puts its native binary in a per-platform optional dependency and copies it
over ``bin/claude.exe`` in a postinstall script, which npm 11 no longer runs without approval; the
binary is run from the platform package itself. Codex ships its linux-x64 musl binary the same way
(``@openai/codex-linux-x64``) behind a Node launcher, which is used as is.

Every agent runs with a fresh HOME, its telemetry, updates and other non-essential traffic off by its
own settings, and HTTP(S)_PROXY pointing at a closed loopback port with only loopback exempt, so any
call that would leave the machine fails instead.
"""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

JS_DIR = Path(__file__).resolve().parents[1] / "agents" / "js"
CLAUDE = (
    JS_DIR
    / "node_modules"
    / "@anthropic-ai"
    / f"claude-code-linux-{'x64' if platform.machine() == 'x86_64' else 'arm64'}"
    / "claude"
)
CODEX = JS_DIR / "node_modules" / ".bin" / "codex"
DEAD_PROXY = "http://127.0.0.1:9"


def npm_ci(folder: Path, timeout: float = 600) -> Path:
    """``npm ci`` in ``folder`` once: skipped while node_modules matches package-lock.json."""
    marker = folder / "node_modules" / ".ci-stamp"
    lock = (folder / "package-lock.json").read_bytes()
    if not (marker.exists() and marker.read_bytes() == lock):
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        marker.write_bytes(lock)
    return folder


def agent_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh working folder and HOME for one agent run."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    return work, home


def install() -> Path:
    return npm_ci(JS_DIR)


def _base_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def _run(cmd: list[str], workdir: Path, env: dict[str, str], timeout: float) -> AgentRun:
    done = subprocess.run(
        cmd,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return AgentRun(done.returncode, done.stdout, done.stderr)


@dataclass
class AgentRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_claude(
    proxy_url: str,
    model: str,
    prompt: str,
    workdir: Path,
    home: Path,
    *,
    small: bool = False,
    max_tokens: int | None = None,
    timeout: float = 180,
) -> AgentRun:
    """``claude -p`` for one headless turn, Bash allowed; ``small`` trims the system prompt and the
    tool list (for a backend with a small context window); ``max_tokens`` caps each answer."""
    env = _base_env(home) | {
        "ANTHROPIC_BASE_URL": proxy_url,
        "ANTHROPIC_AUTH_TOKEN": "agent-key",
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    }
    if max_tokens is not None:
        env["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(max_tokens)
    cmd = [str(CLAUDE), "-p", prompt, "--allowedTools", "Bash", "--output-format", "text"]
    if small:
        cmd += [
            "--tools",
            "Bash",
            "--system-prompt",
            "You are a terse assistant. Use the Bash tool when asked to run a command.",
        ]
    return _run(cmd, workdir, env, timeout)


def run_codex(
    proxy_url: str, model: str, prompt: str, workdir: Path, home: Path, *, timeout: float = 180
) -> AgentRun:
    """``codex exec`` for one headless turn, with a provider at the proxy's /v1 speaking Responses."""
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        f'model = "{model}"\n'
        'model_provider = "proxy"\n'
        "[model_providers.proxy]\n"
        'name = "ollama-openai-proxy"\n'
        f'base_url = "{proxy_url}/v1"\n'
        'wire_api = "responses"\n'
        "[analytics]\n"
        "enabled = false\n"
    )
    env = _base_env(home) | {"CODEX_HOME": str(codex_home)}
    cmd = [str(CODEX), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", prompt]
    return _run(cmd, workdir, env, timeout)
