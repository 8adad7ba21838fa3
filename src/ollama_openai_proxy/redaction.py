"""The secrets this proxy holds, hidden by value wherever it writes text: its configured backend
keys and header values, credentials in backend URLs, its inbound keys, and the key a client
forwarded on the current request; on top of the pattern-based redaction of ``sk-…``/bearer text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextvars import ContextVar
from urllib.parse import unquote, urlsplit

from ollama_openai_proxy.translate.errors import redact as redact_patterns

MASK = "***"
# Shorter values are not searched for: masking every "abc" in every message would garble text,
# and a secret that short is no secret.
MIN_LENGTH = 6

_held: set[str] = set()
_text_pattern: re.Pattern[str] | None = None
_bytes_pattern: re.Pattern[bytes] | None = None
_forwarded: ContextVar[str | None] = ContextVar("forwarded_key", default=None)


def hold(values: Iterable[str | None]) -> None:
    """Add secrets to hide from now on (process-wide)."""
    global _text_pattern, _bytes_pattern
    added = {v for v in values if v and len(v) >= MIN_LENGTH} - _held
    if not added:
        return
    _held.update(added)
    ordered = sorted(_held, key=len, reverse=True)  # the longest first: no secret left half-shown
    _text_pattern = re.compile("|".join(map(re.escape, ordered)))
    _bytes_pattern = re.compile(b"|".join(re.escape(v.encode()) for v in ordered))


def url_secrets(url: str) -> list[str]:
    """The credentials written in a URL (``http://user:pass@host``): the userinfo and the password,
    as written and percent-decoded."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return []
    userinfo = parts.netloc.rsplit("@", 1)[0]
    password = parts.password or ""
    return [userinfo, unquote(userinfo), password, unquote(password)]


def hold_forwarded(key: str) -> None:
    """The client's own key, forwarded to the backend on this request (and the tasks it starts)."""
    _forwarded.set(key if len(key) >= MIN_LENGTH else None)


def redact(text: str) -> str:
    """``text`` with every held secret, the request's forwarded key and key-shaped text masked."""
    if _text_pattern is not None:
        text = _text_pattern.sub(MASK, text)
    forwarded = _forwarded.get()
    if forwarded is not None:
        text = text.replace(forwarded, MASK)
    return redact_patterns(text)


def redact_bytes(data: bytes) -> bytes:
    """``redact`` for rendered log lines: only the held and forwarded values (cheap when none)."""
    if _bytes_pattern is not None:
        data = _bytes_pattern.sub(MASK.encode(), data)
    forwarded = _forwarded.get()
    if forwarded is not None:
        data = data.replace(forwarded.encode(), MASK.encode())
    return data
