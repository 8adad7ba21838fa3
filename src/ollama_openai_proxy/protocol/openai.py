"""The structure of the OpenAI request bodies the proxy relays (/v1/chat/completions, /v1/completions,
/v1/embeddings), checked at the edge so a malformed one is a 400 and never reaches a backend.

Only what the proxy or a backend relies on is typed; everything else passes through as sent (the
relayed body is the client's own dict, not a dump of these models)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator

Number = StrictInt | float  # JSON numbers; strings such as "0.5" are refused, as OpenAI does


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in value)


def check_input(value: Any, field: str) -> Any:
    """A string, a list of strings, a list of token ids or a list of lists of token ids, as OpenAI
    takes for ``input`` and ``prompt``; anything else a ValueError naming the field."""
    shapes = "a string, a list of strings, a list of token ids or a list of lists of token ids"
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ValueError(f"invalid {field}: expected {shapes}")
    if not value:
        raise ValueError(f"invalid {field}: the list is empty")
    if all(isinstance(v, str) for v in value) or _is_tokens(value):
        return value
    if all(_is_tokens(v) and v for v in value):
        return value
    raise ValueError(f"invalid {field}: expected {shapes}")


class _Relayed(BaseModel):
    # Unknown fields are the backend's to judge; the schema is built on first use (start-up time).
    model_config = ConfigDict(extra="allow", defer_build=True)

    model: StrictStr | None = None  # a missing one is the relay's own 400 (Ollama's wording)
    stream: StrictBool | None = None
    stream_options: dict[str, Any] | None = None
    user: StrictStr | None = None


class _Sampled(_Relayed):
    max_tokens: StrictInt | None = None
    temperature: Number | None = None
    top_p: Number | None = None
    frequency_penalty: Number | None = None
    presence_penalty: Number | None = None
    seed: StrictInt | None = None
    n: StrictInt | None = None
    stop: StrictStr | list[StrictStr] | None = None


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    role: StrictStr
    content: StrictStr | list[dict[str, Any]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    name: StrictStr | None = None
    tool_call_id: StrictStr | None = None

    @field_validator("content")
    @classmethod
    def _typed_parts(cls, value: Any) -> Any:
        if isinstance(value, list) and not all(isinstance(p.get("type"), str) for p in value):
            raise ValueError('every content part needs a "type" string')
        return value


class ChatCompletionsIn(_Sampled):
    messages: list[ChatMessageIn] = Field(min_length=1)
    max_completion_tokens: StrictInt | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: StrictStr | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    top_logprobs: StrictInt | None = None
    logprobs: StrictBool | None = None


class CompletionsIn(_Sampled):
    prompt: Any = None
    suffix: StrictStr | None = None
    echo: StrictBool | None = None
    logprobs: StrictInt | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: Any) -> Any:
        return None if value is None else check_input(value, "prompt")


class EmbeddingsIn(_Relayed):
    input: Any
    dimensions: StrictInt | None = None
    encoding_format: StrictStr | None = None

    @field_validator("input")
    @classmethod
    def _input(cls, value: Any) -> Any:
        return check_input(value, "input")


RELAYED: dict[str, type[_Relayed]] = {
    "chat/completions": ChatCompletionsIn,
    "completions": CompletionsIn,
    "embeddings": EmbeddingsIn,
}
