"""Ollama request bodies as pydantic models: what clients may send, validated once at the edge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Required, TypedDict

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from ollama_openai_proxy.translate import keepalive

ThinkValue = bool | Literal["low", "medium", "high", "max"]
THINK_LEVELS = ("low", "medium", "high", "max")


# Booleans and integers are as strict as Go's encoding/json, which Ollama decodes with: "true",
# 1, 5.0 or 1e3 are refused where a bool or an int is expected (``options`` are laxer there and
# here: translate/options.py). Go's decoder is lenient elsewhere and so is this one: unknown keys
# are kept, base64 images may be wrapped in lines (translate/request.py).


class _Request(BaseModel):
    # Unknown top-level keys are kept (not rejected, as in Ollama) so they can be reported.
    model_config = ConfigDict(extra="allow")

    def unknown_fields(self) -> list[str]:
        return sorted(self.model_extra or {})


class _KeepAlive(_Request):
    # Seconds once validated (negative: forever), checked and clamped here as Ollama's api.Duration
    # does, so nothing later can meet a value it cannot store or print.
    keep_alive: float | None = None

    @field_validator("keep_alive", mode="before")
    @classmethod
    def _keep_alive(cls, value: Any) -> float | None:
        return keepalive.seconds(value)


def _json(value: Any) -> str:
    """A rejected value as the client wrote it (JSON), not as Python prints it."""
    return orjson.dumps(value, default=str).decode()


def _check_think(value: Any) -> Any:
    if value is None or isinstance(value, bool) or value in THINK_LEVELS:
        return value
    shown = f'"{value}"' if isinstance(value, str) else _json(value)
    raise ValueError(f'invalid think value: {shown} (must be "high", "medium", "low", "max", true, or false)')


def check_tool_schema(schema: object, where: str) -> dict[str, object]:
    """A tool's parameters as Ollama's Go types take them (an object; ``properties`` an object of
    schemas; ``required`` a list of names): anything else is the client's 400 there, and here, rather
    than a backend's 500 when its chat template meets it."""
    if not isinstance(schema, dict):
        raise ValueError(
            f"{where}: must be a JSON Schema object" if where else "must be a JSON Schema object"
        )
    at = f"{where}." if where else ""
    properties = schema.get("properties")
    if properties is not None and not (
        isinstance(properties, dict) and all(isinstance(p, dict) for p in properties.values())
    ):
        raise ValueError(f"{at}properties: must be an object of JSON Schemas")
    required = schema.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(r, str) for r in required)
    ):
        raise ValueError(f"{at}required: must be a list of property names")
    return schema


def _check_tool(tool: dict[str, object], where: str) -> None:
    if not isinstance(tool.get("type", ""), str):
        raise ValueError(f"{where}.type: must be a string")
    function = tool.get("function")
    if function is None:
        return
    if not isinstance(function, dict):
        raise ValueError(f"{where}.function: must be an object")
    for key in ("name", "description"):
        if function.get(key) is not None and not isinstance(function[key], str):
            raise ValueError(f"{where}.function.{key}: must be a string")
    if function.get("parameters") is not None:
        check_tool_schema(function["parameters"], f"{where}.function.parameters")


