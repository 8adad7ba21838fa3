"""Prometheus metrics, structured logs (JSON lines, or text on a terminal) and the per-request context."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUESTS = Counter(
    "ollama_proxy_requests",
    "Requests answered, by route, model, backend and HTTP status",
    ["route", "model", "backend", "status"],
)
DURATION = Histogram(
    "ollama_proxy_request_duration_seconds",
    "Time from request to the last byte of the answer",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
TTFT = Histogram(
    "ollama_proxy_time_to_first_token_seconds",
    "Time from request to the first generated token",
    ["route", "model"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
TOKENS = Counter("ollama_proxy_tokens", "Tokens reported by backends", ["kind", "model", "backend"])
BACKEND_ERRORS = Counter("ollama_proxy_backend_errors", "Failed backend calls", ["backend", "status"])
RETRIES = Counter("ollama_proxy_retries", "Backend calls retried", ["backend", "status"])
IN_FLIGHT = Gauge("ollama_proxy_in_flight_requests", "Requests being answered", multiprocess_mode="livesum")


@dataclass(slots=True)
class RequestContext:
    """What one request did, filled in as it goes, logged and counted when it ends."""

    request_id: str
    method: str
    path: str
    route: str = ""
    model: str = ""
    backend: str = ""
    status: int = 0
    key_name: str = ""
    allowed_models: list[str] | None = None  # model globs the caller's key allows; None: all
    client_key: str | None = None  # the client's bearer key, for forward_client_key mode
    ttft_ns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str = ""
    body: bytes = b""  # kept only with OLLAMA_PROXY_LOG_BODIES, for the debug log


_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, memoised: prometheus_client validates and locks on every call."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def record(ctx: RequestContext, duration: float) -> None:
    route = ctx.route or "unmatched"
    _child(REQUESTS, route, ctx.model, ctx.backend, str(ctx.status)).inc()
    _child(DURATION, route).observe(duration)
    if ctx.ttft_ns:
        _child(TTFT, route, ctx.model).observe(ctx.ttft_ns / 1e9)
    if ctx.prompt_tokens:
        _child(TOKENS, "prompt", ctx.model, ctx.backend).inc(ctx.prompt_tokens)
    if ctx.completion_tokens:
        _child(TOKENS, "completion", ctx.model, ctx.backend).inc(ctx.completion_tokens)
    if ctx.backend and ctx.status >= 500:
        _child(BACKEND_ERRORS, ctx.backend, str(ctx.status)).inc()


def count_retry(backend: str, status: str) -> None:
    RETRIES.labels(backend, status).inc()


def metrics_text() -> bytes:
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


def _orjson_dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def _drop_color(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    event.pop("color_message", None)  # Uvicorn's copy of the message with ANSI colour codes
    return event


def resolve_log_format(fmt: str) -> str:
    """``auto`` is readable text when stderr is a terminal (a person reads it), JSON lines otherwise."""
    if fmt != "auto":
        return fmt
    isatty = getattr(sys.stderr, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(level: str, fmt: str) -> None:
    """JSON lines or readable text (``fmt``: json, text, auto) on stderr, for the proxy's logs and Uvicorn's."""
    fmt = resolve_log_format(fmt)
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _drop_color, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    access_log.configure(level, fmt)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# Liveness and readiness probes arrive every few seconds from orchestrators: logged at debug only.
PROBE_PATHS = frozenset({"/health", "/ready"})


class AccessLog:
    """One line per request. A native structlog logger writing bytes straight to stderr: the
    standard-library route (handlers, formatters) costs several times more on every request."""

    def __init__(self) -> None:
        self._logger: Any = structlog.get_logger("ollama_openai_proxy.access")

    def configure(self, level: str, fmt: str) -> None:
        numeric = getattr(logging, level.upper(), logging.INFO)
        renderer: Any = (
            structlog.processors.JSONRenderer(serializer=orjson.dumps) if fmt == "json" else _BytesConsole()
        )
        self._logger = structlog.wrap_logger(
            structlog.BytesLogger(sys.stderr.buffer),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            cache_logger_on_first_use=True,
        )

    def info(self, event: str, **fields: Any) -> None:
        """Log at info level, or at debug level for a request to one of the ``PROBE_PATHS``."""
        if fields.get("path") in PROBE_PATHS:
            self._logger.debug(event, **fields)
        else:
            self._logger.info(event, **fields)


class _BytesConsole:
    """Text lines for a person: the fields a request did not have (None) are left out."""

    def __init__(self) -> None:
        self._render = structlog.dev.ConsoleRenderer(colors=False)

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> bytes:
        present = {k: v for k, v in event.items() if v is not None}
        return str(self._render(logger, name, present)).encode()


access_log = AccessLog()
