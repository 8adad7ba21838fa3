"""Every parser and renderer is linear in its input: doubling the input at most about doubles the
cost (a ratio of best-of-several timings, never an absolute time). Each case is a shape that was,
or could be, quadratic: unterminated quotes before blank lines, long runs of spaces, a huge SSE line
in small reads, a tool call in many small pieces, long duration strings."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ollama_openai_proxy.translate import keepalive, names
from ollama_openai_proxy.translate.errors import ProxyError, redact
from ollama_openai_proxy.translate.response import Clock, StreamTranslator
from ollama_openai_proxy.translate.sse import SSEDecoder
from ollama_openai_proxy.virtual.modelfile import (
    go_quote,
    parse_modelfile,
    render_modelfile,
    render_parameters,
)
from ollama_openai_proxy.virtual.spec import build

RATIO = 3.0  # linear work doubles; quadratic work quadruples


def cost(run: Callable[[], Any], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with contextlib.suppress(ProxyError, ValueError):  # refusing is fine; refusing slowly is not
            run()
        best = min(best, time.perf_counter() - start)
    return best


def assert_linear(make: Callable[[int], Callable[[], Any]], n: int) -> None:
    small, large = cost(make(n)), cost(make(2 * n))
    if large / small >= RATIO:  # one more try against a noisy neighbour before failing
        small, large = cost(make(n), 9), cost(make(2 * n), 9)
    assert large / small < RATIO, f"{large / small:.2f}x the cost for 2x the input"


MODELFILES: dict[str, Callable[[int], str]] = {
    "unterminated triple quote, blank lines": lambda n: 'FROM m\nSYSTEM """' + "\n" * n,
    "unterminated quote, blank lines": lambda n: 'FROM m\nSYSTEM "' + "\n" * n,
    "unterminated triple quote, spaces": lambda n: 'FROM m\nSYSTEM """x' + " \t\n" * n,
    "unterminated, CRLF blank lines": lambda n: 'FROM m\nTEMPLATE """' + "\r\n" * n,
    "unterminated, lines ending in one quote": lambda n: 'FROM m\nSYSTEM """' + 'a"\n' * n,
    "closed triple quote around blank lines": lambda n: 'FROM m\nSYSTEM """' + "\n" * n + '"""\n',
    "many commands": lambda n: "FROM m\n" + "PARAMETER stop x\n" * (n // 8),
    "many comments and blank lines": lambda n: "# c\n\n" * (n // 2) + "FROM m\n",
    "long value": lambda n: "FROM m\nSYSTEM " + "x" * n + "\n",
    "long leading spaces": lambda n: "FROM m\nSYSTEM" + " " * n + "x\n",
}


@pytest.mark.parametrize("shape", list(MODELFILES))
def test_modelfile_parser_is_linear(shape: str) -> None:
    make = MODELFILES[shape]
    assert_linear(lambda n: lambda: parse_modelfile(make(n)), 40_000)


SYSTEMS: dict[str, Callable[[int], str]] = {
    "blank lines": lambda n: "\n" * n,
    "spaces and blank lines": lambda n: " \n\t" * n,
    "lines ending in quotes": lambda n: 'a"""\nb"\n' * (n // 4),
    "one long line": lambda n: "y" * n,
}


@pytest.mark.parametrize("shape", list(SYSTEMS))
def test_show_rendering_is_linear(shape: str) -> None:
    def make(n: int) -> Callable[[], Any]:
        text = SYSTEMS[shape](n)
        model = build(name="m", base="b", system=text, template=text, license=[text], messages=[])
        return lambda: render_modelfile(model)

    assert_linear(make, 40_000)


def test_parameter_rendering_is_linear() -> None:
    def make(n: int) -> Callable[[], Any]:
        params = {"stop": [f"s{i}\n\t\"'" for i in range(n // 10)], "temperature": 0.5}
        return lambda: (render_parameters(params), go_quote("\x01\n" * n))

    assert_linear(make, 40_000)


DURATIONS: dict[str, Callable[[int], str]] = {
    "digits without a unit": lambda n: "1" * n,
    "digits then a bad unit": lambda n: "1" * n + "x",
    "many parts": lambda n: "1s" * (n // 2),
    "a long fraction": lambda n: "1." + "5" * n + "s",
    "a long unit": lambda n: "1" + "q" * n,
}


@pytest.mark.parametrize("shape", list(DURATIONS))
def test_duration_parsing_is_linear(shape: str) -> None:
    make = DURATIONS[shape]
    assert_linear(lambda n: lambda: keepalive.seconds(make(n)), 100_000)


def test_sse_decoding_of_one_long_line_in_small_reads_is_linear() -> None:
    def make(n: int) -> Callable[[], Any]:
        pieces = [b"data: " + b"x" * 64] + [b"x" * 64] * (n // 64) + [b"\n\n"]

        def run() -> None:
            decoder = SSEDecoder()
            for piece in pieces:
                decoder.feed(piece)

        return run

    assert_linear(make, 2_000_000)


def test_tool_call_assembly_from_many_pieces_is_linear() -> None:
    def make(n: int) -> Callable[[], Any]:
        first = {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"name": "f"}}]}}]}
        piece = {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "a" * 8}}]}}]}
        events = [orjson.dumps(first).decode()] + [orjson.dumps(piece).decode()] * (n // 8)

        def run() -> None:
            translator = StreamTranslator("chat", "m", Clock(start=0, wall=lambda: "t"))
            for event in events:
                translator.feed(event, 1)
            translator.finish(2)

        return run

    assert_linear(make, 200_000)


def test_redaction_and_name_cleaning_are_linear() -> None:
    def make(n: int) -> Callable[[], Any]:
        text = ("Bearer" + " " * 50 + "\x00") * (n // 57) + "sk-" + "a" * n
        return lambda: (redact(text), names.display_name("a/" * (n // 2) + ":" + "b" * n))

    assert_linear(make, 100_000)
