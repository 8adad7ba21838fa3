"""Typed settings: the environment (or a .env file) read once into one validated object."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ProfileName = Literal["auto", "openai", "vllm", "llamacpp", "openrouter", "generic"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11434


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


class BackendConfig(BaseModel):
    """One OpenAI-compatible backend."""

    name: str = "default"
    base_url: str
    api_key: SecretStr | None = None
    profile: ProfileName = "auto"
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(600.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return normalize_base_url(value)


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


class Settings(BaseSettings):
    """Everything the proxy reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="OLLAMA_PROXY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "OPENAI_API_BASE_URL")
    )
    openai_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    ollama_host: str = Field("", validation_alias=AliasChoices("OLLAMA_HOST"))
    backend_profile: ProfileName = "auto"
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(600.0, gt=0)
    models_ttl: float = Field(30.0, ge=0)
    default_context_length: int = Field(8192, gt=0)
    reported_version: str | None = None
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @field_validator("openai_base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else normalize_base_url(value)

    def backends(self) -> list[BackendConfig]:
        """The configured backends, in priority order."""
        if not self.openai_base_url:
            raise ConfigError(
                "OPENAI_BASE_URL is not set: point it at an OpenAI-compatible server, "
                "e.g. OPENAI_BASE_URL=http://127.0.0.1:8080/v1"
            )
        key = self.openai_api_key if self.openai_api_key and self.openai_api_key.get_secret_value() else None
        return [
            BackendConfig(
                base_url=self.openai_base_url,
                api_key=key,
                profile=self.backend_profile,
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
            )
        ]

    def listen_address(self) -> tuple[str, int]:
        return parse_ollama_host(self.ollama_host)


def load_settings() -> Settings:
    """Read and validate the settings, turning any problem into one ``ConfigError`` line."""
    try:
        settings = Settings()
        settings.backends()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        env = _ENV_NAMES.get(where, f"OLLAMA_PROXY_{where.upper()}")
        raise ConfigError(f"{env}: {first['msg']}") from None
    return settings


_ENV_NAMES = {
    "openai_base_url": "OPENAI_BASE_URL",
    "openai_api_key": "OPENAI_API_KEY",
    "ollama_host": "OLLAMA_HOST",
}
