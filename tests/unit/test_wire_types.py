"""The wire types stay typed: no JSON in src/ is annotated as a ``dict`` or mapping of ``Any``
(open-ended JSON is ``dict[str, object]``), and the TypedDicts describe what really travels."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_type_hints

import pytest

import ollama_openai_proxy
from ollama_openai_proxy.protocol import ollama, openai
from ollama_openai_proxy.translate.response import Clock, StreamTranslator, openai_to_ollama_completion

SRC = Path(ollama_openai_proxy.__file__).parent
UNTYPED = re.compile(r"\b(?:dict|Mapping|MutableMapping)\[str, Any\]")


def test_no_json_annotated_as_a_mapping_of_any() -> None:
    found = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "observability.py"  # structlog's event dicts and the ASGI scope: not JSON
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNTYPED.search(line)
    ]
    assert found == []


@pytest.mark.parametrize("kind", ["chat", "generate"])
def test_chunks_carry_only_their_declared_keys(kind: str) -> None:
    """Every key a translated chunk carries is declared in ChatChunk or GenerateChunk."""
    declared = set(get_type_hints(ollama.ChatChunk if kind == "chat" else ollama.GenerateChunk))
    translator = StreamTranslator(kind, "m", Clock(start=0))  # type: ignore[arg-type]
    events = [
        '{"choices":[{"index":0,"delta":{"reasoning_content":"hm","content":"Hi"},'
        '"logprobs":{"content":[{"token":"Hi","logprob":-0.1,"bytes":[72,105],"top_logprobs":[]}]}}]}',
        '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function",'
        '"function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],'
        '"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}',
        "[DONE]",
    ]
    chunks = [c for i, e in enumerate(events) for c in translator.feed(e, i + 1)] + translator.finish(9)
    assert len(chunks) == 3
    for chunk in chunks:
        assert set(chunk) <= declared
    whole = openai_to_ollama_completion(
        kind,  # type: ignore[arg-type]
        "m",
        {
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}
            ]
        },
        Clock(start=0),
        5,
    )
    assert set(whole) <= declared


def test_backend_extensions_are_declared() -> None:
    """The llama.cpp and reasoning fields the translators read are part of the received types."""
    assert {"timings", "usage", "choices", "error"} <= set(get_type_hints(openai.ChatCompletion))
    assert {"reasoning_content", "reasoning", "thinking", "reasoning_details"} <= set(
        get_type_hints(openai.ChoiceDelta)
    )
    assert {"prompt_n", "cache_n", "prompt_ms", "predicted_n", "predicted_ms"} == set(
        get_type_hints(openai.Timings)
    )
