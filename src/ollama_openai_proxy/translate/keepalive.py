"""``keep_alive`` values: seconds as a number, or a Go duration string such as ``"5m"``."""

from __future__ import annotations

import re

from ollama_openai_proxy.translate.errors import ProxyError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def seconds(value: float | str | None) -> float | None:
    """The duration in seconds (negative: keep forever), or None when absent. Bad text is a 400."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in ("+", "-") else text  # one sign at most, as in Go
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _PART.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        detail = "missing unit in duration" if body.replace(".", "").isdigit() else "invalid duration"
        raise ProxyError(400, f'time: {detail} "{value}"')
    return sign * total


def is_unload(value: float | str | None) -> bool:
    return seconds(value) == 0.0
