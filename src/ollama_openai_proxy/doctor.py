"""``check`` and ``models`` commands: reach every backend and report what the proxy will expose."""

from __future__ import annotations

import asyncio

from ollama_openai_proxy.backends.catalog import Catalog
from ollama_openai_proxy.backends.client import BackendClient, close_all
from ollama_openai_proxy.config import Settings


async def _load(settings: Settings) -> tuple[Catalog, list[BackendClient]]:
    clients = [BackendClient(b) for b in settings.backends()]
    catalog = Catalog(clients, settings.models_ttl, settings.file_config())
    await catalog.refresh()
    return catalog, clients


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


async def models_table(settings: Settings) -> str:
    catalog, clients = await _load(settings)
    try:
        rows = [["NAME", "BACKEND", "BACKEND MODEL", "CONTEXT", "CAPABILITIES"]]
        for m in await catalog.models():
            rows.append(
                [
                    m.name,
                    m.backend.client.name,
                    m.backend_id,
                    str(m.context_length or "-"),
                    ",".join(m.capabilities),
                ]
            )
        return _table(rows)
    finally:
        await close_all(clients)


async def check(settings: Settings) -> tuple[str, list[str]]:
    """A report and the list of problems (one line each); no problems means the setup works."""
    catalog, clients = await _load(settings)
    problems: list[str] = []
    lines = []
    try:
        for state in catalog.backends:
            c = state.client
            status = "ok" if state.last_error is None else f"FAILED: {state.last_error}"
            if state.last_error is not None and state.listing_supported:
                problems.append(f"backend {c.name} ({c.base_url}): {state.last_error}")
            lines.append(
                f"backend {c.name}: {c.base_url} profile={state.profile.name} models={len(state.models)} {status}"
            )
            for model in state.models:
                lines.append(f"  {model.backend_id} -> {model.name}")
            if state.listing_supported and state.last_error is None and not state.models:
                problems.append(f"backend {c.name}: serves no model matching {state.patterns}")
        for alias in catalog.config.aliases:
            route = await catalog.resolve(alias) if catalog._find(alias) else None
            if route is None:
                problems.append(f"alias {alias}: none of its targets is served by a reachable backend")
        exposed = await catalog.models()
        lines.append(f"exposed models: {len(exposed)}")
        lines += [f"  {m.name}" for m in exposed]
        return "\n".join(lines), problems
    finally:
        await close_all(clients)


def run_check(settings: Settings) -> int:
    report, problems = asyncio.run(check(settings))
    print(report)
    for problem in problems:
        print(f"problem: {problem}")
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def run_models(settings: Settings) -> int:
    print(asyncio.run(models_table(settings)))
    return 0
