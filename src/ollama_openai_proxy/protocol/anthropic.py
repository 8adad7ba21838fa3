"""Anthropic Messages wire types: the request as pydantic models (validated input), the answer as TypedDicts."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from ollama_openai_proxy.protocol.ollama import check_tool_schema
from ollama_openai_proxy.protocol.openai import Number

# --- request -----------------------------------------------------------------------------------

# Booleans and numbers are as strict as Go's encoding/json (and Anthropic's API): "true", "5" or 5.0
# where an integer goes are a 400, never read as something the client may not have meant.


class _Open(BaseModel):
    # Fields this proxy has no use for (cache_control, citations, ...) are accepted, as Ollama does.
    # built on first use: most proxies never see this dialect
    model_config = ConfigDict(extra="allow", defer_build=True)


class TextBlock(_Open):
    type: Literal["text"]
    text: str


class ImageSource(_Open):
    """``base64`` (``media_type`` + ``data``) is the only source Ollama takes; ``url`` is refused."""

    type: str
    media_type: str | None = None
    data: str | None = None
    url: str | None = None


class ImageBlock(_Open):
    type: Literal["image"]
    source: ImageSource


class ToolUseBlock(_Open):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, object] = Field(default_factory=dict)  # tool arguments: any JSON object


class ToolResultBlock(_Open):
    type: Literal["tool_result"]
    tool_use_id: str
    content: str | list[Annotated[TextBlock | ImageBlock, Field(discriminator="type")]] | None = None
    is_error: StrictBool | None = None


class ThinkingBlock(_Open):
    type: Literal["thinking"]
    thinking: str
    signature: str | None = None


class RedactedThinkingBlock(_Open):
    type: Literal["redacted_thinking"]
    data: str = ""


ContentBlock = Annotated[
    TextBlock | ImageBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock,
    Field(discriminator="type"),
]


class MessageParam(_Open):
    """A turn; Anthropic knows ``user`` and ``assistant``, Ollama passes any role on (clients send ``system``)."""

    role: str
    content: str | list[ContentBlock]


class ToolParam(_Open):
    """A client tool; ``type`` is absent or ``custom`` (server tools such as web search are refused)."""

    name: str
    description: str | None = None
    input_schema: dict[str, object] = Field(default_factory=dict)  # a JSON Schema
    type: str | None = None

    @field_validator("input_schema")
    @classmethod
    def _schema(cls, value: dict[str, object]) -> dict[str, object]:
        return check_tool_schema(value, "")  # the error names the field


class ThinkingConfig(_Open):
    type: Literal["enabled", "disabled", "adaptive"]
    budget_tokens: StrictInt | None = None  # tokens; not a budget in Ollama (thinking is on or off)


class OutputConfig(_Open):
    effort: str | None = None  # "low", "medium", "high", "max"


class MessagesRequest(_Open):
    """``POST /v1/messages``: ``model``, ``max_tokens`` (tokens) and ``messages`` are required."""

    model: str
    max_tokens: StrictInt
    messages: list[MessageParam]
    system: str | list[TextBlock] | None = None
    stream: StrictBool | None = None
    temperature: Number | None = None
    top_p: Number | None = None
    top_k: StrictInt | None = None
    stop_sequences: list[str] | None = None
    tools: list[ToolParam] | None = None
    tool_choice: dict[str, object] | None = None  # ignored, as by Ollama
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    metadata: dict[str, object] | None = None  # the client's own, ignored


# --- answer ------------------------------------------------------------------------------------

StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]


class Usage(TypedDict):
    input_tokens: int  # prompt tokens
    output_tokens: int  # generated tokens


class TextOut(TypedDict):
    type: Literal["text"]
    text: str


class ThinkingOut(TypedDict):
    type: Literal["thinking"]
    thinking: str
    signature: str


class ToolUseOut(TypedDict):
    type: Literal["tool_use"]
    id: str
    name: str
    input: dict[str, object]  # the tool's arguments (streamed: {} here, then input_json_delta)


ContentOut = TextOut | ThinkingOut | ToolUseOut


class MessageOut(TypedDict):
    id: str  # msg_…
    type: Literal["message"]
    role: Literal["assistant"]
    model: str  # the model name as the client asked for it
    content: list[ContentOut]
    stop_reason: StopReason | None  # None in message_start
    stop_sequence: str | None
    usage: Usage


class ErrorDetail(TypedDict):
    type: str
    message: str


class ErrorOut(TypedDict):
    type: Literal["error"]
    error: ErrorDetail
    request_id: NotRequired[str]


# --- stream events: each ``data`` repeats the event's name as ``type`` ------------------------------


class MessageStart(TypedDict):
    type: Literal["message_start"]
    message: MessageOut  # empty content, no stop_reason yet


class Ping(TypedDict):
    type: Literal["ping"]


class ContentBlockStart(TypedDict):
    type: Literal["content_block_start"]
    index: int  # the block's position in the message's content
    content_block: ContentOut  # empty text or thinking; a tool_use with input {}


class TextDelta(TypedDict):
    type: Literal["text_delta"]
    text: str


class ThinkingDelta(TypedDict):
    type: Literal["thinking_delta"]
    thinking: str


class InputJSONDelta(TypedDict):
    type: Literal["input_json_delta"]
    partial_json: str  # a piece of the tool arguments' JSON text


BlockDelta = TextDelta | ThinkingDelta | InputJSONDelta


class ContentBlockDelta(TypedDict):
    type: Literal["content_block_delta"]
    index: int
    delta: BlockDelta


class ContentBlockStop(TypedDict):
    type: Literal["content_block_stop"]
    index: int


class StopDelta(TypedDict):
    stop_reason: StopReason
    stop_sequence: str | None


class MessageDelta(TypedDict):
    type: Literal["message_delta"]
    delta: StopDelta
    usage: Usage


class MessageStop(TypedDict):
    type: Literal["message_stop"]


EventData = (
    MessageStart
    | Ping
    | ContentBlockStart
    | ContentBlockDelta
    | ContentBlockStop
    | MessageDelta
    | MessageStop
    | ErrorOut
)


class StreamEvent(TypedDict):
    """One SSE event: its ``event:`` name and its ``data:`` object."""

    event: str
    data: EventData
