"""Typed settings: the environment (or a .env file) read once into one validated object."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

ProfileName = Literal["auto", "openai", "vllm", "llamacpp", "openrouter", "generic"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11434


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


class Timeouts(BaseModel):
    """Seconds allowed for each phase of a backend call."""

    model_config = ConfigDict(extra="forbid")

    # Numbers and switches in the file are strict (here and below): `connect: true` or `retries: yes`
    # is a mistake, not 1.
    connect: float = Field(10.0, gt=0, strict=True)
    first_byte: float = Field(300.0, gt=0, strict=True)  # until the response headers arrive
    idle: float = Field(300.0, gt=0, strict=True)  # longest gap between two streamed chunks
    total: float | None = Field(None, gt=0, strict=True)  # the whole call, streaming included


class BackendConfig(BaseModel):
    """One OpenAI-compatible backend."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("default", pattern=r"^[A-Za-z0-9_.\-]+$")
    base_url: str
    # The key is never written in the configuration file: ``api_key_env`` names the variable holding it.
    api_key_env: str | None = None
    api_key: SecretStr | None = Field(None, exclude=True)
    profile: ProfileName = "auto"
    timeouts: Timeouts = Field(default_factory=Timeouts)
    headers: dict[str, str] = Field(default_factory=dict)
    # What the backend serves: globs over its /v1/models listing ("*" = everything it lists);
    # names without wildcards are served even when the backend does not list them.
    models: list[str] = Field(default_factory=lambda: ["*"])
    max_concurrency: int | None = Field(None, gt=0, strict=True)  # requests in flight; more wait in a queue
    max_queue: int = Field(256, ge=0, strict=True)  # waiting beyond this is refused at once with 503
    retries: int = Field(2, ge=0, le=10, strict=True)  # per request, before any byte reached the client
    # The largest answer read whole (JSON, error bodies, listings); more is a 502. Streams are
    # relayed as they come, one SSE event at most 16 MiB (translate/sse.py).
    max_response_bytes: int = Field(256 * 1024 * 1024, gt=0, strict=True)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return normalize_base_url(value)


class AliasTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    model: str
    backend: str | None = None


class Alias(AliasTarget):
    """An exposed name for a backend model, with backends to fall back on, in order."""

    fallback: list[AliasTarget] = Field(default_factory=list)


Capability = Literal["completion", "tools", "insert", "vision", "embedding", "thinking"]


class ModelOverride(BaseModel):
    """Corrections to what a backend reports about a model."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    context_length: int | None = Field(None, gt=0, strict=True)
    capabilities: list[Capability] | None = None


class Exposure(BaseModel):
    """Glob patterns over exposed names choosing what /api/tags and /v1/models list."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    allow: list[str] = Field(default_factory=lambda: ["*"])
    deny: list[str] = Field(default_factory=list)


Scope = Literal["read", "write"]


