"""Which backend model serves a request: the caller's key checked, the catalog's candidates tried in
order, the client's key passed on in forward-client-key mode."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ollama_openai_proxy.backends.catalog import ModelInfo, Resolution
from ollama_openai_proxy.backends.client import RetryableBackendError
from ollama_openai_proxy.observability import RequestContext
from ollama_openai_proxy.state import ProxyState
from ollama_openai_proxy.translate.errors import ProxyError

log = logging.getLogger("ollama_openai_proxy")

T = TypeVar("T")


async def resolve(
    state: ProxyState, ctx: RequestContext, name: str, *, not_found: ProxyError | None = None
) -> Resolution:
    """The backends for a model name, once the caller's API key is known to be allowed it."""
    if name and not ctx.allows(name):
        raise ProxyError(403, f"this API key may not use model '{name}'")
    resolved = await state.catalog.resolve(name, not_found=not_found)
    if ctx.allowed_models is not None:
        for reached in reached_names(state, resolved):
            if not ctx.allows(reached):
                raise ProxyError(
                    403, f"this API key may not use model '{reached}' (reached through '{name}')"
                )
    ctx.model = resolved.name
    return resolved


def reached_names(state: ProxyState, resolved: Resolution) -> list[str]:
    """The names a request for ``resolved`` really uses: its own, and the base of every virtual
    model on the way down that was made through the API (a model declared in the configuration
    file vouches, as the operator's choice, for what it derives from)."""
    reached = [resolved.name]
    virtual = state.catalog.virtual
    for link in resolved.chain:
        if virtual is not None and virtual.is_read_only(link.name):
            break
        reached.append(link.base)
    return reached


def backend_headers(ctx: RequestContext) -> dict[str, str] | None:
    """In forward_client_key mode, the client's own key goes to the backend."""
    return {"Authorization": f"Bearer {ctx.client_key}"} if ctx.client_key else None


async def with_fallback(
    ctx: RequestContext, resolved: Resolution, call: Callable[[ModelInfo], Awaitable[T]]
) -> T:
    """Try the resolved's candidates in order; a backend failure before any byte was sent moves on.

    A client's forwarded key is for the backend its model resolves to: in forward-client-key mode
    the fallbacks on other backends are skipped, so the key never reaches a backend it is not for.
    """
    candidates = resolved.candidates
    if ctx.client_key:
        primary = candidates[0].backend
        candidates = [c for c in candidates if c.backend is primary]
    for info in candidates[:-1]:
        ctx.backend = info.backend.client.name
        try:
            return await call(info)
        except RetryableBackendError as exc:
            log.warning("backend %s failed for %s, falling back: %s", ctx.backend, resolved.name, exc.message)
    ctx.backend = candidates[-1].backend.client.name
    return await call(candidates[-1])
