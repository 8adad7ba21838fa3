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
from typing import cast

from ollama_openai_proxy.backends.client import BackendClient
from ollama_openai_proxy.config import FileConfig
from ollama_openai_proxy.protocol.openai import BackendModel, ServerProps
from ollama_openai_proxy.translate import names
from ollama_openai_proxy.translate.errors import ProxyError, model_not_found
from ollama_openai_proxy.translate.listing import capabilities, parse_llamacpp_props, parse_model_entry
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


@dataclass
class ModelInfo:
    """One model as the proxy exposes it."""

    name: str  # Ollama name with tag, e.g. "smollm2:latest"
    backend_id: str  # the id the backend knows it by
    backend: CatalogBackend
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
class CatalogBackend:
    client: BackendClient
    profile: Profile
    models: list[ModelInfo] = field(default_factory=list)
    fetched_at: float = 0.0
    listing_supported: bool = True
    last_error: str | None = None
    props: ServerProps = field(default_factory=ServerProps)
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
class Resolution:
    """What an exposed model name resolves to: the backend models to try, the primary first, then the
    fallbacks in order (not to be confused with the app's HTTP routes)."""

    name: str
    candidates: list[ModelInfo]
    chain: list[VirtualModel] = field(default_factory=list)  # virtual models, outermost first

    @property
    def primary(self) -> ModelInfo:
        return self.candidates[0]


def model_from_entry(entry: BackendModel, backend: CatalogBackend) -> ModelInfo | None:
    listed = parse_model_entry(entry)
    if listed is None:
        return None
    fields = {f.name: getattr(listed, f.name) for f in dataclasses.fields(listed)}
    fields["capabilities"] = list(listed.capabilities)
    return ModelInfo(backend=backend, **fields)


