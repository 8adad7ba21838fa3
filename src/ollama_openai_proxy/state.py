"""What one proxy process holds at run time: settings, backend clients, the catalog, recent models."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.requests import Request

from ollama_openai_proxy.backends.catalog import Catalog, ModelInfo
from ollama_openai_proxy.backends.client import BackendClient
from ollama_openai_proxy.config import Settings

DEFAULT_KEEP_ALIVE = 300.0


@dataclass
class RecentModels:
    """The models this process served lately, for /api/ps: kept for their ``keep_alive``."""

    expiry: dict[str, tuple[float, ModelInfo]] = field(default_factory=dict)

    def touch(self, model: ModelInfo, keep_alive: float | None) -> None:
        seconds = DEFAULT_KEEP_ALIVE if keep_alive is None else keep_alive
        if seconds == 0:
            self.expiry.pop(model.name, None)
            return
        until = float("inf") if seconds < 0 else time.time() + seconds
        self.expiry[model.name] = (until, model)

    def active(self) -> list[tuple[float, ModelInfo]]:
        now = time.time()
        for name in [n for n, (until, _) in self.expiry.items() if until <= now]:
            del self.expiry[name]
        return sorted(self.expiry.values(), key=lambda item: item[0], reverse=True)


@dataclass
class ProxyState:
    settings: Settings
    clients: list[BackendClient]
    catalog: Catalog
    recent: RecentModels = field(default_factory=RecentModels)


def get_state(request: Request) -> ProxyState:
    state: ProxyState = request.app.state.proxy
    return state
