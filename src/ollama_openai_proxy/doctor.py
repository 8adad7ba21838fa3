"""``check`` and ``models`` commands: reach every backend and report what the proxy will expose."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Iterator

from ollama_openai_proxy.app import database_url, virtual_models
from ollama_openai_proxy.backends.catalog import Catalog, CatalogBackend, ModelInfo
from ollama_openai_proxy.backends.client import BackendClient, close_all
from ollama_openai_proxy.config import Settings
from ollama_openai_proxy.store.database import Database
from ollama_openai_proxy.translate.errors import ProxyError


@contextlib.asynccontextmanager
async def _loaded(settings: Settings) -> AsyncIterator[Catalog]:
    """The catalog as the server builds it (virtual models from the file and the store included),
    listed once, and everything it opened closed afterwards."""
    clients = [BackendClient(b) for b in settings.backends()]
    database = Database(database_url(settings))
    virtual = virtual_models(settings, database)
    catalog = Catalog(clients, settings.models_ttl, settings.file_config(), virtual)
    try:
        await catalog.refresh()
        yield catalog
    finally:
        await close_all(clients)
        await virtual.close()
        await database.dispose()


async def _exposed(catalog: Catalog, problems: list[str]) -> list[ModelInfo]:
    """Every model the server would list; a store that cannot be read is a problem, not a crash."""
    try:
        return await catalog.models()
    except ProxyError as exc:
        problems.append(f"virtual models cannot be listed: {exc.message}")
        catalog.virtual = None
        return await catalog.models()


@contextlib.contextmanager
def _report_only(settings: Settings) -> Iterator[None]:
    """The commands report each problem once themselves: the proxy's warnings about the same failures
    (retries, failed listings) are left out, unless debugging."""
    package = logging.getLogger("ollama_openai_proxy")
    level = package.level
    if settings.log_level == "debug":
        from ollama_openai_proxy.observability import configure_logging

        configure_logging("debug", settings.log_format)
    else:
        package.setLevel(logging.ERROR)
    try:
        yield
    finally:
        package.setLevel(level)


def _backend_problem(state: CatalogBackend) -> str | None:
    """The backend's failure as one line naming it, or None when it answered (or lists nothing by design)."""
    if state.last_error is None:
        return None
    name = state.client.name
    error = state.last_error
    return error if error.startswith(f"backend {name} ") else f"backend {name}: {error}"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


async def models_table(settings: Settings) -> tuple[str, list[str]]:
    """The model table, and the backends that could not be listed (one line each)."""
    async with _loaded(settings) as catalog:
        problems = [p for p in map(_backend_problem, catalog.backends) if p]
        rows = [["NAME", "BACKEND", "BACKEND MODEL", "CONTEXT", "CAPABILITIES"]]
        for m in await _exposed(catalog, problems):
            rows.append(
                [
                    m.name,
                    m.backend.client.name,
                    m.backend_id,
                    str(m.context_length or "-"),
                    ",".join(m.capabilities),
                ]
            )
        return _table(rows), problems


async def check(settings: Settings) -> tuple[str, list[str]]:
    """A report and the list of problems (one line each); no problems means the setup works."""
    problems: list[str] = []
    lines = []
    async with _loaded(settings) as catalog:
        for state in catalog.backends:
            c = state.client
            problem = _backend_problem(state)
            status = "ok" if state.last_error is None else "FAILED" if problem else "no listing"
            if problem:
                problems.append(problem)
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
        exposed = await _exposed(catalog, problems)
        lines.append(f"exposed models: {len(exposed)}")
        lines += [f"  {m.name}" for m in exposed]
        return "\n".join(lines), problems


def run_check(settings: Settings) -> int:
    with _report_only(settings):
        report, problems = asyncio.run(check(settings))
    print(report)
    for problem in problems:
        print(f"problem: {problem}")
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def run_models(settings: Settings) -> int:
    """Print the table; a backend that could not be listed is named on stderr and the status is 1."""
    with _report_only(settings):
        table, problems = asyncio.run(models_table(settings))
    if len(table.splitlines()) > 1 or not problems:
        print(table)
    for problem in problems:
        print(f"ollama-openai-proxy: {problem}", file=sys.stderr)
    return 1 if problems else 0
