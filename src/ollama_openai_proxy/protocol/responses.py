"""OpenAI Responses wire types: the request as pydantic models (validated input), the answer as TypedDicts."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

# --- request -----------------------------------------------------------------------------------


class _Open(BaseModel):
    # built on first use: most proxies never see this dialect
    model_config = ConfigDict(extra="allow", defer_build=True)


class InputText(_Open):
    type: Literal["input_text", "output_text"]
    text: str


class Refusal(_Open):
    type: Literal["refusal"]
    refusal: str


class InputImage(_Open):
    """``image_url`` is a ``data:`` URI (jpeg, png or webp) in Ollama; http(s) URLs and file ids are refused."""

    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: str | None = None


class InputFile(_Open):
    type: Literal["input_file"]


ContentPart = Annotated[InputText | Refusal | InputImage | InputFile, Field(discriminator="type")]


class MessageItem(_Open):
    type: Literal["message"] | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: str | list[ContentPart]


class FunctionCallItem(_Open):
    type: Literal["function_call"]
    call_id: str
    name: str
    arguments: str = ""  # JSON text
    id: str | None = None


class FunctionCallOutputItem(_Open):
    type: Literal["function_call_output"]
    call_id: str
    output: str | list[ContentPart]


class SummaryText(_Open):
    type: str = "summary_text"
    text: str


class ReasoningItem(_Open):
    type: Literal["reasoning"]
    summary: list[SummaryText] = Field(default_factory=list)
    encrypted_content: str | None = None
    id: str | None = None


def _item_type(value: Any) -> str:
    kind = value.get("type", "message") if isinstance(value, dict) else getattr(value, "type", None)
    return kind or "message"


InputItem = Annotated[
    Annotated[MessageItem, Tag("message")]
    | Annotated[FunctionCallItem, Tag("function_call")]
    | Annotated[FunctionCallOutputItem, Tag("function_call_output")]
    | Annotated[ReasoningItem, Tag("reasoning")],
    Discriminator(_item_type),
]


class Reasoning(_Open):
    effort: str | None = None
    summary: str | None = None


class TextFormat(_Open):
    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class TextConfig(_Open):
    format: TextFormat | None = None


class ResponsesRequest(_Open):
    """``POST /v1/responses``, stateless: what is needed is in the request (``input`` and ``instructions``)."""

    model: str
    input: str | list[InputItem] = ""
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = None  # tokens
    temperature: float | None = None
    top_p: float | None = None
    reasoning: Reasoning | None = None
    text: TextConfig | None = None
    stream: bool | None = None
    store: bool | None = None
    background: bool | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


# --- answer ------------------------------------------------------------------------------------


class OutputText(TypedDict):
    type: Literal["output_text"]
    text: str
    annotations: list[Any]


class InputTokensDetails(TypedDict):
    cached_tokens: int


class OutputTokensDetails(TypedDict):
    reasoning_tokens: int


class ResponseUsage(TypedDict):
    input_tokens: int  # prompt tokens
    output_tokens: int  # generated tokens
    total_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens_details: OutputTokensDetails


class ResponseObject(TypedDict, total=False):
    id: str  # resp_…
    object: Literal["response"]
    created_at: int  # Unix seconds
    status: Literal["in_progress", "completed", "failed", "incomplete"]
    model: str  # as the client asked for it
    output: list[dict[str, Any]]
    usage: ResponseUsage | None
    error: dict[str, Any] | None
    incomplete_details: dict[str, Any] | None
    instructions: str | None
    max_output_tokens: int | None
    temperature: float
    top_p: float
    text: dict[str, Any]
    reasoning: dict[str, Any]
    tools: list[dict[str, Any]]
    tool_choice: Any
    parallel_tool_calls: bool
    previous_response_id: None
    store: bool
    truncation: str
    metadata: dict[str, Any]


class ResponsesEvent(TypedDict):
    """One SSE event: its ``event:`` name and its ``data:`` (with ``type`` and ``sequence_number``)."""

    event: str
    data: dict[str, Any]
