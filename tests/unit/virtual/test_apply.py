"""Applying chains of virtual models to chat and generate requests, and resolving the chains."""

from __future__ import annotations

import pytest

from ollama_openai_proxy.protocol.ollama import ChatRequest, GenerateRequest, Message
from ollama_openai_proxy.virtual import (
    VirtualModel,
    VirtualModelError,
    apply_to_chat,
    apply_to_generate,
    flatten,
    generate_leading_messages,
    leading_messages,
    resolve_chain,
)


def vm(name: str, base: str, **fields: object) -> VirtualModel:
    return VirtualModel.model_validate({"name": name, "base": base, **fields})


INNER = vm(
    "inner",
    "llama3.2",
    system="inner system",
    template="inner template",
    parameters={"temperature": 0.1, "top_k": 10, "stop": ["a", "b"]},
    messages=[{"role": "user", "content": "inner hi"}],
    license=["L1"],
)
OUTER = vm(
    "outer",
    "inner",
    system="outer system",
    parameters={"temperature": 0.9, "stop": ["c"]},
    license=["L1", "L2"],
)
CHAIN = [OUTER, INNER]


def roles(req: ChatRequest) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in req.messages or []]


def test_flatten() -> None:
    flat = flatten(CHAIN)
    assert flat is not None
    assert flat.name == "outer:latest"
    assert flat.base == "inner"
    assert flat.system == "outer system"
    assert flat.template == "inner template"
    assert flat.parameters == {"temperature": 0.9, "top_k": 10, "stop": ["c"]}
    assert [m.content for m in flat.messages] == ["inner hi"]
    assert flat.license == ["L1", "L2"]
    assert flatten([]) is None
    outer_messages = vm("o", "inner", messages=[{"role": "assistant", "content": "outer"}])
    flat = flatten([outer_messages, INNER])
    assert flat is not None
    assert [m.content for m in flat.messages] == ["outer"]
    assert flat.system == "inner system"


def test_chat_defaults() -> None:
    req = ChatRequest.model_validate({"model": "outer", "messages": [{"role": "user", "content": "hello"}]})
    out = apply_to_chat(req, CHAIN)
    assert roles(out) == [("system", "outer system"), ("user", "inner hi"), ("user", "hello")]
    assert out.options == {"temperature": 0.9, "top_k": 10, "stop": ["c"]}
    assert out.model == "outer"
    assert out is not req
    assert roles(req) == [("user", "hello")]
    assert req.options is None


def test_chat_request_wins() -> None:
    req = ChatRequest.model_validate(
        {
            "model": "outer",
            "messages": [{"role": "system", "content": "mine"}, {"role": "user", "content": "hello"}],
            "options": {"temperature": 0.3, "top_k": None, "seed": 7},
        }
    )
    before = req.model_dump()
    out = apply_to_chat(req, CHAIN)
    assert roles(out) == [("system", "mine"), ("user", "inner hi"), ("user", "hello")]
    assert out.options == {"temperature": 0.3, "top_k": 10, "stop": ["c"], "seed": 7}
    assert req.model_dump() == before


def test_chat_load_request_keeps_no_messages() -> None:
    empty: list[Message] = []
    for messages in (None, empty):
        req = ChatRequest(model="outer", messages=messages)
        out = apply_to_chat(req, CHAIN)
        assert out.messages == messages


def test_chat_without_system_or_parameters() -> None:
    bare = vm("bare", "llama3.2")
    req = ChatRequest.model_validate({"model": "bare", "messages": [{"role": "user", "content": "x"}]})
    out = apply_to_chat(req, [bare])
    assert roles(out) == [("user", "x")]
    assert out.options is None
    assert apply_to_chat(req, []) == req


def test_generate_defaults_and_request_wins() -> None:
    req = GenerateRequest(model="outer", prompt="hi", options={"top_k": 1})
    out = apply_to_generate(req, CHAIN)
    assert out.system == "outer system"
    assert out.options == {"temperature": 0.9, "top_k": 1, "stop": ["c"]}
    assert req.system == ""
    assert req.options == {"top_k": 1}

    own = apply_to_generate(GenerateRequest(model="outer", prompt="hi", system="mine"), CHAIN)
    assert own.system == "mine"

    raw = apply_to_generate(GenerateRequest(model="outer", prompt="hi", raw=True), CHAIN)
    assert raw.system == ""
    assert raw.options == {"temperature": 0.9, "top_k": 10, "stop": ["c"]}

    plain = GenerateRequest(model="x", prompt="hi")
    assert apply_to_generate(plain, []) == plain
    assert apply_to_generate(plain, [vm("x", "y")]).system == ""


def test_leading_messages() -> None:
    assert [(m.role, m.content) for m in leading_messages(CHAIN)] == [("user", "inner hi")]
    assert leading_messages([]) == []
    req = GenerateRequest(model="outer", prompt="hi")
    assert [m.content for m in generate_leading_messages(req, CHAIN)] == ["inner hi"]
    assert generate_leading_messages(GenerateRequest(model="o", prompt="hi", context=[1, 2]), CHAIN) == []
    assert generate_leading_messages(GenerateRequest(model="o", prompt="hi", raw=True), CHAIN) == []


def test_returned_messages_are_fresh() -> None:
    first = leading_messages(CHAIN)
    first[0].content = "changed"
    assert INNER.messages[0].content == "inner hi"


# -- chains --------------------------------------------------------------------------------------


def lookup_in(*models: VirtualModel) -> dict[str, VirtualModel]:
    return {m.key: m for m in models}


def test_resolve_chain() -> None:
    table = lookup_in(OUTER, INNER)

    def lookup(name: str) -> VirtualModel | None:
        return table.get(name.lower().removesuffix(":latest"))

    assert resolve_chain("Outer:latest", lookup) == ([OUTER, INNER], "llama3.2")
    assert resolve_chain("inner", lookup) == ([INNER], "llama3.2")
    assert resolve_chain("llama3.2", lookup) == ([], "llama3.2")
    new = vm("newest", "outer")
    assert resolve_chain(new, lookup) == ([new, OUTER, INNER], "llama3.2")


def test_cycles_are_rejected() -> None:
    a, b = vm("a", "b"), vm("b", "a:latest")
    table = lookup_in(a, b)

    def lookup(name: str) -> VirtualModel | None:
        return table.get(name.lower().removesuffix(":latest"))

    with pytest.raises(VirtualModelError) as info:
        resolve_chain("a", lookup)
    assert str(info.value) == "model 'a:latest' derives from itself (a:latest -> b:latest -> a:latest)"
    with pytest.raises(
        VirtualModelError, match=r"^model 'self:latest' derives from itself \(self:latest -> self:latest\)$"
    ):
        resolve_chain(vm("self", "SELF"), lookup)
    # re-creating "b" FROM "a" when a derives from b
    with pytest.raises(VirtualModelError, match="derives from itself"):
        resolve_chain(vm("b", "a"), lookup)


def test_depth_limit() -> None:
    models = {f"m{i}": vm(f"m{i}", f"m{i + 1}") for i in range(40)}

    def lookup(name: str) -> VirtualModel | None:
        return models.get(name.removesuffix(":latest"))

    with pytest.raises(VirtualModelError, match=r"^model 'm0:latest' derives from more than 5 models$"):
        resolve_chain("m0", lookup, max_depth=5)
    chain, bottom = resolve_chain("m30", lookup)
    assert len(chain) == 10
    assert bottom == "m40"
