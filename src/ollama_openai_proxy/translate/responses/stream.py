"""Ollama chat chunks → OpenAI Responses stream events, numbered from 0."""

from __future__ import annotations

from typing import Any

from ollama_openai_proxy.protocol.responses import ResponseObject, ResponsesEvent
from ollama_openai_proxy.translate.responses.response import (
    function_call_item,
    item_ids,
    message_item,
    reasoning_item,
    response_object,
    usage,
)


class ResponsesStream:
    """The state machine of one streamed response: ``response.created``, ``response.in_progress``,
    then each output item (added, its deltas, done) — reasoning, message, function calls — and
    ``response.completed`` with the whole response; ``response.failed`` after a late failure."""

    def __init__(self, response_id: str, created_at: int, model: str, settings: dict[str, Any]) -> None:
        self.response_id = response_id
        self.created_at = created_at
        self.model = model
        self.settings = settings
        self.started = False
        self.stopped = False
        self._sequence = 0
        self._output: list[dict[str, Any]] = []
        self._open: str | None = None  # "reasoning" or "message"
        self._text: list[str] = []
        self._calls = 0
        self._ids = item_ids(response_id)

    def _event(self, name: str, data: dict[str, Any]) -> ResponsesEvent:
        out = {"type": name, "sequence_number": self._sequence, **data}
        self._sequence += 1
        return {"event": name, "data": out}

    def _response(self, status: str) -> ResponseObject:
        out = response_object(self.response_id, self.created_at, self.model, self.settings, status)
        out["output"] = list(self._output)
        return out

    def start(self) -> list[ResponsesEvent]:
        self.started = True
        return [
            self._event("response.created", {"response": self._response("in_progress")}),
            self._event("response.in_progress", {"response": self._response("in_progress")}),
        ]

    def feed(self, chunk: dict[str, Any]) -> list[ResponsesEvent]:
        """One Ollama chat chunk → its events (the closing ones when it is the ``done`` chunk)."""
        events = [] if self.started else self.start()
        message = chunk.get("message") or {}
        thinking = message.get("thinking")
        if thinking:
            if self._open != "reasoning":
                self._close(events)
                self._add(events, {"id": self._ids[0], "type": "reasoning", "summary": []}, "reasoning")
            self._text.append(thinking)
            events.append(
                self._event(
                    "response.reasoning_summary_text.delta",
                    {
                        "item_id": self._ids[0],
                        "output_index": len(self._output),
                        "summary_index": 0,
                        "delta": thinking,
                    },
                )
            )
        text = message.get("content")
        if text:
            if self._open != "message":
                self._close(events)
                self._add(events, message_item(self._ids[1], "", "in_progress") | {"content": []}, "message")
                part = {"type": "output_text", "text": "", "annotations": []}
                events.append(
                    self._event(
                        "response.content_part.added",
                        self._at(self._ids[1]) | {"content_index": 0, "part": part},
                    )
                )
            self._text.append(text)
            events.append(
                self._event(
                    "response.output_text.delta",
                    self._at(self._ids[1]) | {"content_index": 0, "delta": text, "logprobs": []},
                )
            )
        for call in message.get("tool_calls") or ():
            self._close(events)
            events += self._function_call(call)
        if chunk.get("done"):
            self._close(events)
            self.stopped = True
            final = self._response("completed")
            final["usage"] = usage(chunk)
            events.append(self._event("response.completed", {"response": final}))
        return events

    def _at(self, item_id: str) -> dict[str, Any]:
        return {"item_id": item_id, "output_index": len(self._output)}

    def _add(self, events: list[ResponsesEvent], item: dict[str, Any], kind: str) -> None:
        self._open = kind
        self._text = []
        events.append(
            self._event("response.output_item.added", {"output_index": len(self._output), "item": item})
        )

    def _close(self, events: list[ResponsesEvent]) -> None:
        if self._open is None:
            return
        text = "".join(self._text)
        index = len(self._output)
        if self._open == "reasoning":
            item = reasoning_item(self._ids[0], text)
            events.append(
                self._event(
                    "response.reasoning_summary_text.done",
                    {"item_id": item["id"], "output_index": index, "summary_index": 0, "text": text},
                )
            )
        else:
            item = message_item(self._ids[1], text)
            at = {"item_id": item["id"], "output_index": index, "content_index": 0}
            events.append(self._event("response.output_text.done", at | {"text": text, "logprobs": []}))
            events.append(self._event("response.content_part.done", at | {"part": item["content"][0]}))
        events.append(self._event("response.output_item.done", {"output_index": index, "item": item}))
        self._output.append(item)
        self._open = None

    def _function_call(self, call: dict[str, Any]) -> list[ResponsesEvent]:
        item = function_call_item(f"{self._ids[2]}_{self._calls}", call)
        self._calls += 1
        index = len(self._output)
        at = {"item_id": item["id"], "output_index": index}
        events = [
            self._event(
                "response.output_item.added",
                {"output_index": index, "item": item | {"status": "in_progress", "arguments": ""}},
            ),
            self._event("response.function_call_arguments.delta", at | {"delta": item["arguments"]}),
            self._event(
                "response.function_call_arguments.done",
                at | {"name": item["name"], "arguments": item["arguments"]},
            ),
            self._event("response.output_item.done", {"output_index": index, "item": item}),
        ]
        self._output.append(item)
        return events

    def error(self, status: int, message: str) -> list[ResponsesEvent]:
        """A failure after the stream started: ``response.failed`` with the error ends it."""
        self.stopped = True
        events = [] if self.started else self.start()
        failed = self._response("failed")
        failed["error"] = {
            "code": "server_error" if status >= 500 else "invalid_request_error",
            "message": message,
        }
        events.append(self._event("response.failed", {"response": failed}))
        return events
