"""Liveness and identity: ``/``, ``/api/version`` and ``/health``."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ollama_openai_proxy import OLLAMA_COMPAT_VERSION, __version__
from ollama_openai_proxy.routes.common import json_response
from ollama_openai_proxy.state import get_state

router = APIRouter()


@router.api_route("/", methods=["GET", "HEAD"])
async def root() -> Response:
    return PlainTextResponse("Ollama is running")


@router.api_route("/api/version", methods=["GET", "HEAD"])
async def version(request: Request) -> Response:
    reported = get_state(request).settings.reported_version or OLLAMA_COMPAT_VERSION
    return json_response({"version": reported})


@router.api_route("/health", methods=["GET", "HEAD"])
async def health() -> Response:
    """Liveness: answers without touching any backend."""
    return json_response({"status": "ok", "version": __version__})
