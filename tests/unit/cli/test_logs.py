"""Log format: text on a terminal, JSON lines elsewhere (or as configured); probes only at debug level."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from ollama_openai_proxy import observability
from ollama_openai_proxy.observability import access_log, configure_logging, resolve_log_format


class _Stderr(io.TextIOWrapper):
    def __init__(self, tty: bool) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty

    def text(self) -> str:
        self.flush()
        buffer = self.buffer
        assert isinstance(buffer, io.BytesIO)
        return buffer.getvalue().decode()


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A terminal or not, and the logging set-up restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, access_log._logger)

    def make(tty: bool) -> _Stderr:
        fake = _Stderr(tty)
        monkeypatch.setattr(sys, "stderr", fake)
        return fake

    yield make
    root.handlers[:], root.level, access_log._logger = saved


@pytest.mark.parametrize(
    ("configured", "tty", "expected"),
    [
        ("auto", True, "text"),
        ("auto", False, "json"),
        ("json", True, "json"),
        ("json", False, "json"),
        ("text", False, "text"),
        ("text", True, "text"),
    ],
)
def test_the_format_follows_the_terminal_unless_configured(
    stderr: Any, configured: str, tty: bool, expected: str
) -> None:
    stderr(tty)
    assert resolve_log_format(configured) == expected


def test_auto_without_an_isatty_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", object())
    assert resolve_log_format("auto") == "json"


def _request(path: str) -> None:
    access_log.info("request", method="GET", path=path, status=200, model=None, duration_ms=1.5)


@pytest.mark.parametrize("tty", [True, False])
def test_requests_are_logged_in_the_chosen_format(stderr: Any, tty: bool) -> None:
    out = stderr(tty)
    configure_logging("info", "auto")
    _request("/api/tags")
    logging.getLogger("ollama_openai_proxy.test").warning("backend slow")
    lines = out.text().splitlines()
    assert len(lines) == 2, lines
    if tty:
        assert "request" in lines[0]
        assert "path=/api/tags" in lines[0]
        assert "model=" not in lines[0]  # fields a request did not have are left out
        assert "backend slow" in lines[1]
        assert not lines[0].startswith("{")
    else:
        first = orjson.loads(lines[0])
        assert (first["event"], first["path"], first["model"]) == ("request", "/api/tags", None)
        assert orjson.loads(lines[1])["event"] == "backend slow"


@pytest.mark.parametrize("fmt", ["json", "text"])
@pytest.mark.parametrize("path", sorted(observability.PROBE_PATHS))
def test_probes_are_logged_at_debug_only(stderr: Any, fmt: str, path: str) -> None:
    out = stderr(False)
    configure_logging("info", fmt)
    _request(path)
    _request("/api/version")
    lines = out.text().splitlines()
    assert len(lines) == 1
    assert "/api/version" in lines[0]
    configure_logging("debug", fmt)
    _request(path)
    assert path in out.text().splitlines()[-1]
