"""OpenAI wire types as TypedDicts (plain dicts at run time): the requests sent to a backend, the
completions, stream chunks and embeddings it answers, the model object and the error envelope; and
the relayed client bodies (/v1/chat/completions, /v1/completions, /v1/embeddings) as pydantic models,
checked at the edge so a malformed one is a 400 and never reaches a backend (only what the proxy or a
backend relies on is typed; the relayed body is the client's own dict, not a dump of these models).

What a backend sends is untrusted JSON: these say what the translators expect to find, and every
reader still checks the shape before it relies on it (translate/shape.py). Backend extensions the
translators read (llama.cpp ``timings``, reasoning fields under several names) are typed too."""

from __future__ import annotations

from typing import Literal, Required, TypedDict

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

# --- requests the proxy sends --------------------------------------------------------------------


class ImageURL(TypedDict):
    url: str  # a data: URI (base64)


class TextPart(TypedDict):
    type: Literal["text"]
    text: str


class ImagePart(TypedDict):
    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = TextPart | ImagePart


class FunctionCall(TypedDict):
    name: str
    arguments: str  # JSON text of an object


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class FunctionDefinition(TypedDict, total=False):
    name: Required[str]
    description: str
    parameters: dict[str, object]  # a JSON Schema


class Tool(TypedDict):
    """A function tool as OpenAI chat (and Ollama) takes it."""

    type: Literal["function"]
    function: FunctionDefinition


class ChatMessage(TypedDict, total=False):
    """A message sent: ``content`` is text, or text and image parts for user and system turns."""

    role: Required[str]
    content: Required[str | list[ContentPart]]
    tool_calls: list[ToolCall]  # assistant turns
    tool_call_id: str  # tool turns: the call answered
    name: str  # tool turns: the tool's name


class StreamOptions(TypedDict):
    include_usage: bool


class JSONSchemaFormat(TypedDict):
    name: str
    schema: dict[str, object]  # a JSON Schema: open-ended by nature


class ResponseFormat(TypedDict, total=False):
    type: Required[Literal["json_object", "json_schema", "text"]]
    json_schema: JSONSchemaFormat


class ReasoningSwitch(TypedDict, total=False):
    """OpenRouter's ``reasoning``: an effort level, or ``enabled: false``."""

    effort: str
    enabled: bool


class ChatTemplateKwargs(TypedDict, total=False):
    """vLLM's and llama.cpp's arguments to the model's chat template."""

    enable_thinking: bool
    reasoning_effort: str


#: A parameter name that a backend profile maps an Ollama option onto (translate/profiles.py).
SamplingName = Literal[
    "temperature",
    "top_p",
    "seed",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "top_k",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "repetition_penalty",
    "repeat_last_n",
    "n_keep",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
]
#: The two spellings of the generation limit (tokens): OpenAI's newer one and everyone else's.
MaxTokensName = Literal["max_tokens", "max_completion_tokens"]


class SamplingParams(TypedDict, total=False):
    """The sampling parameters of a chat or completions request. Counts are tokens."""

    max_tokens: int  # most tokens to generate
    max_completion_tokens: int  # the same, as OpenAI's reasoning models name it
    temperature: float
    top_p: float  # 0-1
    seed: int
    stop: list[str]
    frequency_penalty: float
    presence_penalty: float
    top_k: int  # vLLM, llama.cpp, OpenRouter
    min_p: float  # 0-1; vLLM, llama.cpp, OpenRouter
    typical_p: float  # llama.cpp
    repeat_penalty: float  # llama.cpp
    repetition_penalty: float  # vLLM, OpenRouter
    repeat_last_n: int  # llama.cpp: tokens looked back at
    n_keep: int  # llama.cpp: prompt tokens kept on a context shift
    mirostat: int  # llama.cpp: 0, 1 or 2
    mirostat_tau: float
    mirostat_eta: float


class GenerationParams(SamplingParams, total=False):
    """What chat and completions requests share."""

    model: Required[str]  # the backend's model id
    stream: bool
    stream_options: StreamOptions
    response_format: ResponseFormat


class ChatCompletionRequest(GenerationParams, total=False):
    """``POST /v1/chat/completions`` as the proxy sends it."""

    messages: list[ChatMessage]
    logprobs: bool
    top_logprobs: int  # 0-20 alternatives per token
    tools: list[dict[str, object]]  # the client's tool definitions, passed on as they came
    reasoning_effort: str  # "low", "medium", "high"
    reasoning: ReasoningSwitch
    chat_template_kwargs: ChatTemplateKwargs


