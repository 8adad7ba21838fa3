"""The model catalog: what each backend serves, under which Ollama name, with which capabilities.

Listings are cached for ``models_ttl`` seconds and refreshed in the background once stale, so a
slow backend never stalls a request that only needs a name resolved.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ollama_openai_proxy.backends.client import BackendClient
from ollama_openai_proxy.translate import names
from ollama_openai_proxy.translate.errors import ProxyError, model_not_found
from ollama_openai_proxy.translate.profiles import (
    GENERIC,
    PROFILES,
    Profile,
    profile_for_owner,
    profile_for_url,
)

log = logging.getLogger(__name__)

_EMBED_HINTS = ("embed", "bge-", "e5-", "gte-", "minilm")


@dataclass
class ModelInfo:
    """One model as the proxy exposes it."""

    name: str  # Ollama name with tag, e.g. "smollm2:latest"
    backend_id: str  # the id the backend knows it by
    backend: BackendState
    created: int = 0
    owned_by: str = ""
    context_length: int | None = None
    capabilities: list[str] = field(default_factory=list)
    parameter_count: int | None = None
    size: int = 0
    embedding_length: int | None = None

    @property
    def profile(self) -> Profile:
        return self.backend.profile

    @property
    def digest(self) -> str:
        """Stable across restarts and replicas: derived from the backend and its model id."""
        return hashlib.sha256(f"{self.backend.client.base_url}\n{self.backend_id}".encode()).hexdigest()

    @property
    def family(self) -> str:
        base = self.backend_id.rsplit("/", 1)[-1].split(":")[0].lower()
        for sep in ("-", "_", "."):
            base = base.split(sep)[0]
        return base.rstrip("0123456789") or base or "unknown"


@dataclass
class BackendState:
    client: BackendClient
    profile: Profile
    models: list[ModelInfo] = field(default_factory=list)
    fetched_at: float = 0.0
    listing_supported: bool = True
    last_error: str | None = None
    _refreshing: asyncio.Task[None] | None = None


def _capabilities(entry: dict[str, Any], model_id: str) -> list[str]:
    lowered = model_id.lower()
    arch = _dict(entry.get("architecture"))
    outputs = arch.get("output_modalities") or []
    if any(h in lowered for h in _EMBED_HINTS) or outputs == ["embeddings"]:
        return ["embedding"]
    caps = ["completion"]
    params = entry.get("supported_parameters")
    if not isinstance(params, list) or "tools" in params:
        caps.append("tools")
    if "image" in (arch.get("input_modalities") or []):
        caps.append("vision")
    if isinstance(params, list) and ("reasoning" in params or "include_reasoning" in params):
        caps.append("thinking")
    return caps


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def model_from_entry(entry: dict[str, Any], backend: BackendState) -> ModelInfo | None:
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    meta = _dict(entry.get("meta"))
    top = _dict(entry.get("top_provider"))
    context = (
        _int(entry.get("context_length"))
        or _int(entry.get("max_model_len"))
        or _int(top.get("context_length"))
        or _int(meta.get("n_ctx"))
        or _int(meta.get("n_ctx_train"))
    )
    return ModelInfo(
        name=names.display_name(model_id),
        backend_id=model_id,
        backend=backend,
        created=_int(entry.get("created")) or 0,
        owned_by=str(entry.get("owned_by") or ""),
        context_length=context,
        capabilities=_capabilities(entry, model_id),
        parameter_count=_int(meta.get("n_params")),
        size=_int(meta.get("size")) or 0,
        embedding_length=_int(meta.get("n_embd")),
    )


class Catalog:
    """Resolves Ollama model names to backend models and lists everything the proxy exposes."""

    def __init__(self, clients: list[BackendClient], ttl: float) -> None:
        self.ttl = ttl
        self.backends = [
            BackendState(
                client=c, profile=PROFILES.get(c.config.profile) or profile_for_url(c.base_url) or GENERIC
            )
            for c in clients
        ]
        self._lock = asyncio.Lock()

    async def _fetch(self, state: BackendState) -> None:
        try:
            data = await state.client.request_json("GET", "models")
        except ProxyError as exc:
            state.last_error = exc.message
            if exc.status in (404, 405):
                state.listing_supported = False  # the backend serves whatever it is asked for
                state.fetched_at = time.monotonic()
            log.warning("listing models of backend %s failed: %s", state.client.name, exc.message)
            return
        entries = data.get("data") if isinstance(data, dict) else data
        models = [m for m in (model_from_entry(e, state) for e in entries or [] if isinstance(e, dict)) if m]
        if state.client.config.profile == "auto" and not profile_for_url(state.client.base_url):
            owners = {m.owned_by for m in models}
            detected = next((p for p in map(profile_for_owner, owners) if p), None)
            state.profile = detected or GENERIC
        state.models = models
        state.fetched_at = time.monotonic()
        state.listing_supported = True
        state.last_error = None

    async def refresh(self) -> None:
        """Fetch every backend's listing now."""
        async with self._lock:
            await asyncio.gather(*(self._fetch(s) for s in self.backends))

    def _stale(self, state: BackendState) -> bool:
        return not state.fetched_at or time.monotonic() - state.fetched_at > self.ttl

    async def ensure_fresh(self) -> None:
        """Wait for listings never fetched; refresh stale ones in the background."""
        if any(not s.fetched_at for s in self.backends):
            await self.refresh()
            return
        for state in self.backends:
            if self._stale(state) and (state._refreshing is None or state._refreshing.done()):
                state._refreshing = asyncio.create_task(self._fetch(state))

    async def models(self) -> list[ModelInfo]:
        await self.ensure_fresh()
        seen: dict[str, ModelInfo] = {}
        for state in self.backends:
            for model in state.models:
                seen.setdefault(names.canonical(model.name), model)
        return list(seen.values())

    def _find(self, name: str) -> ModelInfo | None:
        key = names.canonical(name)
        for state in self.backends:
            for model in state.models:
                if key in (names.canonical(model.name), names.canonical(model.backend_id)):
                    return model
        return None

    async def resolve(self, name: str, *, not_found: ProxyError | None = None) -> ModelInfo:
        """The model an Ollama name refers to; a 404 in Ollama's words when no backend serves it."""
        if not name:
            raise not_found or model_not_found(name)
        await self.ensure_fresh()
        model = self._find(name)
        if model is None and any(time.monotonic() - s.fetched_at > 1.0 for s in self.backends):
            await self.refresh()  # a model added since the last listing
            model = self._find(name)
        if model is not None:
            return model
        for state in self.backends:
            if not state.listing_supported:
                backend_id = name[: -len(":latest")] if name.endswith(":latest") else name
                return ModelInfo(
                    name=names.display_name(backend_id),
                    backend_id=backend_id,
                    backend=state,
                    capabilities=["completion", "tools"],
                )
        raise not_found or model_not_found(name)