def _apply_llamacpp_props(model: ModelInfo, props: ServerProps) -> None:
    parsed = parse_llamacpp_props(props, embedding="embedding" in model.capabilities)
    model.context_length = parsed.context_length or model.context_length
    if parsed.capabilities is not None:
        model.capabilities = list(parsed.capabilities)
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
            CatalogBackend(
                client=c, profile=PROFILES.get(c.config.profile) or profile_for_url(c.base_url) or GENERIC
            )
            for c in clients
        ]
        self._by_name = {s.client.name: s for s in self.backends}
        self._refreshing: asyncio.Task[None] | None = None

    async def _fetch(self, backend: CatalogBackend) -> None:
        try:
            data = await backend.client.listing()
        except ProxyError as exc:
            backend.last_error = exc.message
            backend.fetched_at = time.monotonic()
            backend.set_models([])  # down: its models drop out until it recovers
            log.warning("listing models of backend %s failed: %s", backend.client.name, exc.message)
            return
        if data is None:  # it answers, but keeps no listing (404/405/501): its configured models
            backend.listing_supported = False
            backend.last_error = None
            backend.fetched_at = time.monotonic()
            backend.set_models([self._declared(backend, m) for m in backend.declared])
            return
        entries = data.get("data") if isinstance(data, dict) else data
        listed = [
            m
            for m in (
                model_from_entry(cast(BackendModel, e), backend) for e in entries or [] if isinstance(e, dict)
            )
            if m
        ]
        if backend.client.config.profile == "auto" and not profile_for_url(backend.client.base_url):
            owners = {m.owned_by for m in listed}
            backend.profile = next((p for p in map(profile_for_owner, owners) if p), None) or GENERIC
        models = [m for m in listed if backend.serves(m.backend_id)]
        known = {names.canonical(m.backend_id) for m in models}
        models += [self._declared(backend, d) for d in backend.declared if names.canonical(d) not in known]
        if backend.profile.name == "llamacpp":
            await self._probe_llamacpp(backend, models)
        for model in models:
            self._override(model)
        backend.set_models(models)
        backend.fetched_at = time.monotonic()
        backend.listing_supported = True
        backend.last_error = None

    async def _probe_llamacpp(self, backend: CatalogBackend, models: list[ModelInfo]) -> None:
        try:
            props = await backend.client.request_json("GET", f"{backend.client.root_url}/props")
        except ProxyError as exc:
            log.info("backend %s has no usable /props: %s", backend.client.name, exc.message)
            return
        if isinstance(props, dict):
            props = backend.props = cast(ServerProps, props)  # each field checked as it is read
            for model in models:
                _apply_llamacpp_props(model, props)

    def _declared(self, backend: CatalogBackend, model_id: str) -> ModelInfo:
        model = ModelInfo(
            name=names.display_name(model_id),
            backend_id=model_id,
            backend=backend,
            capabilities=capabilities({}, model_id),
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
        """Fetch every backend's listing now; callers arriving while a refresh runs share it (one
        listing per backend for any number of concurrent lookups of unknown names)."""
        task = self._refreshing
        if task is None or task.done():
            task = self._refreshing = asyncio.create_task(self._fetch_all())
        await asyncio.shield(task)

    async def _fetch_all(self) -> None:
        await asyncio.gather(*(self._fetch(s) for s in self.backends))

    def _stale(self, backend: CatalogBackend) -> bool:
        return not backend.fetched_at or time.monotonic() - backend.fetched_at > self.ttl

    async def ensure_fresh(self) -> None:
        """Wait for listings never fetched; refresh stale ones in the background."""
        if any(not s.fetched_at for s in self.backends):
            await self.refresh()
            return
        for backend in self.backends:
            if self._stale(backend) and (backend._refreshing is None or backend._refreshing.done()):
                backend._refreshing = asyncio.create_task(self._fetch(backend))

    def _exposed(self, name: str) -> bool:
        lowered = name.lower()
        expose = self.config.expose
        allowed = any(fnmatch.fnmatchcase(lowered, p.lower()) for p in expose.allow)
        return allowed and not any(fnmatch.fnmatchcase(lowered, p.lower()) for p in expose.deny)

    async def models(self) -> list[ModelInfo]:
        """Every exposed model, merged over the backends (the first backend wins a shared name)."""
        await self.ensure_fresh()
        seen: dict[str, ModelInfo] = {}
        for backend in self.backends:
            for model in backend.models:
                seen.setdefault(names.canonical(model.name), model)
        for alias in self.config.aliases:
            resolution = self._alias_resolution(alias)
            if resolution is not None:
                seen.setdefault(names.canonical(resolution.name), resolution.primary)
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
                seen.setdefault(vm.key, self._virtual_resolution(vm, chain, base).primary)
        return [m for m in seen.values() if self._exposed(m.name)]

    def _matches(self, name: str, backend: CatalogBackend) -> list[ModelInfo]:
        model = backend.index.get(names.canonical(name))
        return [model] if model is not None else []

    def _alias_resolution(self, alias: str) -> Resolution | None:
        spec = self.config.aliases[alias]
        display = names.display_name(alias)
        candidates: list[ModelInfo] = []
        for target in [spec, *spec.fallback]:
            searched = [self._by_name[target.backend]] if target.backend else self.backends
            for backend in searched:
                found = self._matches(target.model, backend)
                if not found and not backend.listing_supported and backend.fetched_at:
                    found = [self._declared(backend, target.model)]
                candidates += [dataclasses.replace(m, name=display) for m in found[:1]]
        return Resolution(display, candidates) if candidates else None

    def _virtual_resolution(
        self, model: VirtualModel, chain: list[VirtualModel], base: Resolution
    ) -> Resolution:
        flat = flatten(chain)
        created = int(model.created_at)
        candidates = [
            dataclasses.replace(c, name=model.name, virtual=flat, created=created) for c in base.candidates
        ]
        return Resolution(model.name, candidates, chain)

    async def resolve(self, name: str, *, not_found: ProxyError | None = None) -> Resolution:
        """Every backend model an Ollama name can go to, in order; 404 in Ollama's words if none."""
        if self.virtual is not None and name:
            await self.ensure_fresh()
            chain, bottom = await self.virtual.chain(name, self.serves)
            if chain:
                missing = ProxyError(404, f"model '{name}' derives from '{bottom}', which no backend serves")
                return self._virtual_resolution(chain[0], chain, await self._resolve(bottom, missing))
        return await self._resolve(name, not_found)

    def serves(self, name: str) -> bool:
        """A backend (or an alias) answers to ``name``, as of the last listings: no I/O."""
        return self._find(name) is not None

    async def _resolve(self, name: str, not_found: ProxyError | None) -> Resolution:
        if not name:
            raise not_found or model_not_found(name)
        await self.ensure_fresh()
        resolution = self._find(name)
        if resolution is None and any(time.monotonic() - s.fetched_at > 1.0 for s in self.backends):
            await self.refresh()  # a model added since the last listing
            resolution = self._find(name)
        if resolution is not None:
            return resolution
        for backend in self.backends:
            if not backend.listing_supported and backend.last_error is None and "*" in backend.patterns:
                backend_id = name.removesuffix(":latest")
                return Resolution(name, [self._declared(backend, backend_id)])
        down = [s for s in self.backends if s.last_error is not None]
        if down:
            # Unknown here may just mean "on a backend we cannot reach": a 404 would send the Ollama
            # CLI off to pull the model, so say what is really wrong.
            reasons = "; ".join(f"{s.client.name}: {s.last_error}" for s in down)
            raise ProxyError(
                502, f"model '{name}' is not available: backends could not be reached ({reasons})"
            )
        raise not_found or model_not_found(name)

    def _find(self, name: str) -> Resolution | None:
        key = names.canonical(name)
        for alias in self.config.aliases:
            if names.canonical(alias) == key:
                return self._alias_resolution(alias)
        candidates = [m for backend in self.backends for m in self._matches(name, backend)[:1]]
        return Resolution(candidates[0].name, candidates) if candidates else None
