"""Kind 4: message content as typed parts, and reasoning delivered any way (fields under several
names, typed parts, in-band <think> markup, markers split across chunks), streamed or not."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.contract.quirks.conftest import Quirky
from tests.support.fake_backend import Reply, chunk, usage

USER = [{"role": "user", "content": "Hi"}]
THOUGHT = "The user greets me."
ANSWER = "Hello!"


def whole(message: dict[str, Any]) -> Reply:
    return Reply(
        json={
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
            "usage": usage(3, 4),
        }
    )


def streamed(*deltas: dict[str, Any]) -> Reply:
    events: list[Any] = [chunk({"role": "assistant"})]
    events += [chunk(d) for d in deltas]
    events += [chunk({}, "stop"), {"choices": [], "usage": usage(3, 4)}]
    return Reply(events=events)


MISTRAL_PARTS = [
    {"type": "thinking", "thinking": [{"type": "text", "text": THOUGHT}]},
    {"type": "text", "text": ANSWER},
]
# name → (non-streamed message, streamed deltas); each must give thinking=THOUGHT, content=ANSWER
SCENARIOS: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {
    "mistral_typed_parts": (
        {"content": MISTRAL_PARTS},
        [
            {"content": [MISTRAL_PARTS[0]]},
            {"content": [{"type": "text", "text": "Hel"}]},
            {"content": [{"type": "text", "text": "lo!"}]},
        ],
    ),
    "reasoning_content_field": (
        {"content": ANSWER, "reasoning_content": THOUGHT},
        [{"reasoning_content": "The user "}, {"reasoning_content": "greets me."}, {"content": ANSWER}],
    ),
    "reasoning_field": (
        {"content": ANSWER, "reasoning": THOUGHT},
        [{"reasoning": THOUGHT}, {"content": "Hello"}, {"content": "!"}],
    ),
    "thinking_field": (
        {"content": ANSWER, "thinking": THOUGHT},
        [{"thinking": THOUGHT}, {"content": ANSWER}],
    ),
    "openrouter_reasoning_details": (
        {
            "content": ANSWER,
            "reasoning_details": [
                {"type": "reasoning.text", "text": THOUGHT},
                {"type": "reasoning.encrypted", "data": "xx"},
            ],
        },
        [{"reasoning_details": [{"type": "reasoning.text", "text": THOUGHT}]}, {"content": ANSWER}],
    ),
    "think_markup_in_text": (
        {"content": f"<think>{THOUGHT}</think>\n{ANSWER}"},
        [{"content": "<think>"}, {"content": THOUGHT}, {"content": "</think>\n"}, {"content": ANSWER}],
    ),
    "think_markers_split_across_chunks": (
        {"content": f"\n<think>\n{THOUGHT}</think>\n\n{ANSWER}"},
        [
            {"content": "\n<th"},
            {"content": "ink>\nThe user gr"},
            {"content": "eets me.</th"},
            {"content": "in"},
            {"content": "k>\n\nHel"},
            {"content": "lo!"},
        ],
    ),
    "think_markup_one_char_per_chunk": (
        {"content": f"<think>{THOUGHT}</think>{ANSWER}"},
        [{"content": c} for c in f"<think>{THOUGHT}</think>{ANSWER}"],
    ),
    "unknown_part_types_dropped": (
        {
            "content": [{"type": "text", "text": ANSWER}, {"type": "citation", "url": "x"}],
            "reasoning_content": THOUGHT,
        },
        [
            {"reasoning_content": THOUGHT},
            {"content": [{"type": "image_ref", "id": 1}, {"type": "text", "text": ANSWER}]},
        ],
    ),
}


@pytest.mark.parametrize("think", [True, None], ids=["think", "think_absent"])
@pytest.mark.parametrize("mode", ["whole", "streamed", "collected"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_reasoning_any_way(shared: Callable[[str], Quirky], name: str, mode: str, think: bool | None) -> None:
    message, deltas = SCENARIOS[name]
    q = shared("generic" if mode == "whole" else "llamacpp")
    q.backend.enqueue("chat/completions", whole(message) if mode == "whole" else streamed(*deltas))
    if mode == "streamed":
        parts = list(q.client.chat(model="test-model", messages=USER, stream=True, think=think))
        content = "".join(p.message.content or "" for p in parts)
        thinking = "".join(p.message.thinking or "" for p in parts)
        assert all(isinstance(p.message.content, str) for p in parts)
    else:
        reply = q.client.chat(model="test-model", messages=USER, think=think)
        content, thinking = reply.message.content, reply.message.thinking
    assert (thinking, content) == (THOUGHT, ANSWER)
    assert q.bodies()[0]["messages"] == USER


@pytest.mark.parametrize("mode", ["whole", "streamed"])
def test_generate_gets_parts_and_markup_too(shared: Callable[[str], Quirky], mode: str) -> None:
    q = shared("generic")
    if mode == "whole":
        q.backend.enqueue("chat/completions", whole({"content": MISTRAL_PARTS}))
        reply = q.client.generate(model="test-model", prompt="Hi")
        response, thinking = reply.response, reply.thinking
    else:
        q.backend.enqueue(
            "chat/completions", streamed({"content": "<thi"}, {"content": f"nk>{THOUGHT}</think>{ANSWER}"})
        )
        parts = list(q.client.generate(model="test-model", prompt="Hi", stream=True))
        response = "".join(p.response or "" for p in parts)
        thinking = "".join(p.thinking or "" for p in parts)
    assert (thinking, response) == (THOUGHT, ANSWER)


@pytest.mark.parametrize("mode", ["whole", "streamed"])
def test_think_false_keeps_markup_as_written_and_fields_as_thinking(
    shared: Callable[[str], Quirky], mode: str
) -> None:
    """With think: false nothing is lost: markup stays in the text, a separate field stays thinking."""
    q = shared("generic")
    text = f"<think>{THOUGHT}</think>{ANSWER}"
    if mode == "whole":
        q.backend.enqueue("chat/completions", whole({"content": text, "reasoning_content": "r"}))
        reply = q.client.chat(model="test-model", messages=USER, think=False)
        content, thinking = reply.message.content, reply.message.thinking
    else:
        q.backend.enqueue(
            "chat/completions",
            streamed({"reasoning_content": "r"}, {"content": text[:5]}, {"content": text[5:]}),
        )
        parts = list(q.client.chat(model="test-model", messages=USER, think=False, stream=True))
        content = "".join(p.message.content or "" for p in parts)
        thinking = "".join(p.message.thinking or "" for p in parts)
    assert (thinking, content) == ("r", text)


@pytest.mark.parametrize(
    "text",
    [
        "Use <think> tags like this.",
        "a < b and <thinking> is a word",
        "<",
        "<thin",
        "<think>unclosed reasoning",
    ],
)
def test_markup_only_at_the_start_and_nothing_lost(shared: Callable[[str], Quirky], text: str) -> None:
    q = shared("llamacpp")
    q.backend.enqueue("chat/completions", streamed(*({"content": c} for c in text)))
    parts = list(q.client.chat(model="test-model", messages=USER, stream=True))
    content = "".join(p.message.content or "" for p in parts)
    thinking = "".join(p.message.thinking or "" for p in parts)
    if text.startswith("<think>"):
        assert (thinking, content) == ("unclosed reasoning", "")
    else:
        assert (thinking, content) == ("", text)


def test_unknown_part_types_are_named_in_the_debug_log(
    quirky: Callable[..., Quirky], proxy_log: list[str]
) -> None:
    q = quirky("generic", log_level="debug")
    q.backend.enqueue(
        "chat/completions", whole({"content": [{"type": "text", "text": ANSWER}, {"type": "citation"}]})
    )
    reply = q.client.chat(model="test-model", messages=USER)
    assert reply.message.content == ANSWER
    assert any("'citation' ignored" in m for m in proxy_log)