class CompletionRequest(GenerationParams, total=False):
    """``POST /v1/completions`` (raw prompts and fill-in-the-middle) as the proxy sends it."""

    prompt: str
    suffix: str
    logprobs: int  # here the number of alternatives per token, not a switch


class EmbeddingRequest(TypedDict, total=False):
    """``POST /v1/embeddings``."""

    model: Required[str]
    input: Required[list[str]]
    encoding_format: Literal["float", "base64"]
    dimensions: int  # keep the first n dimensions (OpenAI's own models)


OpenAIRequest = ChatCompletionRequest | CompletionRequest | EmbeddingRequest

# --- answers a backend gives ---------------------------------------------------------------------


class TokenLogprob(TypedDict, total=False):
    token: Required[str]
    logprob: Required[float]  # natural log of the probability
    bytes: list[int] | None  # the token's UTF-8 bytes
    top_logprobs: list[TokenLogprob]  # the most likely alternatives (without their own)


class ChoiceLogprobs(TypedDict, total=False):
    """Chat logprobs: one entry per generated token."""

    content: list[TokenLogprob] | None
    refusal: list[TokenLogprob] | None


class CompletionLogprobs(TypedDict, total=False):
    """Legacy /v1/completions logprobs: parallel lists, one item per token."""

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]]  # token → logprob, for each position
    text_offset: list[int]  # characters


class ToolCallFunctionDelta(TypedDict, total=False):
    name: str
    arguments: str | dict[str, object]  # JSON text, in pieces; a few servers send the object


class ToolCallDelta(TypedDict, total=False):
    """A piece of a streamed tool call (translate/toolcalls.py): the id and name on its first piece."""

    index: int
    id: str
    type: Literal["function"]
    function: ToolCallFunctionDelta


class Reasoning(TypedDict, total=False):
    """Reasoning beside the answer, as servers name it: vLLM, llama.cpp and DeepSeek
    ``reasoning_content``; OpenRouter ``reasoning`` (and typed ``reasoning_details``); some
    gateways ``thinking``. A value is text or a list of typed parts."""

    reasoning_content: str | list[object]
    reasoning: str | list[object]
    thinking: str | list[object]
    reasoning_details: list[object]


class ChoiceDelta(Reasoning, total=False):
    role: str
    content: str | list[object] | None  # text, or typed parts from some servers
    refusal: str | None
    tool_calls: list[ToolCallDelta]


class ChatCompletionMessage(Reasoning, total=False):
    role: str  # "assistant"
    content: str | list[object] | None
    refusal: str | None
    tool_calls: list[ToolCallDelta]  # whole calls: every field given


class Choice(Reasoning, total=False):
    """One choice of a chat answer (``message``, or ``delta`` when streamed) or of a completions
    answer (``text``), as the translators read both."""

    index: int
    message: ChatCompletionMessage
    delta: ChoiceDelta
    text: str | list[object] | None
    finish_reason: str | None  # "stop", "length", "tool_calls", "content_filter", "function_call"
    logprobs: ChoiceLogprobs | CompletionLogprobs | None


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Timings(TypedDict, total=False):
    """llama.cpp's own measurements, on its final chunk or whole answer."""

    prompt_n: int  # prompt tokens evaluated
    cache_n: int  # prompt tokens reused from the cache
    prompt_ms: float  # milliseconds
    predicted_n: int  # tokens generated
    predicted_ms: float  # milliseconds


class ErrorDetail(TypedDict, total=False):
    message: Required[str]
    type: str
    param: str | None
    code: str | int | None


class ChatCompletion(TypedDict, total=False):
    """A whole answer: ``object`` is ``chat.completion`` (or ``text_completion``); a streamed
    answer is a series of these with ``object: chat.completion.chunk`` and ``delta`` choices."""

    id: str
    object: str
    created: int  # Unix seconds
    model: str
    choices: list[Choice]
    usage: Usage | None  # streamed: on the last chunk only, when asked for with stream_options
    timings: Timings  # llama.cpp
    system_fingerprint: str | None
    error: ErrorDetail | str  # a stream that failed midway


ChatCompletionChunk = ChatCompletion


class Embedding(TypedDict, total=False):
    object: Literal["embedding"]
    index: int  # the input's position
    embedding: Required[list[float] | str]  # floats; base64 text for encoding_format base64


