"""Kind 1: streamed tool-call deltas that do not follow OpenAI's indexing, assembled per call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.contract.quirks.conftest import Quirky
from tests.support.fake_backend import Reply, chunk, usage

TOOLS = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
    for n in ("add_numbers", "get_weather")
]
ASK = [{"role": "user", "content": "2+2 and the weather in Paris?"}]


def fn(name: str | None = None, arguments: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if name is not None:
        out["name"] = name
    if arguments is not None:
        out["arguments"] = arguments
    return out


def frag(*, index: int | None = None, id: str | None = None, **function: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"function": fn(**function)}
    if index is not None:
        out["index"] = index
    if id is not None:
        out["id"] = id
        out["type"] = "function"
    return out


TWO = [("add_numbers", {"a": 2, "b": 2}), ("get_weather", {"location": "Paris"})]
ONE = [("get_weather", {"city": "Paris"})]

# name → (fragments in order, expected calls)
SCENARIOS: dict[str, tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]] = {
    "parallel_all_under_index_0_new_ids": (
        [
            frag(index=0, id="call_a", name="add_numbers", arguments=""),
            frag(index=0, arguments='{"a": 2, '),
            frag(index=0, arguments='"b": 2}'),
            frag(index=0, id="call_b", name="get_weather", arguments='{"location": '),
            frag(index=0, arguments='"Paris"}'),
        ],
        TWO,
    ),
    "no_index_at_all": (
        [
            frag(id="call_1", name="get_weather", arguments=""),
            frag(arguments='{"city"'),
            frag(arguments=': "Paris"}'),
        ],
        ONE,
    ),
    "no_index_two_calls_new_ids": (
        [
            frag(id="x1", name="add_numbers", arguments='{"a": 2, "b": 2}'),
            frag(id="x2", name="get_weather"),
            frag(arguments='{"location": "Paris"}'),
        ],
        TWO,
    ),
    "mixed_index_and_none": (
        [
            frag(index=0, id="m1", name="add_numbers"),
            frag(arguments='{"a": 2, "b": 2}'),
            frag(index=1, id="m2", name="get_weather"),
            frag(index=1, arguments='{"location": '),
            frag(arguments='"Paris"}'),
        ],
        TWO,
    ),
    "id_repeated_on_every_fragment": (
        [
            frag(index=0, id="r1", name="add_numbers", arguments='{"a": 2,'),
            frag(index=0, id="r1", arguments=' "b": 2}'),
            frag(index=0, id="r2", name="get_weather", arguments='{"location":'),
            frag(index=0, id="r2", arguments=' "Paris"}'),
        ],
        TWO,
    ),
    "name_repeated_on_every_fragment": (
        [
            frag(index=0, id="n1", name="get_weather", arguments='{"city":'),
            frag(index=0, name="get_weather", arguments=' "Paris"}'),
        ],
        ONE,
    ),
    "name_split_across_fragments": (
        [
            frag(index=0, id="s1", name="get_", arguments=""),
            frag(index=0, name="weather", arguments='{"city": "Paris"}'),
        ],
        ONE,
    ),
    "id_arrives_after_the_first_fragment": (
        [
            frag(index=0, name="get_weather"),
            frag(index=0, id="late", arguments='{"city": "Paris"}'),
        ],
        ONE,
    ),
    "arguments_as_an_object": (
        [frag(index=0, id="o1", name="get_weather", arguments={"city": "Paris"})],
        ONE,
    ),
    "openai_standard_indexing": (
        [
            frag(index=0, id="c0", name="add_numbers", arguments=""),
            frag(index=1, id="c1", name="get_weather", arguments=""),
            frag(index=1, arguments='{"location": "Paris"}'),
            frag(index=0, arguments='{"a": 2, "b": 2}'),
        ],
        TWO,
    ),
}


def _events(fragments: list[dict[str, Any]]) -> list[Any]:
    events: list[Any] = [chunk({"role": "assistant", "content": None})]
    events += [chunk({"tool_calls": [f]}) for f in fragments]
    events.append(chunk({}, "tool_calls"))
    events.append({"id": "c", "object": "chat.completion.chunk", "choices": [], "usage": usage(20, 9)})
    return events


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "collected"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_tool_call_deltas(shared: Callable[[str], Quirky], name: str, stream: bool) -> None:
    fragments, expected = SCENARIOS[name]
    q = shared("llamacpp")  # streams from the backend for stream:false clients too
    q.backend.enqueue("chat/completions", Reply(events=_events(fragments)))
    if stream:
        parts = list(q.client.chat(model="test-model", messages=ASK, tools=TOOLS, stream=True))
        final = parts[-1]
        assert final.done and final.done_reason == "stop"
        calls = [c for p in parts for c in (p.message.tool_calls or [])]
    else:
        calls = q.client.chat(model="test-model", messages=ASK, tools=TOOLS).message.tool_calls or []
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == expected
    sent = q.bodies()[0]
    assert [t["function"]["name"] for t in sent["tools"]] == ["add_numbers", "get_weather"]
    assert sent["stream"] is True
