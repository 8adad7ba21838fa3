"""What one proxy process holds at run time: settings, backend clients, the catalog, the shared store."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from ollama_openai_proxy.backends.catalog import Catalog
from ollama_openai_proxy.backends.client import BackendClient
from ollama_openai_proxy.config import Settings
from ollama_openai_proxy.store.database import Database
from ollama_openai_proxy.store.loaded import LoadedModels


@dataclass
class ProxyState:
    settings: Settings
    clients: list[BackendClient]
    catalog: Catalog
    recent: LoadedModels
    database: Database


def get_state(request: Request) -> ProxyState:
    state: ProxyState = request.app.state.proxy
    return state
