"""Errors in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}, "request_id"}``."""

from __future__ import annotations

from ollama_openai_proxy.protocol.anthropic import ErrorOut

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error")


def anthropic_error(status: int, message: str, request_id: str = "") -> ErrorOut:
    out: ErrorOut = {"type": "error", "error": {"type": error_type(status), "message": message}}
    if request_id:
        out["request_id"] = request_id
    return out
