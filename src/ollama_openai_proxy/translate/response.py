"""OpenAI chat-completions/completions responses and SSE events → Ollama chat/generate chunks.

Pure: the caller passes the time (monotonic ``now`` in ns, and ``Clock.wall`` for ``created_at``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, cast

import orjson

from ollama_openai_proxy.protocol.ollama import (
    AssistantMessage,
    ChatChunk,
    Chunk,
    GenerateChunk,
    Logprob,
    Metrics,
    ToolCallOut,
)
from ollama_openai_proxy.protocol.openai import (
    ChatCompletion,
    ChatCompletionChunk,
    ChoiceLogprobs,
    CompletionLogprobs,
    Timings,
    TokenLogprob,
    ToolCallDelta,
    Usage,
)
from ollama_openai_proxy.translate.errors import ProxyError, redact
from ollama_openai_proxy.translate.reasoning import ThinkSplitter, reasoning_of, split_parts
from ollama_openai_proxy.translate.toolcalls import ToolCallAssembler

Kind = Literal["chat", "generate"]

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "stop", "function_call": "stop"}


# ``created_at`` for a Clock not given the wall clock (tests, golden vectors).
EPOCH = "1970-01-01T00:00:00.000000Z"


def _epoch() -> str:
    return EPOCH


def done_reason(finish_reason: str | None) -> str:
    """Ollama knows ``stop`` and ``length``; a tool-call finish is a ``stop`` there."""
    if not finish_reason:
        return "stop"
    return _FINISH.get(finish_reason, finish_reason)


def parse_arguments(name: str, text: str) -> dict[str, object]:
    """Tool-call arguments arrive as JSON text; Ollama clients require an object."""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProxyError(
            502, f"backend returned invalid JSON arguments for tool call '{name}': {text[:200]}"
        ) from None
    if not isinstance(value, dict):
        raise ProxyError(502, f"backend returned non-object arguments for tool call '{name}': {text[:200]}")
    return cast("dict[str, object]", value)


def openai_to_ollama_tool_calls(calls: list[ToolCallDelta]) -> list[ToolCallOut]:
    out = []
    for index, call in enumerate(calls):
        fn = call.get("function") or {}
        name = fn.get("name") or ""
        args = fn.get("arguments")
        arguments = args if isinstance(args, dict) else parse_arguments(name, args or "")
        item: ToolCallOut = {"function": {"index": index, "name": name, "arguments": arguments}}
        if call.get("id"):
            item = {"id": call["id"], **item}
        out.append(item)
    return out


def openai_to_ollama_logprobs(logprobs: ChoiceLogprobs | CompletionLogprobs | None) -> list[Logprob]:
    """OpenAI chat ``logprobs.content`` (same shape as Ollama's) or legacy completions logprobs."""
    if not isinstance(logprobs, dict):
        return []
    content = cast(ChoiceLogprobs, logprobs).get("content")
    if isinstance(content, list):
        return [_logprob(e) for e in content if isinstance(e, dict)]
    legacy = cast(CompletionLogprobs, logprobs)
    tokens = legacy.get("tokens")
    if isinstance(tokens, list):
        values = legacy.get("token_logprobs") or []
        tops = legacy.get("top_logprobs") or []
        out = []
        for i, token in enumerate(tokens):
            entry: Logprob = {"token": token, "logprob": values[i] if i < len(values) else 0.0}
            if i < len(tops) and isinstance(tops[i], dict):
                entry["top_logprobs"] = [{"token": t, "logprob": lp} for t, lp in tops[i].items()]
            out.append(entry)
        return out
    return []


def _logprob(entry: TokenLogprob) -> Logprob:
    out: Logprob = {"token": entry.get("token", ""), "logprob": entry.get("logprob", 0.0)}
    given = entry.get("bytes")
    if given is not None:
        out["bytes"] = given
    tops = entry.get("top_logprobs")
    if tops:
        out["top_logprobs"] = [_logprob(t) for t in tops if isinstance(t, dict)]
    return out


@dataclass
class Clock:
    """Monotonic timestamps (ns) of one request's milestones, stamped by the serving layer, and the
    wall clock it passes in for ``created_at`` (RFC 3339, UTC)."""

    start: int
    sent: int = 0  # request written to the backend
    headers: int = 0  # backend response headers received
    first_token: int = 0
    last_token: int = 0
    wall: Callable[[], str] = _epoch


def metrics(
    clock: Clock, end: int, usage: Usage | None, timings: Timings | None, out: Metrics | None = None
) -> Metrics:
    """Ollama's final-chunk counters: the backend's token counts and durations measured here.

    Durations come from llama.cpp's own ``timings`` when the backend reports them; otherwise from
    the proxy's clock: load = until the backend answered, prompt eval = until its first token,
    eval = first to last token (for a non-streamed backend call, the whole backend round trip).
    Written into ``out`` (a final chunk) when given.
    """
    out = {} if out is None else out
    out["total_duration"] = max(end - clock.start, 1)
    headers = clock.headers or end
    if clock.first_token:
        load = headers - clock.start
        prompt = clock.first_token - headers
        evaluation = clock.last_token - clock.first_token
    else:
        load = (clock.sent or headers) - clock.start
        prompt = 0
        evaluation = end - (clock.sent or headers)
    if timings:
        prompt = int(float(timings.get("prompt_ms") or 0) * 1e6) or prompt
        evaluation = int(float(timings.get("predicted_ms") or 0) * 1e6) or evaluation
    if load > 0:
        out["load_duration"] = load
    if usage or timings:
        usage = usage or {}
        timings = timings or {}
        prompt_count = usage.get("prompt_tokens")
        if prompt_count is None and "prompt_n" in timings:
            prompt_count = int(timings.get("prompt_n") or 0) + int(timings.get("cache_n") or 0)
        eval_count = usage.get("completion_tokens", timings.get("predicted_n"))
        if prompt_count:
            out["prompt_eval_count"] = int(prompt_count)
        if prompt > 0:
            out["prompt_eval_duration"] = prompt
        if eval_count:
            out["eval_count"] = int(eval_count)
            if evaluation <= 0:  # one chunk only: clients divide eval_count by eval_duration
                evaluation = max(end - (clock.first_token or headers), 1)
    elif prompt > 0:
        out["prompt_eval_duration"] = prompt
    if evaluation > 0:
        out["eval_duration"] = evaluation
    return out


def line(obj: object) -> bytes:
    """One NDJSON line."""
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)