class ToolCallFunction(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    arguments: dict[str, object] | str = Field(default_factory=dict)  # tool arguments: any JSON object
    index: StrictInt | None = None


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    type: str | None = None
    function: ToolCallFunction


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | None = ""
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None

    @field_validator("role")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()


class _Inference(_KeepAlive):
    model: str = ""
    stream: StrictBool | None = None
    options: dict[str, object] | None = None  # checked against the options table in translate/options.py
    format: str | dict[str, object] | None = None  # "json" or a JSON Schema
    think: ThinkValue | None = None
    logprobs: StrictBool | None = None
    top_logprobs: StrictInt | None = None
    truncate: StrictBool | None = None
    shift: StrictBool | None = None

    @field_validator("think", mode="before")
    @classmethod
    def _think(cls, value: Any) -> Any:
        return _check_think(value)

    @field_validator("top_logprobs")
    @classmethod
    def _top_logprobs(cls, value: int | None) -> int | None:
        if value is not None and not 0 <= value <= 20:
            raise ValueError("top_logprobs must be between 0 and 20")
        return value

    @field_validator("format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        if value is None or value == "" or value == "json" or isinstance(value, dict):
            return value or None
        raise ValueError(f'invalid format: {_json(value)}; expected "json" or a valid JSON Schema object')

    @property
    def streaming(self) -> bool:
        return self.stream is not False


class ChatRequest(_Inference):
    messages: list[Message] | None = None
    tools: list[dict[str, object]] | None = None  # function tools, passed on as they came

    @field_validator("tools")
    @classmethod
    def _tools(cls, value: list[dict[str, object]] | None) -> list[dict[str, object]] | None:
        for index, tool in enumerate(value or ()):
            _check_tool(tool, f"tools.{index}")
        return value


class GenerateRequest(_Inference):
    prompt: str | None = ""
    suffix: str | None = ""
    system: str | None = ""
    template: str | None = ""
    context: list[StrictInt] | None = None
    raw: StrictBool | None = False
    images: list[str] | None = None

    @model_validator(mode="after")
    def _raw_mode(self) -> GenerateRequest:
        if self.raw and (self.template or self.system or self.context):
            raise ValueError("raw mode does not support template, system, or context")
        return self


class EmbedRequest(_KeepAlive):
    model: str = ""
    input: str | list[str] | None = None
    truncate: StrictBool | None = None
    dimensions: StrictInt | None = Field(None, gt=0)
    options: dict[str, object] | None = None

    @field_validator("input", mode="before")
    @classmethod
    def _input(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise ValueError("invalid input type")


class EmbeddingsRequest(_KeepAlive):
    model: str = ""
    prompt: str | None = ""
    options: dict[str, object] | None = None


class NamedRequest(_Request):
    """Requests that name one model, with ``name`` accepted as the legacy spelling of ``model``."""

    model: str = ""
    name: str = ""
    stream: StrictBool | None = None
    insecure: StrictBool | None = None
    verbose: StrictBool | None = None

    @property
    def target(self) -> str:
        return self.model or self.name


# The model an /api/create body describes: its JSON fields, or its Modelfile parsed (virtual/).
# Checked by virtual/spec.py, which reads the raw body itself: a body of any shape gets a clear 400.
CreateFields = TypedDict(
    "CreateFields",
    {
        "from": str,  # the base model
        "system": str,
        "template": str,
        "parameters": Mapping[str, object],  # option name → value (numbers may still be text)
        "messages": Sequence[Mapping[str, object]],  # {role, content}
        "license": str | list[str],
    },
    total=False,
)


class CopyRequest(_Request):
    source: str = ""
    destination: str = ""


# --- Answers: built as plain dicts on the hot path, typed here at no run-time cost ----------------


class ToolCallFunctionOut(TypedDict):
    index: int
    name: str
    arguments: dict[str, object]  # always an object (Ollama clients require one)


class ToolCallOut(TypedDict, total=False):
    id: str  # the backend's call id, when it gave one
    function: Required[ToolCallFunctionOut]


class Logprob(TypedDict, total=False):
    token: Required[str]
    logprob: Required[float]  # natural log of the token's probability
    bytes: list[int]
    top_logprobs: list[Logprob]


class Metrics(TypedDict, total=False):
    """The final chunk's counters. Durations in nanoseconds, counts in tokens."""

    total_duration: int  # request arrival to the final chunk
    load_duration: int  # arrival until the backend answered (its response headers)
    prompt_eval_count: int
    prompt_eval_duration: int  # backend answer to first token (llama.cpp: its own prompt_ms)
    eval_count: int
    eval_duration: int  # first to last generated token (llama.cpp: its own predicted_ms)


class AssistantMessage(TypedDict, total=False):
    role: Required[str]  # always "assistant"
    content: Required[str]
    thinking: str
    tool_calls: list[ToolCallOut]


class ChatChunk(Metrics, total=False):
    """One /api/chat NDJSON line, or (``done: true``) the whole answer of a ``stream: false`` chat.

    Deltas arrive as ``done: false`` chunks whose message carries new ``content`` and/or
    ``thinking`` text; tool calls come whole in one ``done: false`` chunk after the text; the last
    chunk has ``done: true``, ``done_reason`` ("stop", "length", "load", "unload") and the metrics.
    """

    model: Required[str]
    created_at: Required[str]  # RFC 3339, UTC
    message: Required[AssistantMessage]
    done: Required[bool]
    done_reason: str
    logprobs: list[Logprob]
    context: list[int]  # the conversation so far, encoded (the final chunk; not for raw prompts)


class GenerateChunk(Metrics, total=False):
    """One /api/generate NDJSON line, or (``done: true``) the whole answer; as ChatChunk, with the
    text in ``response`` and ``thinking`` and tool calls at the top level."""

    model: Required[str]
    created_at: Required[str]
    response: Required[str]
    thinking: str
    tool_calls: list[ToolCallOut]
    done: Required[bool]
    done_reason: str
    logprobs: list[Logprob]
    context: list[int]  # the conversation so far, encoded (the final chunk; not for raw prompts)


Chunk = ChatChunk | GenerateChunk


class ErrorResponse(TypedDict):
    """Ollama's error shape, as a whole answer or as the last line of a stream."""

    error: str


class EmbedResponse(TypedDict, total=False):
    """``POST /api/embed``: one unit-length vector per input, in input order."""

    model: Required[str]
    embeddings: Required[list[list[float]]]
    total_duration: int  # nanoseconds
    prompt_eval_count: int  # tokens


class EmbeddingsResponse(TypedDict):
    """``POST /api/embeddings`` (legacy): one vector, not normalised."""

    embedding: list[float]


class ModelDetails(TypedDict):
    parent_model: str  # the base of a virtual model
    format: str  # "gguf", or "" when the backend does not say
    family: str
    families: list[str]
    parameter_size: str  # "7.6B"
    quantization_level: str


class TagsModel(TypedDict):
    """One ``GET /api/tags`` entry."""

    name: str
    model: str
    modified_at: str  # RFC 3339
    size: int  # bytes
    digest: str  # sha256, hex
    details: ModelDetails
    capabilities: list[str]


class TagsResponse(TypedDict):
    models: list[TagsModel]


class RunningModel(TypedDict, total=False):
    """One ``GET /api/ps`` entry."""

    name: Required[str]
    model: Required[str]
    size: Required[int]  # bytes
    digest: Required[str]
    details: Required[ModelDetails]
    expires_at: Required[str]  # RFC 3339
    size_vram: Required[int]  # bytes
    context_length: int  # tokens


class PsResponse(TypedDict):
    models: list[RunningModel]


class MessageOut(TypedDict):
    role: str
    content: str


class ShowResponse(TypedDict, total=False):
    """``POST /api/show``. ``model_info`` holds GGUF-style keys (``general.architecture``,
    ``<arch>.context_length``), whose names depend on the architecture."""

    modelfile: Required[str]
    parameters: Required[str]  # one PARAMETER per line
    template: Required[str]
    details: Required[ModelDetails]
    model_info: Required[dict[str, str | int]]
    capabilities: Required[list[str]]
    modified_at: Required[str]  # RFC 3339
    system: str
    messages: list[MessageOut]
    license: str


class ProgressLine(TypedDict, total=False):
    """A status line of a pull or create stream; the layer line carries ``digest`` and sizes."""

    status: Required[str]
    digest: str
    total: int  # bytes
    completed: int  # bytes


class VersionResponse(TypedDict):
    version: str