class ApiKey(BaseModel):
    """An inbound API key, read from the environment variable ``key_env``, allowed the ``models`` globs.

    ``scopes``: ``read`` (inference, listings) and ``write`` (create, copy, delete, push, blobs).
    Models are shared by every key, so only a key allowed every model (``models: ["*"]``) may hold
    ``write``; it is its default, and a restricted key's default is ``read`` alone.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str
    key_env: str
    models: list[str] = Field(default_factory=lambda: ["*"])
    scopes: list[Scope] | None = None

    @model_validator(mode="after")
    def _write_needs_every_model(self) -> ApiKey:
        if self.scopes is None:
            self.scopes = ["read", "write"] if self.models == ["*"] else ["read"]
        elif "write" in self.scopes and self.models != ["*"]:
            raise ValueError(
                f"key {self.name!r}: the write scope needs models: ['*'] (a key limited to some models "
                "could change models other keys use)"
            )
        return self


class InboundKey(NamedTuple):
    """What an accepted inbound key may do."""

    name: str
    models: list[str]
    write: bool


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    keys: list[ApiKey] = Field(default_factory=list)
    # Send each client's own bearer key to the backend instead of the configured one.
    forward_client_key: bool = Field(False, strict=True)


class FileConfig(BaseModel):
    """The configuration file (YAML)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    backends: list[BackendConfig] = Field(min_length=1)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    aliases: dict[str, Alias] = Field(default_factory=dict)
    models: dict[str, ModelOverride] = Field(default_factory=dict)
    expose: Exposure = Field(default_factory=Exposure)
    virtual_models: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, value: Any) -> Any:
        # A section left empty (``aliases:`` with every entry commented out) reads as null: none.
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v is not None or k == "backends"}
        return value

    @field_validator("aliases", mode="before")
    @classmethod
    def _short_aliases(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"model": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _references(self) -> FileConfig:
        names = [b.name for b in self.backends]
        if len(set(names)) != len(names):
            raise ValueError(f"backend names must be unique, got {names}")
        for alias, spec in self.aliases.items():
            for target in [spec, *spec.fallback]:
                if target.backend is not None and target.backend not in names:
                    raise ValueError(
                        f"alias {alias!r} names unknown backend {target.backend!r} (known: {names})"
                    )
        return self


def normalize_base_url(value: str) -> str:
    """Check that ``value`` is an absolute http(s) URL and drop any trailing slash."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL such as http://127.0.0.1:8080/v1, got {value!r}")
    return value.rstrip("/")


def parse_ollama_host(value: str) -> tuple[str, int]:
    """Read ``OLLAMA_HOST`` the way ``ollama serve`` does: ``[scheme://]host[:port][/path]``."""
    text = value.strip()
    if not text:
        return DEFAULT_HOST, DEFAULT_PORT
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    host, port = text, DEFAULT_PORT
    if text.startswith("["):  # [ipv6]:port
        end = text.find("]")
        host, rest = text[1:end], text[end + 1 :]
        if rest.startswith(":") and rest[1:]:
            port = _port(rest[1:], value)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        if port_text:
            port = _port(port_text, value)
    return host or DEFAULT_HOST, port


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"OLLAMA_HOST has an invalid port: {whole!r}")
    return int(text)


def default_state_dir(config: Path | None) -> Path:
    """Where the store lives without OLLAMA_PROXY_STATE_DIR: beside the configuration file, else
    ``$XDG_DATA_HOME/ollama-openai-proxy`` (``~/.local/share/ollama-openai-proxy``)."""
    if config is not None:
        return config.resolve().parent
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "ollama-openai-proxy"


class Settings(BaseSettings):
    """Everything the proxy reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="OLLAMA_PROXY_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # VAR= means unset, as in most tools
        extra="ignore",
    )

    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "OPENAI_API_BASE_URL")
    )
    openai_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    # A file holding the key (Docker/Kubernetes secrets); used when OPENAI_API_KEY is not set.
    openai_api_key_file: Path | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY_FILE"))
    ollama_host: str = Field("", validation_alias=AliasChoices("OLLAMA_HOST"))
    config: Path | None = None
    state_dir: Path | None = None
    backend_profile: ProfileName = "auto"
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(600.0, gt=0)
    models_ttl: float = Field(30.0, ge=0)
    reported_version: str | None = None
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # auto: readable text when stderr is a terminal, JSON lines otherwise (files, containers, journald).
    log_format: Literal["auto", "json", "text"] = "auto"
    # Adds each request's body (first 4 KiB, keys redacted) to its access-log line. Off by default:
    # prompts are private.
    log_bodies: bool = False
    # Inbound API keys, comma-separated; with any key set every route but the liveness probes needs one.
    api_keys: SecretStr | None = None
    forward_client_key: bool = False
    origins: str = Field("", validation_alias=AliasChoices("OLLAMA_ORIGINS"))
    allow_any_host: bool = False
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0)
    # Slow clients (slowloris): a request's headers must arrive within header_timeout seconds, its
    # body with no gap longer than body_timeout and whole within body_deadline (nginx's 60 s
    # client_header_timeout and client_body_timeout); at most max_connections connections are open
    # (default: half the descriptor limit), the longest-idle one closed to make room for a new one.
    header_timeout: float = Field(60.0, gt=0)
    body_timeout: float = Field(60.0, gt=0)
    body_deadline: float = Field(600.0, gt=0)
    max_connections: int | None = Field(None, gt=0)
    shutdown_grace: float = Field(25.0, ge=0)
    # After SIGTERM: how long /ready answers 503 while requests are still served, so a balancer
    # stops sending new ones before the listener closes.
    drain_delay: float = Field(0.0, ge=0)
    # The shared store (virtual models, /api/ps): sqlite:///path (default: the state directory)
    # or postgresql://user:pass@host/db for many replicas.
    database_url: str | None = None
    # With it, each backend's max_concurrency holds across all replicas (leases in Redis).
    redis_url: SecretStr | None = None
    # Worker processes of this server (set by ``--workers``): with more than one, the SQLite store
    # also holds what /api/ps lists, so every worker answers alike.
    workers: int = Field(1, ge=1)
    _file_config: FileConfig | None = PrivateAttr(None)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from ollama_openai_proxy.store.database import async_url

        async_url(value.strip())  # raises ValueError with the accepted forms
        return value.strip()

    @field_validator("openai_base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else normalize_base_url(value)

    def file_config(self) -> FileConfig | None:
        """The configuration file named by ``OLLAMA_PROXY_CONFIG``, validated (cached after the first read)."""
        if self.config is None:
            return None
        if self._file_config is None:
            self._file_config = read_config_file(self.config)
        return self._file_config

    def backends(self) -> list[BackendConfig]:
        """The configured backends, in priority order, with their API keys read from the environment."""
        file = self.file_config()
        if file is not None:
            return [_with_key(b, i, self.config) for i, b in enumerate(file.backends)]
        if not self.openai_base_url:
            raise ConfigError(
                "OPENAI_BASE_URL is not set: point it at an OpenAI-compatible server, "
                "e.g. OPENAI_BASE_URL=http://127.0.0.1:8080/v1 (or name a configuration file in OLLAMA_PROXY_CONFIG)"
            )
        key = self.openai_api_key if self.openai_api_key and self.openai_api_key.get_secret_value() else None
        if key is None and self.openai_api_key_file is not None:
            try:
                text = self.openai_api_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(
                    f"OPENAI_API_KEY_FILE: cannot read {self.openai_api_key_file}: {exc.strerror}"
                ) from None
            key = SecretStr(text) if text else None
        return [
            BackendConfig(
                base_url=self.openai_base_url,
                api_key=key,
                profile=self.backend_profile,
                timeouts=Timeouts(
                    connect=self.connect_timeout, first_byte=self.read_timeout, idle=self.read_timeout
                ),
            )
        ]

    def inbound_keys(self) -> dict[str, InboundKey]:
        """Accepted API keys → what each may do. Empty: no authentication."""
        keys: dict[str, InboundKey] = {}
        if self.api_keys is not None:
            for i, key in enumerate(k.strip() for k in self.api_keys.get_secret_value().split(",")):
                if key:
                    keys[key] = InboundKey(f"key{i + 1}", ["*"], True)
        file = self.file_config()
        for i, entry in enumerate(file.auth.keys if file else []):
            value = os.environ.get(entry.key_env, "")
            if not value:
                raise ConfigError(
                    f"{self.config}: auth.keys[{i}].key_env: environment variable {entry.key_env} is not set"
                )
            keys[value] = InboundKey(entry.name, entry.models, "write" in (entry.scopes or ()))
        return keys

    @property
    def forwards_client_key(self) -> bool:
        file = self.file_config()
        return self.forward_client_key or bool(file and file.auth.forward_client_key)

    def listen_address(self) -> tuple[str, int]:
        return parse_ollama_host(self.ollama_host)


def _with_key(backend: BackendConfig, index: int, path: Path | None) -> BackendConfig:
    if backend.api_key_env is None:
        return backend
    value = os.environ.get(backend.api_key_env, "")
    if not value:
        raise ConfigError(
            f"{path}: backends[{index}].api_key_env: environment variable {backend.api_key_env} is not set "
            f"(it should hold the API key of backend {backend.name!r})"
        )
    return backend.model_copy(update={"api_key": SecretStr(value)})


def read_config_file(path: Path) -> FileConfig:
    """Load and validate the YAML configuration file; every problem names the file and the key."""
    import yaml  # only with a configuration file: keeps start-up lean without one

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: the configuration file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{path}{line}: not valid YAML: {_one_line(problem)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the configuration file must be a mapping with a 'backends' list (got {_kind(raw)})"
        )
    backends = raw.get("backends")
    if isinstance(backends, list) and any(isinstance(b, dict) and "api_key" in b for b in backends):
        raise ConfigError(
            f"{path}: backends[].api_key: secrets do not belong in the file; "
            "put the key in an environment variable and name it with api_key_env"
        )
    try:
        return FileConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from None
    except RecursionError:  # a YAML anchor that contains itself
        raise ConfigError(
            f"{path}: the configuration nests too deeply (a YAML alias that refers to itself?)"
        ) from None


def describe_validation_error(exc: ValidationError, name: str | None = None, show_input: bool = True) -> str:
    """Pydantic's first error as ``key.path[0]: what is wrong (got …)``, with a count of any others.

    ``name`` replaces the location (an environment variable); ``show_input`` is off for secrets."""
    errors = exc.errors()
    first = errors[0]
    where = name or "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    else:
        msg = str(first["msg"]).removeprefix("Value error, ")
        value = first.get("input")
        if show_input and "headers" not in first["loc"] and first["type"] not in ("missing", "value_error"):
            msg += f" (got {_kind(value)})"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{where or 'top level'}: {_one_line(msg)}{more}"


def _kind(value: Any) -> str:
    """A short description of a value for an error message: scalars shown, containers named."""
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list | tuple | set):
        return "a list" if value else "an empty list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _check_virtual_models(settings: Settings) -> None:
    from ollama_openai_proxy.translate.errors import ProxyError
    from ollama_openai_proxy.virtual.spec import from_create_request

    file = settings.file_config()
    for i, spec in enumerate(file.virtual_models if file else []):
        try:
            from_create_request(spec)
        except ProxyError as exc:
            raise ConfigError(f"{settings.config}: virtual_models[{i}]: {exc.message}") from None


def load_settings() -> Settings:
    """Read and validate the settings, turning any problem into one ``ConfigError`` line."""
    from pydantic_settings import SettingsError

    try:
        settings = Settings()
        settings.listen_address()
        settings.backends()
        settings.inbound_keys()
        _check_virtual_models(settings)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
        secret = field.lower() in _SECRET_FIELDS
        raise ConfigError(
            describe_validation_error(exc, _variable_for(field), show_input=not secret)
        ) from None
    except SettingsError as exc:
        raise ConfigError(_one_line(exc)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f".env: the file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
    return settings


_SECRET_FIELDS = {"openai_api_key", "api_keys"}


def _variable_for(loc: str) -> str:
    """The variable the operator set for a settings field (or one of its aliases), as they spelled it,
    with ``(in .env)`` when it came from the .env file."""
    names = [f"OLLAMA_PROXY_{loc.upper()}"]
    for field_name, field in Settings.model_fields.items():
        choices = field.validation_alias.choices if isinstance(field.validation_alias, AliasChoices) else []
        if field_name == loc or loc in choices:
            names = [str(c) for c in choices] or names
    for name in names:
        for key in os.environ:
            if key.upper() == name.upper():
                return key
    return f"{names[0]} (in .env)" if Path(".env").is_file() else names[0]