def error_line(message: str) -> bytes:
    return orjson.dumps({"error": message}) + b"\n"


def _envelope(kind: Kind, model: str, stamp: str, text: str, thinking: str, done: bool) -> Chunk:
    if kind == "chat":
        message: AssistantMessage = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        chat: ChatChunk = {"model": model, "created_at": stamp, "message": message, "done": done}
        return chat
    if thinking:  # keys in Ollama's order: thinking before done
        return {"model": model, "created_at": stamp, "response": text, "thinking": thinking, "done": done}
    generate: GenerateChunk = {"model": model, "created_at": stamp, "response": text, "done": done}
    return generate


def _add_tool_calls(chunk: Chunk, calls: list[ToolCallOut]) -> None:
    """Chat carries tool calls in its message, generate at the top level."""
    if "message" in chunk:
        cast(ChatChunk, chunk)["message"]["tool_calls"] = calls
    else:
        chunk["tool_calls"] = calls


def _text_and_thinking(holder: Mapping[str, object], key: str, notes: list[str]) -> tuple[str, str]:
    """The answer text and the reasoning of one message, delta or completions choice."""
    text, part_thinking, _ = split_parts(holder.get(key), notes)
    return text, reasoning_of(holder, notes) + part_thinking


def openai_to_ollama_completion(
    kind: Kind,
    model: str,
    data: ChatCompletion,
    clock: Clock,
    end: int,
    *,
    markup: bool = True,
    notes: list[str] | None = None,
) -> Chunk:
    """A non-streamed OpenAI response (chat or completions) → one final Ollama object.

    ``markup``: split in-band ``<think>…</think>`` off the start of the text into ``thinking``.
    ``notes`` collects what was dropped (unknown content part types), for the debug log."""
    notes = [] if notes is None else notes
    choices = data.get("choices") or [{}]
    choice = choices[0] or {}
    message = choice.get("message")
    calls: list[ToolCallDelta] = []
    if isinstance(message, dict):
        text, thinking = _text_and_thinking(message, "content", notes)
        refusal = message.get("refusal")
        if refusal and not text:
            text = refusal
        calls = message.get("tool_calls") or []
    else:
        text, thinking = _text_and_thinking(choice, "text", notes)
    if markup and text:
        splitter = ThinkSplitter()
        answer, inband = splitter.feed(text)
        rest, tail = splitter.close()
        text, thinking = answer + rest, thinking + inband + tail
    out = _envelope(kind, model, clock.wall(), text, thinking, True)
    if calls:
        _add_tool_calls(out, openai_to_ollama_tool_calls(calls))
    out["done_reason"] = done_reason(choice.get("finish_reason"))
    logprobs = openai_to_ollama_logprobs(choice.get("logprobs"))
    if logprobs:
        out["logprobs"] = logprobs
    metrics(clock, end, data.get("usage"), data.get("timings"), out)
    return out


