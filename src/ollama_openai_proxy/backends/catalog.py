"""The model catalog: what each backend serves, under which Ollama name, with which capabilities.

Listings are cached for ``models_ttl`` seconds and refreshed in the background once stale, so a
slow backend never stalls a request that only needs a name resolved.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ollama_openai_proxy.backends.client import BackendClient
from ollama_openai_proxy.config import FileConfig
from ollama_openai_proxy.translate import names
from ollama_openai_proxy.translate.errors import ProxyError, model_not_found
from ollama_openai_proxy.translate.profiles import (
    GENERIC,
    PROFILES,
    Profile,
    profile_for_owner,
    profile_for_url,
)
from ollama_openai_proxy.virtual.apply import flatten, resolve_chain
from ollama_openai_proxy.virtual.registry import VirtualModels
from ollama_openai_proxy.virtual.spec import VirtualModel

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
    # True when the capabilities come from the backend's own metadata or the configuration, so
    # requests needing one the model lacks are refused up front, as Ollama does.
    capabilities_known: bool = False
    virtual: VirtualModel | None = (
        None  # set when this is a virtual model (flattened chain) over a backend model
    )

    @property
    def profile(self) -> Profile:
        return self.backend.profile

    @property
    def digest(self) -> str:
        """Stable across restarts and replicas: derived from the backend and its model id."""
        if self.virtual is not None:
            return self.virtual.digest
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
    props: dict[str, Any] = field(default_factory=dict)
    _refreshing: asyncio.Task[None] | None = None
    # canonical exposed name and canonical backend id → model: a dict lookup per request
    index: dict[str, ModelInfo] = field(default_factory=dict)

    def set_models(self, models: list[ModelInfo]) -> None:
        self.models = models
        index: dict[str, ModelInfo] = {}
        for model in models:
            index.setdefault(names.canonical(model.backend_id), model)
            index.setdefault(names.canonical(model.name), model)
        self.index = index

    @property
    def patterns(self) -> list[str]:
        return self.client.config.models

    def serves(self, model_id: str) -> bool:
        return any(fnmatch.fnmatchcase(model_id.lower(), p.lower()) for p in self.patterns)

    @property
    def declared(self) -> list[str]:
        """Model ids named without wildcards: served even when the backend does not list them."""
        return [p for p in self.patterns if not any(c in p for c in "*?[")]


@dataclass
class Route:
    """Where a request for one exposed model goes: the first candidate, then the fallbacks in order."""

    name: str
    candidates: list[ModelInfo]
    chain: list[VirtualModel] = field(default_factory=list)  # virtual models, outermost first

    @property
    def primary(self) -> ModelInfo:
        return self.candidates[0]


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


# Servers that stamp ``created`` with the time of the listing itself: a date that would change on
# every refresh, so it is not shown (Ollama clients then see the Unix epoch, a stable "unknown").
_UNSTABLE_CREATED = frozenset({"llamacpp", "vllm"})


def _stable_created(entry: dict[str, Any]) -> int:
    if str(entry.get("owned_by") or "").lower() in _UNSTABLE_CREATED:
        return 0
    return _int(entry.get("created")) or 0


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
        created=_stable_created(entry),
        owned_by=str(entry.get("owned_by") or ""),
        context_length=context,
        capabilities=_capabilities(entry, model_id),
        capabilities_known=isinstance(entry.get("supported_parameters"), list),
        parameter_count=_int(meta.get("n_params")),
        size=_int(meta.get("size")) or 0,
        embedding_length=_int(meta.get("n_embd")),
    )


def _llamacpp_props(model: ModelInfo, props: dict[str, Any]) -> None:
    """llama.cpp's /props tells the real context size, vision support and template tool support."""
    settings = _dict(props.get("default_generation_settings"))
    model.context_length = _int(settings.get("n_ctx")) or model.context_length
    if "embedding" in model.capabilities:
        return
    caps = ["completion"]
    template_caps = _dict(props.get("chat_template_caps"))
    if template_caps.get("supports_tools", True):
        caps.append("tools")
    if _dict(props.get("modalities")).get("vision"):
        caps.append("vision")
    template = str(props.get("chat_template") or "")
    if (
        template_caps.get("supports_reasoning_effort")
        or "enable_thinking" in template
        or "<think>" in template
    ):
        caps.append("thinking")
    model.capabilities = caps
    model.capabilities_known = True


