"""Shared helpers for the translation-core unit tests (no network, no app)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import orjson

from ollama_openai_proxy.protocol.ollama import ChatRequest, GenerateRequest
from ollama_openai_proxy.translate.profiles import PROFILES
from ollama_openai_proxy.translate.request import (
    BackendRequest,
    ollama_to_openai_chat,
    ollama_to_openai_generate,
)
from ollama_openai_proxy.translate.response import Clock, Kind, StreamTranslator, line

GOLDEN = Path(__file__).parent / "golden"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "llamacpp"
DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
MS = 1_000_000


def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text())


def translate(kind: str, profile: str, request: dict[str, Any], backend_model: str = "b") -> BackendRequest:
    if kind == "chat":
        return ollama_to_openai_chat(ChatRequest.model_validate(request), backend_model, PROFILES[profile])
    return ollama_to_openai_generate(
        GenerateRequest.model_validate(request), backend_model, PROFILES[profile]
    )


def strip_volatile(obj: dict[str, Any], durations: list[str] | None = None) -> dict[str, Any]:
    """Check created_at's format and the durations' type/sign, and return the object without them."""
    out = dict(obj)
    created = out.pop("created_at", None)
    if created is not None:
        assert RFC3339.match(created), created
    present = [k for k in DURATIONS if k in out]
    for key in present:
        value = out.pop(key)
        assert type(value) is int, (key, value)
        assert value > 0, (key, value)
    if durations is not None:
        assert present == [k for k in DURATIONS if k in durations], (present, durations)
    return out


def stream_clock() -> Clock:
    return Clock(start=0, sent=1 * MS, headers=2 * MS)


def run_stream(
    kind: Kind, model: str, events: list[str], finish: bool = True
) -> tuple[StreamTranslator, list[dict[str, Any]]]:
    """Feed SSE data payloads at 10 ms intervals; finish (if complete) 10 ms after the last one."""
    translator = StreamTranslator(kind, model, stream_clock())
    lines: list[bytes] = []
    now = 0
    for i, data in enumerate(events):
        now = (i + 1) * 10 * MS
        lines.extend(line(c) for c in translator.feed(data, now))
    if finish and translator.complete:
        lines.extend(line(c) for c in translator.finish(now + 10 * MS))
    for raw in lines:
        assert raw.endswith(b"\n"), raw
        assert raw.count(b"\n") == 1, raw
    return translator, [orjson.loads(raw) for raw in lines]
