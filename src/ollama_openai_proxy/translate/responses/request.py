"""OpenAI Responses request → the Ollama chat request it stands for, as Ollama translates it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import orjson

from ollama_openai_proxy.protocol.ollama import ChatRequest, Message, ThinkValue, ToolCall, check_tool_schema
from ollama_openai_proxy.protocol.openai import FunctionDefinition, Tool
from ollama_openai_proxy.protocol.options import Options
from ollama_openai_proxy.protocol.responses import (
    ContentPart,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputFile,
    InputImage,
    InputText,
    MessageItem,
    ReasoningItem,
    Refusal,
    ResponsesRequest,
)
from ollama_openai_proxy.translate.errors import ProxyError

_EFFORT: dict[str, ThinkValue] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
    "none": False,
}
_IMAGE_TYPES = (
    "data:image/jpeg;base64,",
    "data:image/jpg;base64,",
    "data:image/png;base64,",
    "data:image/webp;base64,",
)


@dataclass
class Translated:
    """The native request, and what the request held that has no native counterpart (reported)."""

    chat: ChatRequest
    ignored: list[str] = field(default_factory=list)
    # OpenAI's sampling defaults for what the request left out: below a virtual model's PARAMETERs
    defaults: Options = field(default_factory=lambda: Options())


def responses_to_ollama(req: ResponsesRequest) -> Translated:
    for name in ("previous_response_id", "conversation"):
        if getattr(req, name):
            raise ProxyError(
                400,
                f"{name} is not supported: this server is stateless, send the whole conversation as input",
            )
    if req.background:
        raise ProxyError(400, "background is not supported")
    messages: list[Message] = []
    if req.instructions:
        messages.append(Message(role="system", content=req.instructions))
    if isinstance(req.input, str):
        messages.append(Message(role="user", content=req.input))
    else:
        _items(req, messages)
    options: Options = {}
    defaults: Options = {}
    if req.temperature is None:
        defaults["temperature"] = 1.0
    else:
        options["temperature"] = req.temperature
    if req.top_p is None:
        defaults["top_p"] = 1.0
    else:
        options["top_p"] = req.top_p
    if req.max_output_tokens is not None:
        options["num_predict"] = req.max_output_tokens
    ignored: list[str] = []
    tools = []
    for index, tool in enumerate(req.tools or ()):
        if tool.get("type") == "function" and isinstance(tool.get("name"), str):
            tools.append(_function_tool(tool, index))
        else:
            ignored.append(f"tool of type {tool.get('type')!r} (only function tools are supported)")
    chat = ChatRequest(
        model=req.model,
        messages=messages,
        stream=bool(req.stream),
        options=options or None,
        tools=tools or None,
    )
    chat.think = _think(req)
    chat.format = _format(req)
    return Translated(chat, ignored, defaults)


def _items(req: ResponsesRequest, messages: list[Message]) -> None:
    thinking = ""  # a reasoning item's text, for the next assistant turn
    for item in req.input:
        if isinstance(item, MessageItem):
            text, images = _content(item.content)
            role = "system" if item.role == "developer" else item.role
            message = Message(role=role, content=text)
            if images:
                message.images = images
            if role == "assistant" and thinking:
                message.thinking, thinking = thinking, ""
            messages.append(message)
        elif isinstance(item, FunctionCallItem):
            call = ToolCall.model_validate(
                {"id": item.call_id, "function": {"name": item.name, "arguments": _arguments(item)}}
            )
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and not thinking:
                last.tool_calls = [*(last.tool_calls or ()), call]
            else:
                message = Message(role="assistant", content="", tool_calls=[call])
                if thinking:
                    message.thinking, thinking = thinking, ""
                messages.append(message)
        elif isinstance(item, FunctionCallOutputItem):
            text, images = _content(item.output)
            message = Message(role="tool", content=text, tool_call_id=item.call_id)
            if images:
                message.images = images
            messages.append(message)
        elif isinstance(item, ReasoningItem):
            thinking = item.encrypted_content or "".join(s.text for s in item.summary)


def _arguments(item: FunctionCallItem) -> dict[str, object]:
    if not item.arguments.strip():
        return {}
    try:
        value = orjson.loads(item.arguments)
    except orjson.JSONDecodeError:
        raise ProxyError(400, f"invalid JSON in arguments of function_call '{item.name}'") from None
    if not isinstance(value, dict):
        raise ProxyError(400, f"arguments of function_call '{item.name}' must be a JSON object")
    return value


def _content(content: str | list[ContentPart]) -> tuple[str, list[str]]:
    if isinstance(content, str):
        return content, []
    text: list[str] = []
    images: list[str] = []
    for part in content:
        if isinstance(part, InputText):
            text.append(part.text)
        elif isinstance(part, Refusal):
            text.append(part.refusal)
        elif isinstance(part, InputImage):
            images.append(_image(part))
        elif isinstance(part, InputFile):
            raise ProxyError(400, "input_file is not supported")
    return "".join(text), images


def _image(part: InputImage) -> str:
    url = part.image_url or ""
    if not url:
        raise ProxyError(400, "input_image needs an image_url (file_id is not supported)")
    if url.startswith(("http://", "https://")):
        raise ProxyError(400, "image URLs are not supported, send the image as a base64 data URI")
    for prefix in _IMAGE_TYPES:
        if url.startswith(prefix):
            return url[len(prefix) :]
    raise ProxyError(400, "invalid image_url: expected a base64 data URI of a jpeg, png or webp image")


def _function_tool(tool: dict[str, object], index: int) -> Tool:
    """A function tool as Ollama's chat takes it; a description or parameters of the wrong type is
    the client's error (Ollama refuses them too), not something to pass on to the backend."""
    parameters = tool.get("parameters") or {"type": "object", "properties": {}}
    try:
        check_tool_schema(parameters, f"tools.{index}.parameters")
    except ValueError as exc:
        raise ProxyError(400, str(exc)) from None
    assert isinstance(parameters, dict)
    description = tool.get("description")
    if description is not None and not isinstance(description, str):
        raise ProxyError(400, f"tools.{index}.description: must be a string")
    function: FunctionDefinition = {"name": cast(str, tool["name"]), "parameters": parameters}
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


def _think(req: ResponsesRequest) -> ThinkValue | None:
    effort = req.reasoning.effort if req.reasoning else None
    if effort is None:
        return None
    if effort not in _EFFORT:
        raise ProxyError(400, f'invalid reasoning.effort: "{effort}" (must be one of {", ".join(_EFFORT)})')
    return _EFFORT[effort]


def _format(req: ResponsesRequest) -> str | dict[str, object] | None:
    fmt = req.text.format if req.text else None
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return "json"
    if not fmt.schema_:
        raise ProxyError(400, "text.format of type json_schema needs a schema")
    return fmt.schema_
