"""Who may call: Ollama's DNS-rebinding guard, inbound API keys (``Authorization: Bearer`` or
``x-api-key``) with their model globs and scopes, and the client's own key kept for the backend in
forward-client-key mode."""

from __future__ import annotations

import functools
import ipaddress
import socket

from starlette.types import ASGIApp, Receive, Scope, Send

from ollama_openai_proxy import redaction
from ollama_openai_proxy.config import InboundKey
from ollama_openai_proxy.middleware.errors import error_response
from ollama_openai_proxy.observability import context_of
from ollama_openai_proxy.translate.errors import ProxyError

# Liveness probes answer without a key: orchestrators and the Ollama CLI's heartbeat (HEAD /) call them.
PUBLIC_PATHS = frozenset({"/", "/health"})
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")
# Inbound keys: bearer key → what it may do.
KeyTable = dict[str, InboundKey]
# Routes that change what every key's requests do (virtual models are shared): the write scope.
WRITE_ROUTES = frozenset(
    {("POST", "/api/create"), ("POST", "/api/copy"), ("DELETE", "/api/delete"), ("POST", "/api/push")}
)


class HostRefusedError(ProxyError):
    """The DNS-rebinding guard's 403, with an empty body as Ollama answers it."""


def is_write(method: str, path: str) -> bool:
    return (method, path) in WRITE_ROUTES or (method == "POST" and path.startswith("/api/blobs/"))


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=1024)
def host_allowed(host: str) -> bool:
    """Ollama's DNS-rebinding guard: only local, private or own names may reach a loopback server."""
    name = host.lower()
    if name.startswith("["):
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name in ("", "localhost") or name.endswith(_LOCAL_SUFFIXES) or name == socket.gethostname().lower():
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_unspecified or ip.is_link_local


class AuthMiddleware:
    """Refuses a foreign Host (403) and a missing or unknown key (401) before anything else runs."""

    def __init__(self, app: ASGIApp, keys: KeyTable, forward_key: bool, guard_host: bool) -> None:
        self.app = app
        self.keys = keys
        self.forward_key = forward_key
        self.guard_host = guard_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = auth = api_key = ""
        for key, value in scope["headers"]:
            if key == b"host":
                host = value.decode("latin-1")
            elif key == b"authorization":
                auth = value.decode("latin-1")
            elif key == b"x-api-key":  # the Anthropic SDKs' spelling of the key
                api_key = value.decode("latin-1").strip()
        refusal = self._refusal(scope, host, auth, api_key)
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await error_response(refusal, scope, body=not isinstance(refusal, HostRefusedError))(
                scope, receive, send
            )

    def _refusal(self, scope: Scope, host: str, auth: str, api_key: str) -> ProxyError | None:
        ctx = context_of(scope)
        if self.guard_host and not host_allowed(host):
            ctx.error = f"host {host!r} refused (DNS rebinding guard)"
            return HostRefusedError(403, ctx.error)
        if scope["path"] in PUBLIC_PATHS:
            return None
        bearer = (auth[7:].strip() if auth[:7].lower() == "bearer " else "") or api_key
        if self.forward_key:
            if not bearer:
                return ProxyError(
                    401, "unauthorized: send your backend API key as Authorization: Bearer <key>"
                )
            ctx.client_key = bearer
            redaction.hold_forwarded(bearer)
        elif self.keys:
            entry = self.keys.get(bearer)
            if entry is None:
                ctx.error = "missing or unknown API key"
                return ProxyError(
                    401, "unauthorized: missing or invalid API key (Authorization: Bearer <key> or x-api-key)"
                )
            ctx.key_name = entry.name
            ctx.allowed_models = None if entry.models == ["*"] else entry.models
            if not entry.write and is_write(scope["method"], scope["path"]):
                ctx.error = f"key {entry.name} has no write scope"
                return ProxyError(403, "this API key may not change models: it has no write scope")
        return None
