"""keep_alive: seconds as numbers or Go duration strings."""

from __future__ import annotations

import pytest

from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.keepalive import is_unload, seconds


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (None, None),
        (300, 300.0),
        (0, 0.0),
        (-1, -1.0),
        (1.5, 1.5),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("300ms", 0.3),
        ("0", 0.0),
        ("0s", 0.0),
        ("-0", 0.0),
        ("-1m", -60.0),
        ("+5m", 300.0),
        ("5m0s", 300.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("1.s", 1.0),
        ("2h45m30.5s", 9930.5),
        ("1000000us", 1.0),
        ("1000µs", 0.001),
        ("1000μs", 0.001),
        ("500000000ns", 0.5),
        (" 10s ", 10.0),
        ("24h", 86400.0),
    ],
)
def test_seconds(value: float | str | None, want: float | None) -> None:
    got = seconds(value)
    if want is None:
        assert got is None
    else:
        assert got == pytest.approx(want)
        assert isinstance(got, float)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("300", 'time: missing unit in duration "300"'),
        ("-300", 'time: missing unit in duration "-300"'),
        ("1.5", 'time: missing unit in duration "1.5"'),
        ("0.0", 'time: missing unit in duration "0.0"'),
        ("5 m", 'time: invalid duration "5 m"'),
        ("abc", 'time: invalid duration "abc"'),
        ("", 'time: invalid duration ""'),
        ("-", 'time: invalid duration "-"'),
        ("5d", 'time: invalid duration "5d"'),
        ("m5", 'time: invalid duration "m5"'),
        ("5m3", 'time: invalid duration "5m3"'),
        ("--5m", 'time: invalid duration "--5m"'),
        ("+-5m", 'time: invalid duration "+-5m"'),
        ("5M", 'time: invalid duration "5M"'),
        (".s", 'time: invalid duration ".s"'),
    ],
)
def test_invalid_durations_are_400(value: str, message: str) -> None:
    with pytest.raises(ProxyError) as info:
        seconds(value)
    assert info.value.status == 400
    assert info.value.message == message


@pytest.mark.parametrize(
    ("value", "unload"),
    [
        (0, True),
        (0.0, True),
        ("0", True),
        ("0s", True),
        ("0m0s", True),
        ("1s", False),
        (-1, False),
        (None, False),
        (300, False),
    ],
)
def test_is_unload(value: float | str | None, unload: bool) -> None:
    assert is_unload(value) is unload
