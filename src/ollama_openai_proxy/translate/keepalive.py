"""``keep_alive`` values as Ollama reads them (api.Duration): numbers are seconds, strings are Go
durations (``"5m"``, ``"1h30m"``); negative means forever, and so does a number too large for a
Go Duration (Ollama clamps it); a string too large for one is an error, as in Go."""

from __future__ import annotations

import math
from typing import Any

from ollama_openai_proxy.translate.errors import ProxyError

NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9}
NS["h"] = 3600 * 10**9
MAX_NS = 2**63 - 1  # Go's time.Duration is an int64 of nanoseconds
FOREVER = -1.0
_DIGITS = "0123456789"


def seconds(value: Any) -> float | None:
    """The duration in seconds (negative: keep forever), or None when absent. Anything that cannot
    be a duration is a 400 in Go's words."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        kind = "bool" if isinstance(value, bool) else type(value).__name__
        raise ProxyError(
            400, f"invalid keep_alive: unsupported type {kind} (a number of seconds or a duration)"
        )
    if isinstance(value, str):
        return _parse_duration(value)
    number = float(value)
    if math.isnan(number):
        raise ProxyError(400, "invalid keep_alive: NaN is not a duration")
    if number < 0 or number * 1e9 >= MAX_NS:
        return FOREVER if number != 0 else 0.0
    return number


def _invalid(value: str, detail: str = "invalid duration") -> ProxyError:
    return ProxyError(400, f'time: {detail} "{value}"')


def _parse_duration(value: str) -> float:
    """Go's time.ParseDuration, in one pass: ``[-+]?([0-9]*(\\.[0-9]*)?unit)+``."""
    text = value.strip()
    negative = text[:1] == "-"
    body = text[1:] if text[:1] in ("+", "-") else text  # one sign at most, as in Go
    if body == "0":
        return 0.0
    if not body:
        raise _invalid(value)
    if all(c in _DIGITS or c == "." for c in body):
        raise _invalid(value, "missing unit in duration")
    total_ns = 0
    i, n = 0, len(body)
    while i < n:
        start = i
        while i < n and body[i] in _DIGITS:
            i += 1
        whole = body[start:i]
        fraction = ""
        if i < n and body[i] == ".":
            i += 1
            frac_start = i
            while i < n and body[i] in _DIGITS:
                i += 1
            fraction = body[frac_start:i]
        if not whole and not fraction:
            raise _invalid(value)
        unit_start = i
        while i < n and body[i] not in _DIGITS and body[i] != ".":
            i += 1
        unit = NS.get(body[unit_start:i])
        if unit is None or len(whole.lstrip("0")) > 19:  # no or an unknown unit, or beyond any int64
            raise _invalid(value)
        total_ns += int(whole or "0") * unit
        if fraction:
            digits = fraction[:20]  # Go stops adding precision once the fraction overflows
            total_ns += int(digits) * unit // 10 ** len(digits)
        if total_ns > MAX_NS + 1:
            raise _invalid(value)
    if total_ns > MAX_NS and not negative:
        raise _invalid(value)
    return -total_ns / 1e9 if negative else total_ns / 1e9


def is_unload(value: Any) -> bool:
    return seconds(value) == 0.0
