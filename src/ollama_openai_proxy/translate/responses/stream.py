"""Ollama chat chunks → OpenAI Responses stream events, numbered from 0."""

from __future__ import annotations

from ollama_openai_proxy.protocol.ollama import ChatChunk, ToolCallOut
from ollama_openai_proxy.protocol.responses import (
    EchoedSettings,
    EventData,
    MessageOut,
    OutputItem,
    ResponseObject,
    ResponsesEvent,
    ResponseStatus,
)
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

    def __init__(self, response_id: str, created_at: int, model: str, settings: EchoedSettings) -> None:
        self.response_id = response_id
        self.created_at = created_at
        self.model = model
        self.settings = settings
        self.started = False
        self.stopped = False
        self._sequence = 0
        self._output: list[OutputItem] = []
        self._open: str | None = None  # "reasoning" or "message"
        self._text: list[str] = []
        self._calls = 0
        self._ids = item_ids(response_id)

    def _number(self) -> int:
        """The next event's ``sequence_number``."""
        self._sequence += 1
        return self._sequence - 1

    @staticmethod
    def _event(data: EventData) -> ResponsesEvent:
        return {"event": data["type"], "data": data}

    def _response(self, status: ResponseStatus) -> ResponseObject:
        out = response_object(self.response_id, self.created_at, self.model, self.settings, status)
        out["output"] = list(self._output)
        return out

    def start(self) -> list[ResponsesEvent]:
        self.started = True
        created = self._event(
            {
                "type": "response.created",
                "sequence_number": self._number(),
                "response": self._response("in_progress"),
            }
        )
        return [
            created,
            self._event(
                {
                    "type": "response.in_progress",
                    "sequence_number": self._number(),
                    "response": self._response("in_progress"),
                }
            ),
        ]

    def feed(self, chunk: ChatChunk) -> list[ResponsesEvent]:
        """One Ollama chat chunk → its events (the closing ones when it is the ``done`` chunk)."""
        events = [] if self.started else self.start()
        message = chunk["message"]
        thinking = message.get("thinking")
        if thinking:
            if self._open != "reasoning":
                self._close(events)
                self._add(events, {"id": self._ids[0], "type": "reasoning", "summary": []}, "reasoning")
            self._text.append(thinking)
            events.append(
                self._event(
                    {
                        "type": "response.reasoning_summary_text.delta",
                        "sequence_number": self._number(),
                        "item_id": self._ids[0],
                        "output_index": len(self._output),
                        "summary_index": 0,
                        "delta": thinking,
                    }
                )
            )
        text = message.get("content")
        if text:
            if self._open != "message":
                self._close(events)
                item: MessageOut = message_item(self._ids[1], "", "in_progress")
                item["content"] = []
                self._add(events, item, "message")
                events.append(
                    self._event(
                        {
                            "type": "response.content_part.added",
                            "sequence_number": self._number(),
                            "item_id": self._ids[1],
                            "output_index": len(self._output),
                            "content_index": 0,
                            "part": {"type": "output_text", "text": "", "annotations": []},
                        }
                    )
                )
            self._text.append(text)
            events.append(
                self._event(
                    {
                        "type": "response.output_text.delta",
                        "sequence_number": self._number(),
                        "item_id": self._ids[1],
                        "output_index": len(self._output),
                        "content_index": 0,
                        "delta": text,
                        "logprobs": [],
                    }
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
            events.append(
                self._event(
                    {"type": "response.completed", "sequence_number": self._number(), "response": final}
                )
            )
        return events

    def _add(self, events: list[ResponsesEvent], item: OutputItem, kind: str) -> None:
        self._open = kind
        self._text = []
        events.append(
            self._event(
                {
                    "type": "response.output_item.added",
                    "sequence_number": self._number(),
                    "output_index": len(self._output),
                    "item": item,
                }
            )
        )

    def _close(self, events: list[ResponsesEvent]) -> None:
        if self._open is None:
            return
        text = "".join(self._text)
        index = len(self._output)
        item: OutputItem
        if self._open == "reasoning":
            item = reasoning_item(self._ids[0], text)
            events.append(
                self._event(
                    {
                        "type": "response.reasoning_summary_text.done",
                        "sequence_number": self._number(),
                        "item_id": item["id"],
                        "output_index": index,
                        "summary_index": 0,
                        "text": text,
                    }
                )
            )
        else:
            item = message = message_item(self._ids[1], text)
            events.append(
                self._event(
                    {
                        "type": "response.output_text.done",
                        "sequence_number": self._number(),
                        "item_id": item["id"],
                        "output_index": index,
                        "content_index": 0,
                        "text": text,
                        "logprobs": [],
                    }
                )
            )
            events.append(
                self._event(
                    {
                        "type": "response.content_part.done",
                        "sequence_number": self._number(),
                        "item_id": item["id"],
                        "output_index": index,
                        "content_index": 0,
                        "part": message["content"][0],
                    }
                )
            )
        events.append(self._item_done(item))
        self._open = None

    def _item_done(self, item: OutputItem) -> ResponsesEvent:
        """``response.output_item.done`` for the next output item, which joins the output."""
        event = self._event(
            {
                "type": "response.output_item.done",
                "sequence_number": self._number(),
                "output_index": len(self._output),
                "item": item,
            }
        )
        self._output.append(item)
        return event

    def _function_call(self, call: ToolCallOut) -> list[ResponsesEvent]:
        item = function_call_item(f"{self._ids[2]}_{self._calls}", call)
        self._calls += 1
        index = len(self._output)
        added = item | {"status": "in_progress", "arguments": ""}
        return [
            self._event(
                {
                    "type": "response.output_item.added",
                    "sequence_number": self._number(),
                    "output_index": index,
                    "item": added,
                }
            ),
            self._event(
                {
                    "type": "response.function_call_arguments.delta",
                    "sequence_number": self._number(),
                    "item_id": item["id"],
                    "output_index": index,
                    "delta": item["arguments"],
                }
            ),
            self._event(
                {
                    "type": "response.function_call_arguments.done",
                    "sequence_number": self._number(),
                    "item_id": item["id"],
                    "output_index": index,
                    "name": item["name"],
                    "arguments": item["arguments"],
                }
            ),
            self._item_done(item),  # last: the item joins the output once its events are out
        ]

    def error(self, status: int, message: str) -> list[ResponsesEvent]:
        """A failure after the stream started: ``response.failed`` with the error ends it; its
        ``output`` holds the items done so far and, marked ``incomplete``, the one being streamed."""
        self.stopped = True
        events = [] if self.started else self.start()
        failed = self._response("failed")
        if self._open is not None:  # what was streamed of the open item is not lost: "incomplete"
            text = "".join(self._text)
            partial: OutputItem
            if self._open == "reasoning":
                partial = reasoning_item(self._ids[0], text)
            else:
                partial = message_item(self._ids[1], text, "incomplete")
            failed["output"] = [*failed["output"], partial]
        failed["error"] = {
            "code": "server_error" if status >= 500 else "invalid_request_error",
            "message": message,
        }
        events.append(
            self._event({"type": "response.failed", "sequence_number": self._number(), "response": failed})
        )
        return events