class StreamTranslator:
    """The state machine for one streamed response: OpenAI SSE events in, Ollama chunks out.

    Text and reasoning deltas are forwarded at once; tool-call fragments are assembled per index and
    emitted whole in one ``done: false`` line when the backend finishes, followed by the final
    ``done: true`` line carrying the counts and durations.
    """

    def __init__(self, kind: Kind, model: str, clock: Clock, *, markup: bool = True) -> None:
        self.kind = kind
        self.model = model
        self.clock = clock
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.timings: Timings | None = None
        self.finished = False  # [DONE] seen
        self.notes: list[str] = []  # what was dropped, for the debug log
        self._calls = ToolCallAssembler()
        self.markup = markup
        self._splitter = ThinkSplitter() if markup else None
        self.final_metrics: Metrics = {}
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._logprobs: list[Logprob] = []

    def feed(self, data: str, now: int) -> list[Chunk]:
        """One SSE ``data`` payload → zero or more chunks. Raises ProxyError on a backend error."""
        parts = self._parse(data, now)
        if parts is None:
            return []
        text, thinking, logprobs = parts
        out = _envelope(self.kind, self.model, self.clock.wall(), text, thinking, False)
        if logprobs:
            out["logprobs"] = logprobs
        return [out]

    def collect(self, data: str, now: int) -> None:
        """Like ``feed`` but keeps the pieces, for a ``stream: false`` client served from a stream."""
        parts = self._parse(data, now)
        if parts is not None:
            self._text.append(parts[0])
            self._thinking.append(parts[1])
            self._logprobs += parts[2]

    def result(self, now: int) -> Chunk:
        """The single object a ``stream: false`` client gets, from what ``collect`` kept."""
        stamp = self.clock.wall()
        if self._splitter is not None:
            rest, tail = self._splitter.close()
            self._text.append(rest)
            self._thinking.append(tail)
        out = _envelope(self.kind, self.model, stamp, "".join(self._text), "".join(self._thinking), True)
        calls = self._assembled_calls()
        if calls:
            _add_tool_calls(out, calls)
        out["done_reason"] = done_reason(self.finish_reason)
        if self._logprobs:
            out["logprobs"] = self._logprobs
        self.final_metrics = metrics(self.clock, now, self.usage, self.timings, out)
        return out

    def _parse(self, data: str, now: int) -> tuple[str, str, list[Logprob]] | None:
        """Record one event's state; its (text, thinking, logprobs) when it carries any."""
        if data == "[DONE]":
            self.finished = True
            return None
        try:
            event: ChatCompletionChunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ProxyError(502, f"backend sent malformed stream data: {data[:200]}") from None
        if not isinstance(event, dict):
            raise ProxyError(502, f"backend sent malformed stream data: {data[:200]}")
        if event.get("error"):
            err = event["error"]
            message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
            raise ProxyError(502, f"backend error: {redact(message)}")
        if event.get("usage"):
            self.usage = event["usage"]
        if event.get("timings"):
            self.timings = event["timings"]
        choices = event.get("choices")
        if not choices:
            return None
        choice = choices[0] if isinstance(choices, list) else None
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(choice, dict) or not isinstance(delta, dict | None):
            raise ProxyError(502, f"backend sent malformed stream data: {data[:200]}")
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        if delta is None:  # completions chunk
            text, thinking = _text_and_thinking(choice, "text", self.notes)
            fragments: object = cast("Mapping[str, object]", choice).get("tool_calls") or ()
        else:
            text, thinking = _text_and_thinking(delta, "content", self.notes)
            fragments = delta.get("tool_calls") or ()
        if self._splitter is not None and text:
            text, inband = self._splitter.feed(text)
            thinking += inband
        if isinstance(fragments, list):
            for fragment in fragments:
                self._calls.feed(fragment)
        logprobs = openai_to_ollama_logprobs(choice.get("logprobs"))
        if text or thinking or logprobs or fragments:  # tool-call tokens are generated tokens too
            if not self.clock.first_token:
                self.clock.first_token = now
            self.clock.last_token = now
        if not (text or thinking or logprobs):
            return None
        return text, thinking, logprobs

    def _assembled_calls(self) -> list[ToolCallOut]:
        return openai_to_ollama_tool_calls(self._calls.assembled()) if self._calls else []

    @property
    def complete(self) -> bool:
        """True once the backend said it finished (a finish reason or ``[DONE]``)."""
        return self.finished or self.finish_reason is not None

    def finish(self, now: int) -> list[Chunk]:
        """The closing chunks: assembled tool calls (if any), then the final ``done: true`` one."""
        chunks = []
        stamp = self.clock.wall()
        if self._splitter is not None:
            rest, tail = self._splitter.close()
            if rest or tail:
                chunks.append(_envelope(self.kind, self.model, stamp, rest, tail, False))
        calls = self._assembled_calls()
        if calls:
            out = _envelope(self.kind, self.model, stamp, "", "", False)
            _add_tool_calls(out, calls)
            chunks.append(out)
        final = _envelope(self.kind, self.model, stamp, "", "", True)
        final["done_reason"] = done_reason(self.finish_reason)
        self.final_metrics = metrics(self.clock, now, self.usage, self.timings, final)
        chunks.append(final)
        return chunks


def load_reply(kind: Kind, model: str, reason: Literal["load", "unload"], stamp: str = EPOCH) -> Chunk:
    """The immediate answer to a load (empty prompt/messages) or unload (keep_alive 0) request."""
    out = _envelope(kind, model, stamp, "", "", True)
    out["done_reason"] = reason
    return out
