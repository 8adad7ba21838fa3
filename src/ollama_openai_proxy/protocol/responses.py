"""OpenAI Responses wire types: the request as pydantic models (validated input), the answer as TypedDicts."""

from __future__ import annotations

from typing import Annotated, Literal, NotRequired, TypedDict

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, StrictInt, Tag

from ollama_openai_proxy.protocol.openai import Number

# --- request -----------------------------------------------------------------------------------

# Booleans and numbers are as strict as Go's encoding/json (and OpenAI's API): "true", "5" or 5.0
# where an integer goes are a 400, never read as something the client may not have meant.


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


def _item_type(value: object) -> str:
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
    schema_: dict[str, object] | None = Field(None, alias="schema")  # a JSON Schema
    strict: StrictBool | None = None


class TextConfig(_Open):
    format: TextFormat | None = None


class ResponsesRequest(_Open):
    """``POST /v1/responses``, stateless: what is needed is in the request (``input`` and ``instructions``)."""

    model: str
    input: str | list[InputItem] = ""
    instructions: str | None = None
    tools: list[dict[str, object]] | None = None  # function tools are used; every tool is echoed
    tool_choice: str | dict[str, object] | None = None
    parallel_tool_calls: StrictBool | None = None
    max_output_tokens: StrictInt | None = None  # tokens
    temperature: Number | None = None
    top_p: Number | None = None
    reasoning: Reasoning | None = None
    text: TextConfig | None = None
    stream: StrictBool | None = None
    store: StrictBool | None = None
    background: StrictBool | None = None
    previous_response_id: str | None = None
    conversation: str | dict[str, object] | None = None
    metadata: dict[str, object] | None = None  # the client's own, echoed


# --- answer ------------------------------------------------------------------------------------

ItemStatus = Literal["in_progress", "completed", "incomplete"]


class OutputText(TypedDict):
    type: Literal["output_text"]
    text: str
    annotations: list[object]  # always empty here (no citations)


class SummaryTextOut(TypedDict):
    type: Literal["summary_text"]
    text: str


class ReasoningOut(TypedDict):
    id: str  # rs_…
    type: Literal["reasoning"]
    summary: list[SummaryTextOut]
    encrypted_content: NotRequired[str]  # the reasoning again, for the client to send back


class MessageOut(TypedDict):
    id: str  # msg_…
    type: Literal["message"]
    status: ItemStatus
    role: Literal["assistant"]
    content: list[OutputText]


class FunctionCallOut(TypedDict):
    id: str  # fc_…
    type: Literal["function_call"]
    status: ItemStatus
    call_id: str  # call_…: what the client's function_call_output names
    name: str
    arguments: str  # JSON text of an object


OutputItem = ReasoningOut | MessageOut | FunctionCallOut


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


class ResponseError(TypedDict):
    code: Literal["server_error", "invalid_request_error"]
    message: str


class TextEcho(TypedDict):
    format: dict[str, object]  # the client's text.format as it sent it (a schema included)


class EchoedSettings(TypedDict):
    """The request's settings as a response repeats them (stateless: ``store`` is always false)."""

    instructions: str | None
    max_output_tokens: int | None  # tokens
    temperature: float
    top_p: float
    text: TextEcho
    reasoning: dict[str, object]  # the client's reasoning object (effort, summary and any other key)
    tools: list[dict[str, object]]  # the client's tools, as sent
    tool_choice: str | dict[str, object]
    parallel_tool_calls: bool
    previous_response_id: None
    store: bool
    truncation: Literal["disabled"]
    metadata: dict[str, object]


ResponseStatus = Literal["in_progress", "completed", "failed", "incomplete"]


class ResponseObject(EchoedSettings):
    id: str  # resp_…
    object: Literal["response"]
    created_at: int  # Unix seconds
    status: ResponseStatus
    error: ResponseError | None
    incomplete_details: None
    model: str  # as the client asked for it
    output: list[OutputItem]
    usage: ResponseUsage | None


# --- stream events: ``type`` repeats the event's name; ``sequence_number`` counts from 0 ----------


class ResponseEvent(TypedDict):
    type: Literal["response.created", "response.in_progress", "response.completed", "response.failed"]
    sequence_number: int
    response: ResponseObject


class OutputItemEvent(TypedDict):
    type: Literal["response.output_item.added", "response.output_item.done"]
    sequence_number: int
    output_index: int
    item: OutputItem


class ContentPartEvent(TypedDict):
    type: Literal["response.content_part.added", "response.content_part.done"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    part: OutputText


class OutputTextDelta(TypedDict):
    type: Literal["response.output_text.delta"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[object]  # always empty here


class OutputTextDone(TypedDict):
    type: Literal["response.output_text.done"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[object]


class ReasoningSummaryDelta(TypedDict):
    type: Literal["response.reasoning_summary_text.delta"]
    sequence_number: int
    item_id: str
    output_index: int
    summary_index: int
    delta: str


class ReasoningSummaryDone(TypedDict):
    type: Literal["response.reasoning_summary_text.done"]
    sequence_number: int
    item_id: str
    output_index: int
    summary_index: int
    text: str


class ArgumentsDelta(TypedDict):
    type: Literal["response.function_call_arguments.delta"]
    sequence_number: int
    item_id: str
    output_index: int
    delta: str


class ArgumentsDone(TypedDict):
    type: Literal["response.function_call_arguments.done"]
    sequence_number: int
    item_id: str
    output_index: int
    name: str
    arguments: str


EventData = (
    ResponseEvent
    | OutputItemEvent
    | ContentPartEvent
    | OutputTextDelta
    | OutputTextDone
    | ReasoningSummaryDelta
    | ReasoningSummaryDone
    | ArgumentsDelta
    | ArgumentsDone
)


class ResponsesEvent(TypedDict):
    """One SSE event: its ``event:`` name and its ``data:``."""

    event: str
    data: EventData
