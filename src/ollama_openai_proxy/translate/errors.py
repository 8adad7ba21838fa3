"""ProxyError, the one error type the core raises, and the mapping of backend failures onto it."""

from __future__ import annotations

import re
from typing import Any

import orjson

from ollama_openai_proxy.protocol.openai import ErrorEnvelope


class ProxyError(Exception):
    """An error to show the client as Ollama's ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail: str | None = None  # internals for the log, never shown to the client


INTERNAL_ERROR = "internal proxy error; the proxy's log has the details (request id {request_id})"


class BackendRefusalError(ProxyError):
    """A backend's own 4xx answer to a request (not a failure of the backend): its body is kept so
    the caller can learn which optional field the backend refuses."""

    def __init__(self, status: int, message: str, body: bytes) -> None:
        super().__init__(status, message)
        self.body = body


class OpenAIError(ProxyError):
    """A ProxyError answered in OpenAI's error envelope instead of Ollama's."""


def openai_error_body(status: int, message: str) -> ErrorEnvelope:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def model_not_found(name: str) -> ProxyError:
    return ProxyError(404, f"model '{name}' not found")


def embed_model_not_found(name: str) -> ProxyError:
    return ProxyError(404, f'model "{name}" not found, try pulling it first')


_KEY_PATTERN = re.compile(r"(sk-[A-Za-z0-9_\-]{6})[A-Za-z0-9_\-]+|((?i:bearer)\s+)[A-Za-z0-9._\-]+")


def redact(text: str) -> str:
    """Hide API keys that a backend echoes back in an error message."""
    return _KEY_PATTERN.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


def backend_message(body: bytes) -> str:
    """The human message inside a backend error body (OpenAI envelope, plain ``error`` or text)."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return redact(text[:2000]) or "no error message"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("msg") or orjson.dumps(err).decode()
        elif isinstance(err, list):  # FastAPI/vLLM validation details
            err = "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in err)
        if err:
            return redact(str(err))
    return redact(text[:2000]) or "no error message"


_NOT_FOUND_HINTS = ("model_not_found", "does not exist", "not found", "no such model", "unknown model")


def from_backend(status: int, body: bytes, model: str) -> ProxyError:
    """Map a backend HTTP error onto what an Ollama client expects.

    4xx statuses pass through with the backend's message, except credentials problems (401/403),
    which are the proxy's configuration and not the client's: those become 502 so clients do not
    ask their user to sign in. 5xx becomes 502 (bad gateway), keeping the backend's message.
    """
    message = backend_message(body)
    lowered = message.lower()
    if status in (400, 404, 422) and "model" in lowered and any(h in lowered for h in _NOT_FOUND_HINTS):
        return ProxyError(404, f"model '{model}' not found (backend: {message})")
    if status == 404:  # not about the model: the backend lacks the endpoint (e.g. embeddings disabled)
        return ProxyError(502, f"backend does not serve this endpoint (404): {message}")
    if status in (401, 403):
        return ProxyError(502, f"backend rejected the proxy's credentials ({status}): {message}")
    if 400 <= status < 500:
        return ProxyError(status, message)
    if status == 503:
        return ProxyError(503, f"backend unavailable: {message}")
    if status == 504:
        return ProxyError(504, f"backend timed out: {message}")
    return ProxyError(502, f"backend error ({status}): {message}")