class EmbeddingUsage(TypedDict, total=False):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(TypedDict, total=False):
    object: Literal["list"]
    data: Required[list[Embedding]]
    model: str
    usage: EmbeddingUsage


# --- what the proxy itself answers on /v1 ----------------------------------------------------------


class Model(TypedDict):
    """One entry of ``GET /v1/models`` and the answer of ``GET /v1/models/{model}``."""

    id: str
    object: Literal["model"]
    created: int  # Unix seconds
    owned_by: str


class ModelList(TypedDict):
    object: Literal["list"]
    data: list[Model]


class ErrorBody(TypedDict):
    message: str
    type: str  # "invalid_request_error", "not_found_error", "api_error"
    param: str | None
    code: str | None


class ErrorEnvelope(TypedDict):
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""

    error: ErrorBody


# --- what backends say about their models -------------------------------------------------------


class ModelMeta(TypedDict, total=False):
    """llama.cpp's ``meta`` on a /v1/models entry."""

    n_ctx: int  # tokens: the context the server runs with
    n_ctx_train: int  # tokens: the context the model was trained for
    n_params: int
    n_embd: int  # embedding length
    size: int  # bytes


class Architecture(TypedDict, total=False):
    """OpenRouter's ``architecture``: what goes in and comes out."""

    input_modalities: list[str]  # "text", "image", ...
    output_modalities: list[str]


class TopProvider(TypedDict, total=False):
    context_length: int  # tokens


class BackendModel(TypedDict, total=False):
    """A /v1/models entry as backends give it: OpenAI's fields and the extensions of vLLM
    (``max_model_len``), llama.cpp (``meta``) and OpenRouter (``context_length``, ``architecture``,
    ``top_provider``, ``supported_parameters``). Any field may be missing or of another type."""

    id: str
    object: str
    created: int  # Unix seconds
    owned_by: str
    context_length: int
    max_model_len: int
    meta: ModelMeta
    top_provider: TopProvider
    architecture: Architecture
    supported_parameters: list[str]


class BackendModelList(TypedDict, total=False):
    object: str
    data: list[BackendModel]


class GenerationSettings(TypedDict, total=False):
    n_ctx: int  # tokens


class TemplateCaps(TypedDict, total=False):
    supports_tools: bool
    supports_reasoning_effort: bool


class Modalities(TypedDict, total=False):
    vision: bool
    audio: bool


class ServerProps(TypedDict, total=False):
    """What llama.cpp's ``GET /props`` tells (the fields the catalog reads)."""

    default_generation_settings: GenerationSettings
    chat_template: str
    chat_template_caps: TemplateCaps
    modalities: Modalities


# --- relayed client bodies, checked at the edge ---------------------------------------------------

Number = StrictInt | StrictFloat  # JSON numbers; strings such as "0.5" are refused, as OpenAI does


def _is_tokens(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in value)


def check_input(value: object, field: str) -> object:
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
    stream_options: dict[str, object] | None = None
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
    content: StrictStr | list[dict[str, object]] | None = None
    tool_calls: list[dict[str, object]] | None = None
    name: StrictStr | None = None
    tool_call_id: StrictStr | None = None

    @field_validator("content")
    @classmethod
    def _typed_parts(cls, value: object) -> object:
        if isinstance(value, list) and not all(isinstance(p.get("type"), str) for p in value):
            raise ValueError('every content part needs a "type" string')
        return value


class ChatCompletionsIn(_Sampled):
    messages: list[ChatMessageIn] = Field(min_length=1)
    max_completion_tokens: StrictInt | None = None
    tools: list[dict[str, object]] | None = None
    tool_choice: StrictStr | dict[str, object] | None = None
    response_format: dict[str, object] | None = None
    top_logprobs: StrictInt | None = None
    logprobs: StrictBool | None = None


class CompletionsIn(_Sampled):
    prompt: object = None
    suffix: StrictStr | None = None
    echo: StrictBool | None = None
    logprobs: StrictInt | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: object) -> object:
        return None if value is None else check_input(value, "prompt")


class EmbeddingsIn(_Relayed):
    input: object
    dimensions: StrictInt | None = None
    encoding_format: StrictStr | None = None

    @field_validator("input")
    @classmethod
    def _input(cls, value: object) -> object:
        return check_input(value, "input")


RELAYED: dict[str, type[_Relayed]] = {
    "chat/completions": ChatCompletionsIn,
    "completions": CompletionsIn,
    "embeddings": EmbeddingsIn,
}
