"""Prometheus metrics, structured logs (JSON lines, or text on a terminal) and the per-request context."""

from __future__ import annotations

import copy
import fnmatch
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric

from ollama_openai_proxy.redaction import redact, redact_bytes
from ollama_openai_proxy.translate import names

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
    body_size: int = 0  # bytes of the request body, once read (large ones are handled off the loop)
    start: int = field(default_factory=time.perf_counter_ns)  # arrival, monotonic ns

    def allows(self, model: str) -> bool:
        """Whether the caller's API key may use ``model``: its globs, matched against the name in
        its normal forms (case-folded, default registry and namespace dropped, ``:latest`` optional),
        so every spelling of one model gets the same answer."""
        if self.allowed_models is None:
            return True
        return model_allowed(model, self.allowed_models)


def model_allowed(model: str, globs: list[str]) -> bool:
    key = names.canonical(model)
    forms = (key, key + ":latest") if ":" not in key.rsplit("/", 1)[-1] else (key,)
    patterns = [names.strip_default_prefix(p.strip().lower()) for p in globs]
    return any(fnmatch.fnmatchcase(form, p) for form in forms for p in patterns)


def context_of(scope: MutableMapping[str, Any]) -> RequestContext:
    """The request's context, made by ContextMiddleware (or a bare one when the app runs without it)."""
    state = scope.setdefault("state", {})
    ctx = state.get("ctx")
    if not isinstance(ctx, RequestContext):
        ctx = state["ctx"] = RequestContext("", scope.get("method", ""), scope.get("path", ""))
    return ctx


BODY_LOG_LIMIT = 4096


def body_for_log(body: bytes) -> str | None:
    """The request body for the debug log (OLLAMA_PROXY_LOG_BODIES): cut short, keys redacted."""
    if not body:
        return None
    text = body[:BODY_LOG_LIMIT].decode("utf-8", "replace")
    return redact(text) + ("…" if len(body) > BODY_LOG_LIMIT else "")


_children: dict[tuple[Any, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    """``metric.labels(*labels)``, memoised: prometheus_client validates and locks on every call."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*map(redact, labels))
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


def metrics_text(visible: Callable[[str], bool] | None = None) -> bytes:
    """The metrics in Prometheus' text format; with ``visible``, only the samples whose ``model``
    label it accepts (and those without a model)."""
    registry: Any = REGISTRY
    if _MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    if visible is not None:
        registry = _ModelFilter(registry, visible)
    return generate_latest(registry)


class _ModelFilter:
    """A registry view leaving out the samples of models a caller may not see."""

    def __init__(self, registry: Any, visible: Callable[[str], bool]) -> None:
        self.registry = registry
        self.visible = visible

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            kept = copy.copy(family)
            kept.samples = [
                s for s in family.samples if not s.labels.get("model") or self.visible(s.labels["model"])
            ]
            yield kept


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
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _drop_color,
                _redacted(renderer),
            ],
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


def _redacted(renderer: Any) -> Any:
    """``renderer`` with the held secrets masked in what it renders (text or bytes)."""

    def render(logger: Any, name: str, event: MutableMapping[str, Any]) -> Any:
        out = renderer(logger, name, event)
        return redact_bytes(out) if isinstance(out, bytes) else redact(str(out))

    return render


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
                _redacted(renderer),
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
