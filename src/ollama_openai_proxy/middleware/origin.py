"""Cross-site request forgery guard: a request whose ``Origin`` is not allowed is refused with 403
before anything runs, for every method and route, as Ollama (gin-contrib/cors) refuses it."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ollama_openai_proxy.middleware.errors import error_response
from ollama_openai_proxy.observability import context_of
from ollama_openai_proxy.translate.errors import ProxyError

# Ollama's built-in allowed origins (envconfig.AllowedOrigins); OLLAMA_ORIGINS adds to them.
DEFAULT_ORIGINS = (
    [
        f"{scheme}://{host}{port}"
        for host in ("localhost", "127.0.0.1", "0.0.0.0", "[::1]")
        for scheme in ("http", "https")
        for port in ("", ":*")
    ]
    + ["app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"]
    # gin-contrib/cors's AllowBrowserExtensions, which Ollama turns on.
    + ["chrome-extension://*", "safari-extension://*", "moz-extension://*", "ms-browser-extension://*"]
)


def allowed_origins(extra: str) -> list[str]:
    """Ollama's defaults plus ``OLLAMA_ORIGINS`` (comma-separated; ``*`` alone allows every origin)."""
    return [*(o.strip() for o in extra.split(",") if o.strip()), *DEFAULT_ORIGINS]


class OriginPolicy:
    """Exact origins, and patterns with one ``*`` matched by prefix and suffix (gin's wildcard rule)."""

    def __init__(self, origins: list[str]) -> None:
        lowered = [o.lower() for o in origins]
        self.allow_all = "*" in lowered
        self.exact = frozenset(o for o in lowered if "*" not in o)
        self.wildcards = [tuple(o.split("*", 1)) for o in lowered if "*" in o and o != "*"]

    def allows(self, origin: str) -> bool:
        if self.allow_all:
            return True
        value = origin.lower()
        if value in self.exact:
            return True
        return any(
            len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)
            for head, tail in self.wildcards
        )


class OriginMiddleware:
    """Refuses (403, nothing else runs) a request from a web page whose origin is not allowed.

    Requests without ``Origin`` (the CLI, SDKs, curl) and same-host requests (``Origin`` equal to
    ``http(s)://`` + ``Host``, which browsers send for same-origin fetches) are not cross-site.
    """

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = host = ""
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value.decode("latin-1")
            elif key == b"host":
                host = value.decode("latin-1")
        if not origin or origin in (f"http://{host}", f"https://{host}") or self.policy.allows(origin):
            await self.app(scope, receive, send)
            return
        ctx = context_of(scope)
        ctx.error = f"origin {origin[:200]!r} refused (cross-site request; allow it with OLLAMA_ORIGINS)"
        refusal = ProxyError(403, f"origin not allowed: {origin[:200]} (add it to OLLAMA_ORIGINS)")
        await error_response(refusal, scope)(scope, receive, send)
