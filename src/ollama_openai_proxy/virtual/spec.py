"""VirtualModel, a model derived from another by `ollama create` (FROM + SYSTEM/PARAMETER/MESSAGE/...)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ollama_openai_proxy.protocol.ollama import CreateFields
from ollama_openai_proxy.protocol.options import OptionValue
from ollama_openai_proxy.translate import names
from ollama_openai_proxy.virtual.errors import VirtualModelError
from ollama_openai_proxy.virtual.params import normalize_parameters

ROLES = ("system", "user", "assistant")
ROLE_ERROR = 'message role must be one of "system", "user", or "assistant"'
WEIGHTS_ERROR = (
    "creating models from weights is not supported: the proxy serves models from OpenAI-compatible "
    "backends; use FROM an existing model"
)
NO_FROM_ERROR = "no FROM line"
_WEIGHT_FIELDS = ("files", "adapters", "quantize", "quantization", "draft_files", "draft_quantize")
_WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pth", ".pt")


def normalize_name(name: str) -> str:
    """An Ollama model name as stored and shown: case kept, default registry prefix dropped, tag added.

    ``"Pirate"`` → ``"Pirate:latest"``, ``"registry.ollama.ai/library/x:1b"`` → ``"x:1b"``; an
    ill-formed name raises VirtualModelError ``invalid model name``.
    """
    text = name.strip()
    if not text or not names.is_valid(text):
        raise VirtualModelError("invalid model name")
    for prefix in (names.DEFAULT_HOST, names.DEFAULT_NAMESPACE):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    return text if ":" in text else f"{text}:latest"


class ModelMessage(BaseModel):
    """One Modelfile MESSAGE: a turn replayed before the conversation."""

    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)

    role: Literal["system", "user", "assistant"]
    content: str = ""

    @field_validator("role", mode="before")
    @classmethod
    def _role(cls, value: Any) -> Any:
        role = value.lower() if isinstance(value, str) else value
        if role not in ROLES:
            raise VirtualModelError(ROLE_ERROR)
        return role

    @field_validator("content", mode="before")
    @classmethod
    def _content(cls, value: Any) -> Any:
        return "" if value is None else value


class VirtualModel(BaseModel):
    """A model the proxy serves by rewriting requests for ``base`` (another model, possibly virtual).

    ``template`` is stored and shown but never applied: the backend applies its own chat template.
    Build one from an /api/create body with :func:`from_create_request`; direct construction (e.g.
    from stored JSON) runs the same checks and raises pydantic's ValidationError.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    name: str
    base: str
    system: str | None = None
    parameters: dict[str, OptionValue] = Field(default_factory=dict)
    messages: list[ModelMessage] = Field(default_factory=list)
    template: str | None = None
    license: list[str] = Field(default_factory=list)
    created_at: float = Field(default_factory=time.time)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return normalize_name(value)

    @field_validator("base")
    @classmethod
    def _base(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise VirtualModelError(NO_FROM_ERROR)
        return value

    @field_validator("system", "template")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None  # Ollama stores no SYSTEM/TEMPLATE layer for an empty string

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters(cls, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise VirtualModelError("parameters must be an object of option names to values")
        return normalize_parameters(value)

    @field_validator("license", mode="before")
    @classmethod
    def _license(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @property
    def key(self) -> str:
        """The matching key (``translate.names.canonical``): case-folded, ``:latest`` dropped."""
        return names.canonical(self.name)

    @property
    def digest(self) -> str:
        """A sha256 hex of the model's content (not its name or time), so a copy has its original's digest."""
        content = self.model_dump(mode="json", exclude={"name", "created_at"})
        return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def renamed(self, name: str, *, created_at: float | None = None) -> VirtualModel:
        """A copy under another name (``ollama cp``), stamped now unless ``created_at`` is given."""
        return VirtualModel.model_validate(
            {
                **self.model_dump(),
                "name": name,
                "created_at": time.time() if created_at is None else created_at,
            }
        )


def from_create_request(body: Mapping[str, object]) -> VirtualModel:
    """The virtual model an /api/create body describes, or VirtualModelError (a ValueError) saying why not.

    Accepts the current body ``{model|name, from, system, template, parameters, messages, license}``
    and the legacy ``{model|name, modelfile}``; when both a Modelfile and JSON fields are given, the
    JSON fields win (``parameters`` key by key). ``stream``, ``renderer``, ``parser``, ``requires``
    and unknown keys are ignored; weights (``files``, ``adapters``, ``quantize``, ...) are refused.
    """
    from ollama_openai_proxy.virtual.modelfile import parse_modelfile  # modelfile imports this module

    if not isinstance(body, Mapping):
        raise VirtualModelError("request body must be a JSON object")
    if any(body.get(field) for field in _WEIGHT_FIELDS):
        raise VirtualModelError(WEIGHTS_ERROR)
    name = body.get("model") or body.get("name")
    if not name or not isinstance(name, str):  # Ollama's words for both
        raise VirtualModelError("invalid model name")

    fields: CreateFields = {}
    modelfile = body.get("modelfile")
    if modelfile:
        if not isinstance(modelfile, str):
            raise VirtualModelError("modelfile must be a string")
        fields = parse_modelfile(modelfile)

    keys: tuple[Literal["from", "system", "template"], ...] = ("from", "system", "template")
    for key in keys:
        value = body.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise VirtualModelError(f"{key} must be a string")
        fields[key] = value
    parameters = body.get("parameters")
    if parameters is not None:
        if not isinstance(parameters, Mapping):
            raise VirtualModelError("parameters must be an object of option names to values")
        fields["parameters"] = {**fields.get("parameters", {}), **parameters}
    messages = body.get("messages")
    if messages:
        if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
            raise VirtualModelError("messages must be a list of {role, content} objects")
        fields["messages"] = messages
    license_ = body.get("license")
    if license_:
        if not isinstance(license_, str | list) or (
            isinstance(license_, list) and not all(isinstance(s, str) for s in license_)
        ):
            raise VirtualModelError("license must be a string or a list of strings")
        fields["license"] = license_

    base = fields.pop("from", None)
    if not base or not base.strip():
        raise VirtualModelError(NO_FROM_ERROR)
    if _looks_like_weights(base):
        raise VirtualModelError(WEIGHTS_ERROR)
    return build(name=name, base=base, **fields)


def build(**fields: Any) -> VirtualModel:
    """Construct a VirtualModel, turning validation failures into VirtualModelError with a readable text."""
    try:
        return VirtualModel.model_validate(fields)
    except ValidationError as exc:
        raise _user_error(exc) from None


def _user_error(exc: ValidationError) -> VirtualModelError:
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, VirtualModelError):
            return cause
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return VirtualModelError(f"invalid {where}: {first['msg']}")


def _looks_like_weights(base: str) -> bool:
    text = base.strip()
    lowered = text.lower()
    return (
        text.startswith(("/", "./", "../", "~", "\\", ".\\"))
        or (len(text) > 2 and text[1] == ":" and text[2] in "\\/")  # C:\models\x.gguf
        or lowered.startswith("sha256:")
        or lowered.endswith(_WEIGHT_SUFFIXES)
    )
