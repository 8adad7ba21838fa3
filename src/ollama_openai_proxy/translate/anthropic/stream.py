"""Ollama chat chunks → Anthropic stream events, one content block open at a time."""

from __future__ import annotations

from typing import Literal

import orjson

from ollama_openai_proxy.protocol.anthropic import (
    BlockDelta,
    ContentOut,
    EventData,
    MessageOut,
    StopDelta,
    StreamEvent,
)
from ollama_openai_proxy.protocol.ollama import ChatChunk, ToolCallOut
from ollama_openai_proxy.translate.anthropic.errors import anthropic_error
from ollama_openai_proxy.translate.anthropic.response import arguments, stop_reason, tool_use_id, usage

BlockKind = Literal["thinking", "text"]


def _event(name: str, data: EventData) -> StreamEvent:
    return {"event": name, "data": data}


class MessagesStream:
    """The state machine of one streamed message: ``message_start``, a ``ping``, then each block
    (``content_block_start``, deltas, ``content_block_stop``) — thinking, text, then each tool_use
    with its arguments as one ``input_json_delta`` — then ``message_delta`` and ``message_stop``."""

    __slots__ = ("_calls", "_index", "_open", "message_id", "model", "started", "stopped")

    def __init__(self, message_id: str, model: str) -> None:
        self.message_id = message_id
        self.model = model
        self.started = False
        self.stopped = False
        self._index = -1  # the index of the last block opened
        self._open: BlockKind | None = None
        self._calls = 0

    def start(self, input_tokens: int = 0) -> list[StreamEvent]:
        self.started = True
        message: MessageOut = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 0},
        }
        return [
            _event("message_start", {"type": "message_start", "message": message}),
            _event("ping", {"type": "ping"}),
        ]

    def feed(self, chunk: ChatChunk) -> list[StreamEvent]:
        """One Ollama chat chunk → its events (the closing ones when it is the ``done`` chunk)."""
        events = [] if self.started else self.start(chunk.get("prompt_eval_count", 0))
        message = chunk["message"]
        thinking = message.get("thinking")
        if thinking:
            self._delta(events, "thinking", {"type": "thinking_delta", "thinking": thinking})
        text = message.get("content")
        if text:
            self._delta(events, "text", {"type": "text_delta", "text": text})
        for call in message.get("tool_calls") or ():
            self._tool_use(events, call)
        if chunk.get("done"):
            events += self._finish(chunk)
        return events

    def _delta(self, events: list[StreamEvent], kind: BlockKind, delta: BlockDelta) -> None:
        if self._open != kind:
            self._close(events)
            self._index += 1
            self._open = kind
            block: ContentOut = (
                {"type": "thinking", "thinking": "", "signature": ""}
                if kind == "thinking"
                else {"type": "text", "text": ""}
            )
            events.append(
                _event(
                    "content_block_start",
                    {"type": "content_block_start", "index": self._index, "content_block": block},
                )
            )
        events.append(
            _event(
                "content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta}
            )
        )

    def _close(self, events: list[StreamEvent]) -> None:
        if self._open is not None:
            events.append(_event("content_block_stop", {"type": "content_block_stop", "index": self._index}))
            self._open = None

    def _tool_use(self, events: list[StreamEvent], call: ToolCallOut) -> None:
        self._close(events)
        self._index += 1
        block: ContentOut = {
            "type": "tool_use",
            "id": tool_use_id(call, self.message_id, self._calls),
            "name": call["function"].get("name", ""),
            "input": {},
        }
        self._calls += 1
        partial = orjson.dumps(arguments(call)).decode()
        index = self._index
        events += [
            _event(
                "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
            ),
            _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": partial},
                },
            ),
            _event("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]

    def _finish(self, chunk: ChatChunk) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        self._close(events)
        self.stopped = True
        delta: StopDelta = {
            "stop_reason": stop_reason(chunk.get("done_reason"), self._calls > 0),
            "stop_sequence": None,
        }
        events.append(
            _event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage(chunk)})
        )
        events.append(_event("message_stop", {"type": "message_stop"}))
        return events

    def error(self, status: int, message: str) -> list[StreamEvent]:
        """A failure after the stream started: Anthropic's ``error`` event ends it."""
        self.stopped = True
        return [_event("error", anthropic_error(status, message))]
