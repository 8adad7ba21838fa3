"""Ollama metadata formats: RFC 3339 dates, parameter sizes as Ollama writes them ("1.7B")."""

from __future__ import annotations

from datetime import UTC, datetime

FOREVER = "9999-12-31T23:59:59Z"


def rfc3339(unix: float) -> str:
    """A Unix time as RFC 3339; times no date can hold (a backend's odd ``created``) are clamped."""
    try:
        return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):
        return FOREVER if unix > 0 else "1970-01-01T00:00:00Z"


def parameter_size(count: int | None) -> str:
    if not count:
        return ""
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if count >= div:
            return f"{count / div:.1f}{unit}".replace(".0", "")
    return str(count)
