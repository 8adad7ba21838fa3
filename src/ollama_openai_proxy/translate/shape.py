"""Backend answers that parse as JSON but have the wrong shape: recognised before translation (or
while translating) and reported as a clear 502, never an opaque 500 or silently dropped text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from ollama_openai_proxy.protocol.openai import ChatCompletion
from ollama_openai_proxy.translate.errors import ProxyError

# What translating a wrongly shaped answer raises (a str where a dict was, a missing key, ...).
SHAPE_ERRORS = (KeyError, TypeError, AttributeError, IndexError, ValueError)


def malformed(what: str, detail: str) -> ProxyError:
    return ProxyError(502, f"backend returned a malformed {what}: {detail[:200]}")


@contextmanager
def backend_shape(what: str) -> Iterator[None]:
    """Turn a shape error raised while translating a backend answer into a clear 502."""
    try:
        yield
    except ProxyError:
        raise
    except SHAPE_ERRORS as exc:
        # The translator's own exception stays out of the message (the serving layer logs it).
        error = malformed(what, _shape_fault(exc))
        error.detail = repr(exc)
        raise error from None


def _shape_fault(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"field {exc} is missing"
    if isinstance(exc, IndexError):
        return "a list is shorter than expected"
    return "a field has the wrong type"


def check_completion(data: object) -> ChatCompletion:
    """``data`` if it is shaped like a (chat) completion; else the 502 saying what is wrong."""
    if not isinstance(data, dict):
        raise malformed("completion", f"expected a JSON object, got {type(data).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise malformed("completion", "'choices' is not a list of objects")
    for choice in choices:
        message = choice.get("message")
        if message is None:
            if not isinstance(choice.get("text", ""), str | None):
                raise malformed("completion", "'text' is not a string")
            continue
        if not isinstance(message, dict):
            raise malformed("completion", "'message' is not an object")
        if not isinstance(message.get("content"), str | list | None):
            raise malformed("completion", "'message.content' is not a string")
        calls = message.get("tool_calls")
        if calls is not None and (
            not isinstance(calls, list)
            or not all(isinstance(c, dict) and isinstance(c.get("function"), dict) for c in calls)
        ):
            raise malformed("completion", "'message.tool_calls' is not a list of function calls")
    if not isinstance(data.get("usage"), dict | None):
        raise malformed("completion", "'usage' is not an object")
    return cast(ChatCompletion, data)
