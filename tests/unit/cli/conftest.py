"""Fixtures for the command-line tests: ``main([...])`` run in-process in a clean environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ollama_openai_proxy.cli import main


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()

    def assert_one_line(self, code: int, *fragments: str) -> str:
        """The command failed with ``code`` and said why in exactly one line holding every fragment."""
        assert self.code == code, (self.code, self.out, self.err)
        assert "Traceback" not in self.out + self.err
        assert len(self.err_lines) == 1, self.err
        line = self.err_lines[0]
        assert line.startswith("ollama-openai-proxy: "), line
        for fragment in fragments:
            assert fragment in line, (fragment, line)
        return line


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path) -> Iterator[None]:
    """No OPENAI_*/OLLAMA_* variables, no .env (the working directory is ``tmp_path``); the whole
    environment is restored afterwards (the CLI writes OLLAMA_PROXY_CONFIG/LOG_LEVEL for its workers)."""
    saved = dict(os.environ)
    cwd = Path.cwd()
    for key in list(os.environ):
        if key.upper().startswith(("OPENAI_", "OLLAMA_")):
            del os.environ[key]
    os.chdir(tmp_path)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Outcome]:
    """``cli("check", "--config", "x.yaml")``: the exit status and what was printed."""

    def run(*argv: str) -> Outcome:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run
