"""Anthropic Messages request → the Ollama chat request it stands for, as Ollama translates it."""

from __future__ import annotations

from typing import cast

from ollama_openai_proxy.protocol.anthropic import (
    ImageBlock,
    MessageParam,
    MessagesRequest,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
)
from ollama_openai_proxy.protocol.ollama import THINK_LEVELS, ChatRequest, Message, ThinkValue, ToolCall
from ollama_openai_proxy.protocol.openai import FunctionDefinition, Tool
from ollama_openai_proxy.protocol.options import Options
from ollama_openai_proxy.translate.errors import ProxyError


def anthropic_to_ollama(req: MessagesRequest) -> ChatRequest:
    """The one native chat request: system first, tool results before their turn's text, options."""
    messages: list[Message] = []
    system = _system_text(req.system)
    if system is not None:
        messages.append(Message(role="system", content=system))
    for param in req.messages:
        messages += _messages(param)
    options: Options = {"num_predict": req.max_tokens}
    if req.temperature is not None:
        options["temperature"] = req.temperature
    if req.top_p is not None:
        options["top_p"] = req.top_p
    if req.top_k is not None:
        options["top_k"] = req.top_k
    if req.stop_sequences:
        options["stop"] = req.stop_sequences
    out = ChatRequest(
        model=req.model,
        messages=messages,
        stream=bool(req.stream),
        options=dict(options),
        tools=[_tool(t.name, t.description, t.input_schema, t.type) for t in req.tools or ()] or None,
    )
    out.think = _think(req)
    return out


def _system_text(system: str | list[TextBlock] | None) -> str | None:
    if system is None:
        return None
    if isinstance(system, str):
        return system
    return "\n".join(block.text for block in system)


def _image(block: ImageBlock) -> str:
    if block.source.type != "base64":
        raise ProxyError(
            400, f"invalid image source type: {block.source.type}. Only base64 images are supported"
        )
    if not block.source.data:
        raise ProxyError(400, "a base64 image source needs its data")
    return block.source.data


def _messages(param: MessageParam) -> list[Message]:
    if isinstance(param.content, str):
        return [Message(role=param.role, content=param.content)]
    out: list[Message] = []
    text: list[str] = []
    images: list[str] = []
    thinking: list[str] = []
    calls: list[ToolCall] = []
    for block in param.content:
        if isinstance(block, TextBlock):
            text.append(block.text)
        elif isinstance(block, ImageBlock):
            images.append(_image(block))
        elif isinstance(block, ToolUseBlock):
            calls.append(
                ToolCall.model_validate(
                    {"id": block.id, "function": {"name": block.name, "arguments": block.input}}
                )
            )
        elif isinstance(block, ToolResultBlock):
            out.append(_tool_result(block))
        elif isinstance(block, ThinkingBlock):
            thinking.append(block.thinking)
        # redacted_thinking carries nothing a local model can read: dropped, as by Ollama
    if text or images or thinking or calls or not out:
        message = Message(role=param.role, content="".join(text))
        if images:
            message.images = images
        if thinking:
            message.thinking = "".join(thinking)
        if calls:
            message.tool_calls = calls
        out.append(message)
    return out


def _tool_result(block: ToolResultBlock) -> Message:
    content = block.content
    if content is None or isinstance(content, str):
        return Message(role="tool", content=content or "", tool_call_id=block.tool_use_id)
    text = "\n".join(b.text for b in content if isinstance(b, TextBlock))
    images = [_image(b) for b in content if isinstance(b, ImageBlock)]
    message = Message(role="tool", content=text, tool_call_id=block.tool_use_id)
    if images:
        message.images = images
    return message


def _tool(name: str, description: str | None, schema: dict[str, object], kind: str | None) -> Tool:
    if kind not in (None, "custom"):
        raise ProxyError(
            400, f"tool type '{kind}' is not supported: only client tools (with input_schema) are"
        )
    function: FunctionDefinition = {"name": name, "parameters": schema}
    if description:
        function["description"] = description
    return {"type": "function", "function": function}


def _think(req: MessagesRequest) -> ThinkValue | None:
    """``disabled`` → off; ``enabled`` or ``adaptive`` → on, at ``output_config.effort`` when given
    (a model that cannot think is then not refused: see ``serving.chat.chat``); no ``thinking``
    → the effort level when given, else the model's default."""
    kind = req.thinking.type if req.thinking else None
    if kind == "disabled":
        return False
    effort = req.output_config.effort if req.output_config else None
    if effort is not None:
        if effort not in THINK_LEVELS:
            levels = ", ".join(THINK_LEVELS)
            raise ProxyError(400, f'invalid output_config.effort: "{effort}" (must be one of {levels})')
        return cast(ThinkValue, effort)
    return True if kind is not None else None