class Catalog:
    """Resolves Ollama model names to backend models and lists everything the proxy exposes."""

    def __init__(
        self,
        clients: list[BackendClient],
        ttl: float,
        config: FileConfig | None = None,
        virtual: VirtualModels | None = None,
    ) -> None:
        self.ttl = ttl
        self.virtual = virtual
        self.config = config or FileConfig(backends=[c.config for c in clients])
        self.backends = [
            BackendState(
                client=c, profile=PROFILES.get(c.config.profile) or profile_for_url(c.base_url) or GENERIC
            )
            for c in clients
        ]
        self._by_name = {s.client.name: s for s in self.backends}
        self._lock = asyncio.Lock()

    async def _fetch(self, state: BackendState) -> None:
        try:
            data = await state.client.request_json("GET", "models")
        except ProxyError as exc:
            state.last_error = exc.message
            state.fetched_at = time.monotonic()
            if exc.status in (404, 405):
                state.listing_supported = False  # the backend serves whatever it is asked for
                state.set_models([self._declared(state, m) for m in state.declared])
            else:
                state.set_models([])  # down: its models drop out until it recovers
            log.warning("listing models of backend %s failed: %s", state.client.name, exc.message)
            return
        entries = data.get("data") if isinstance(data, dict) else data
        listed = [m for m in (model_from_entry(e, state) for e in entries or [] if isinstance(e, dict)) if m]
        if state.client.config.profile == "auto" and not profile_for_url(state.client.base_url):
            owners = {m.owned_by for m in listed}
            state.profile = next((p for p in map(profile_for_owner, owners) if p), None) or GENERIC
        models = [m for m in listed if state.serves(m.backend_id)]
        known = {names.canonical(m.backend_id) for m in models}
        models += [self._declared(state, d) for d in state.declared if names.canonical(d) not in known]
        if state.profile.name == "llamacpp":
            await self._probe_llamacpp(state, models)
        for model in models:
            self._override(model)
        state.set_models(models)
        state.fetched_at = time.monotonic()
        state.listing_supported = True
        state.last_error = None

    async def _probe_llamacpp(self, state: BackendState, models: list[ModelInfo]) -> None:
        try:
            props = await state.client.request_json("GET", f"{state.client.root_url}/props")
        except ProxyError as exc:
            log.info("backend %s has no usable /props: %s", state.client.name, exc.message)
            return
        if isinstance(props, dict):
            state.props = props
            for model in models:
                _llamacpp_props(model, props)

    def _declared(self, state: BackendState, model_id: str) -> ModelInfo:
        model = ModelInfo(
            name=names.display_name(model_id),
            backend_id=model_id,
            backend=state,
            capabilities=_capabilities({}, model_id),
        )
        self._override(model)
        return model

    def _override(self, model: ModelInfo) -> None:
        for pattern, override in self.config.models.items():
            key = pattern.lower()
            if any(
                fnmatch.fnmatchcase(n, key) or names.canonical(n) == names.canonical(key)
                for n in (model.name.lower(), model.backend_id.lower())
            ):
                if override.context_length:
                    model.context_length = override.context_length
                if override.capabilities is not None:
                    model.capabilities = list(override.capabilities)
                    model.capabilities_known = True

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

    def _exposed(self, name: str) -> bool:
        lowered = name.lower()
        expose = self.config.expose
        allowed = any(fnmatch.fnmatchcase(lowered, p.lower()) for p in expose.allow)
        return allowed and not any(fnmatch.fnmatchcase(lowered, p.lower()) for p in expose.deny)

    async def models(self) -> list[ModelInfo]:
        """Every exposed model, merged over the backends (the first backend wins a shared name)."""
        await self.ensure_fresh()
        seen: dict[str, ModelInfo] = {}
        for state in self.backends:
            for model in state.models:
                seen.setdefault(names.canonical(model.name), model)
        for alias in self.config.aliases:
            route = self._alias_route(alias)
            if route is not None:
                seen.setdefault(names.canonical(route.name), route.primary)
        virtual = self.virtual
        stored = await virtual.list() if virtual is not None else []
        by_key = {vm.key: vm for vm in stored}
        for vm in stored:
            try:
                chain, bottom = resolve_chain(vm, lambda n: by_key.get(names.canonical(n)))
            except ProxyError:
                continue  # a broken chain (its base was deleted) is not listed
            base = self._find(bottom)
            if base is not None:
                seen.setdefault(vm.key, self._virtual_route(vm, chain, base).primary)
        return [m for m in seen.values() if self._exposed(m.name)]

    def _matches(self, name: str, state: BackendState) -> list[ModelInfo]:
        model = state.index.get(names.canonical(name))
        return [model] if model is not None else []

    def _alias_route(self, alias: str) -> Route | None:
        spec = self.config.aliases[alias]
        display = names.display_name(alias)
        candidates: list[ModelInfo] = []
        for target in [spec, *spec.fallback]:
            states = [self._by_name[target.backend]] if target.backend else self.backends
            for state in states:
                found = self._matches(target.model, state)
                if not found and not state.listing_supported and state.fetched_at:
                    found = [self._declared(state, target.model)]
                candidates += [dataclasses.replace(m, name=display) for m in found[:1]]
        return Route(display, candidates) if candidates else None

    def _virtual_route(self, model: VirtualModel, chain: list[VirtualModel], base: Route) -> Route:
        flat = flatten(chain)
        created = int(model.created_at)
        candidates = [
            dataclasses.replace(c, name=model.name, virtual=flat, created=created) for c in base.candidates
        ]
        return Route(model.name, candidates, chain)

    async def route(self, name: str, *, not_found: ProxyError | None = None) -> Route:
        """Every backend model an Ollama name can go to, in order; 404 in Ollama's words if none."""
        if self.virtual is not None and name:
            await self.ensure_fresh()
            chain, bottom = await self.virtual.chain(name, self.serves)
            if chain:
                missing = ProxyError(404, f"model '{name}' derives from '{bottom}', which no backend serves")
                return self._virtual_route(chain[0], chain, await self._route(bottom, missing))
        return await self._route(name, not_found)

    def serves(self, name: str) -> bool:
        """A backend (or an alias) answers to ``name``, as of the last listings: no I/O."""
        return self._find(name) is not None

    async def _route(self, name: str, not_found: ProxyError | None) -> Route:
        if not name:
            raise not_found or model_not_found(name)
        await self.ensure_fresh()
        route = self._find(name)
        if route is None and any(time.monotonic() - s.fetched_at > 1.0 for s in self.backends):
            await self.refresh()  # a model added since the last listing
            route = self._find(name)
        if route is not None:
            return route
        for state in self.backends:
            if not state.listing_supported and "*" in state.patterns:
                backend_id = name.removesuffix(":latest")
                return Route(name, [self._declared(state, backend_id)])
        down = [s for s in self.backends if s.listing_supported and s.last_error is not None]
        if down:
            # Unknown here may just mean "on a backend we cannot reach": a 404 would send the Ollama
            # CLI off to pull the model, so say what is really wrong.
            reasons = "; ".join(f"{s.client.name}: {s.last_error}" for s in down)
            raise ProxyError(
                502, f"model '{name}' is not available: backends could not be reached ({reasons})"
            )
        raise not_found or model_not_found(name)

    def _find(self, name: str) -> Route | None:
        key = names.canonical(name)
        for alias in self.config.aliases:
            if names.canonical(alias) == key:
                return self._alias_route(alias)
        candidates = [m for state in self.backends for m in self._matches(name, state)[:1]]
        return Route(candidates[0].name, candidates) if candidates else None

    async def resolve(self, name: str, *, not_found: ProxyError | None = None) -> ModelInfo:
        """The first model an Ollama name refers to."""
        return (await self.route(name, not_found=not_found)).primary
