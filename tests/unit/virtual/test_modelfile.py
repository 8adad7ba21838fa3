"""Modelfile parsing (as `ollama create`), rendering (as `ollama show`) and the round trip between them."""

from __future__ import annotations

import contextlib
import string
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ollama_openai_proxy.virtual import VirtualModel, VirtualModelError, from_create_request
from ollama_openai_proxy.virtual.modelfile import (
    COMMAND_ERROR,
    go_quote,
    parse_modelfile,
    read_value,
    render_modelfile,
    render_parameters,
    representable,
)
from ollama_openai_proxy.virtual.spec import ROLE_ERROR, WEIGHTS_ERROR


def test_parse_everything() -> None:
    text = '''\ufeff# a comment
from llama3.2:3b
  # indented comment

SYSTEM """You are
a "pirate".
"""
template "{{ .Prompt }}"
PARAMETER temperature 0.3
parameter stop <|eot_id|>
PARAMETER stop "Human: "
PARAMETER	top_k	20
PARAMETER use_mmap false
MESSAGE user Hello there, captain
message ASSISTANT """Arr!
Ahoy."""
LICENSE MIT
LICENSE """Apache
2.0"""
RENDERER qwen3
PARSER qwen3
REQUIRES 0.10.0
'''
    assert parse_modelfile(text) == {
        "from": "llama3.2:3b",
        "system": 'You are\na "pirate".\n',
        "template": "{{ .Prompt }}",
        "parameters": {"temperature": 0.3, "stop": ["<|eot_id|>", "Human: "], "top_k": 20, "use_mmap": False},
        "messages": [
            {"role": "user", "content": "Hello there, captain"},
            {"role": "assistant", "content": "Arr!\nAhoy."},
        ],
        "license": ["MIT", "Apache\n2.0"],
    }


def test_last_value_wins_and_crlf() -> None:
    text = "FROM a\r\nFROM b\r\nSYSTEM one\r\nSYSTEM  two  \r\nPARAMETER top_k 1\r\nPARAMETER top_k 2\r\n"
    parsed = parse_modelfile(text)
    assert parsed["from"] == "b"
    assert parsed["system"] == "two"
    assert parsed["parameters"] == {"top_k": 2}


def test_values_keep_inner_spaces_and_hashes() -> None:
    parsed = parse_modelfile('FROM x\nSYSTEM   be brief  # not a comment   \nMESSAGE user "  padded  "\n')
    assert parsed["system"] == "be brief  # not a comment"
    assert parsed["messages"] == [{"role": "user", "content": "  padded  "}]


def test_quotes_are_not_unescaped_and_close_only_at_a_line_end() -> None:
    parsed = parse_modelfile('FROM x\nSYSTEM """a""" b\nc"""\nTEMPLATE "x\\ny"\n')
    assert parsed["system"] == 'a""" b\nc'
    assert parsed["template"] == "x\\ny"


def test_empty_quoted_values() -> None:
    parsed = parse_modelfile('FROM x\nPARAMETER stop ""\nSYSTEM """"""\n')
    assert parsed["parameters"] == {"stop": [""]}
    assert parsed["system"] == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SYSTEM hi\n", "no FROM line"),
        ("# only a comment\n", "no FROM line"),
        ("", "no FROM line"),
        ("FROM x\nADAPTER ./lora.gguf\n", WEIGHTS_ERROR),
        ("FROM x\nDRAFT ./small.gguf\n", WEIGHTS_ERROR),
        ("FROM x\nINSTRUCTION hi\n", f"(line 2): {COMMAND_ERROR}"),
        ("FROM x\n1SYSTEM hi\n", f"(line 2): {COMMAND_ERROR}"),
        ("FROM x\nSYSTEM: hi\n", f"(line 2): {COMMAND_ERROR}"),
        ("FROM x\nSYSTEM\n", "(line 2): SYSTEM needs a value"),
        ("FROM\n", "(line 1): FROM needs a value"),
        ("FROM x\nPARAMETER\n", "(line 2): PARAMETER needs a value"),
        ("FROM x\nPARAMETER \n", "(line 2): PARAMETER needs a name"),
        ("FROM x\nPARAMETER top_k\n", "(line 2): PARAMETER top_k needs a value"),
        ("FROM x\nMESSAGE user\n", "(line 2): MESSAGE user needs a value"),
        ("FROM x\nMESSAGE tool hi\n", f"(line 2): {ROLE_ERROR}"),
        ("FROM x\n\nPARAMETER foo 1\n", "(line 3): unknown parameter 'foo'"),
        (
            "FROM x\nPARAMETER top_k lots\n",
            "(line 2): parameter 'top_k' must be of type integer (got 'lots')",
        ),
        (
            "FROM x\nPARAMETER use_mmap maybe\n",
            "(line 2): parameter 'use_mmap' must be of type boolean (got 'maybe')",
        ),
        (
            'FROM x\nSYSTEM """never closed\nstill open\n',
            "(line 2): a quoted value is not closed (missing closing quotes)",
        ),
        ('FROM x\nSYSTEM "never closed\n', "(line 2): a quoted value is not closed (missing closing quotes)"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(VirtualModelError) as info:
        parse_modelfile(text)
    assert str(info.value) == message


def test_read_value() -> None:
    assert read_value("abc  \nnext", 0) == ("abc", 5)
    assert read_value('"""a\n"""  \nnext', 0) == ("a\n", 10)
    assert read_value('"a', 0) is None
    assert read_value("   \n", 0) == ("", 3)


def _model(**fields: Any) -> VirtualModel:
    return VirtualModel(name="pirate", base="llama3.2:latest", created_at=0.0, **fields)


def test_render_modelfile() -> None:
    model = _model(
        system="You are a pirate.",
        template="{{ .Prompt }}",
        parameters={"temperature": 0.7, "stop": ["<|eot_id|>", "Human: "], "num_ctx": 8192, "use_mmap": True},
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": 'say "arr"\nloudly'}],
        license=["MIT"],
    )
    assert render_modelfile(model) == (
        '# Modelfile generated by "ollama show"\n'
        "# To build a new Modelfile based on this, replace FROM with:\n"
        "# FROM pirate:latest\n"
        "\n"
        "FROM llama3.2:latest\n"
        'TEMPLATE """{{ .Prompt }}"""\n'
        'SYSTEM """You are a pirate."""\n'
        "PARAMETER temperature 0.7\n"
        "PARAMETER stop <|eot_id|>\n"
        'PARAMETER stop "Human: "\n'
        "PARAMETER num_ctx 8192\n"
        "PARAMETER use_mmap true\n"
        'LICENSE """MIT"""\n'
        "MESSAGE user hi\n"
        'MESSAGE assistant """say "arr"\nloudly"""\n'
    )


def test_render_minimal() -> None:
    assert render_modelfile(_model()).splitlines()[-1] == "FROM llama3.2:latest"


def test_render_parameters() -> None:
    text = render_parameters(
        {"stop": ["<|eot_id|>", 'a"b\n'], "temperature": 1.0, "num_ctx": 4096, "numa": False}
    )
    assert text == (
        'stop                           "<|eot_id|>"\n'
        'stop                           "a\\"b\\n"\n'
        "temperature                    1\n"
        "num_ctx                        4096\n"
        "numa                           false"
    )
    assert render_parameters({}) == ""


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("plain", '"plain"'),
        ('q"b\\s', '"q\\"b\\\\s"'),
        ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
        ("\x00\x7f", '"\\x00\\x7f"'),
        ("\u200b\xa0", '"\\u200b\\u00a0"'),
        ("\U000e0001", '"\\U000e0001"'),
        ("héllo 世界 🙂", '"héllo 世界 🙂"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_unrepresentable_value_renders_lossily() -> None:
    value = 'x"""\ny"\nz'
    assert not representable(value)
    text = render_modelfile(_model(system=value))
    assert 'SYSTEM """x"""\ny"\nz"""' in text
    assert representable('ends with """')
    assert representable('"""')


# -- round trip ------------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
_tricky = st.text(st.sampled_from(['"', " ", "\n", "\r", "\t", "a", "#", "\xa0", "\u3000", "x"]), max_size=12)
_value = st.one_of(_text, _tricky)
_base = st.from_regex(r"[a-z][a-z0-9_.\-]{0,15}(:[a-z0-9_.\-]{1,8})?", fullmatch=True)
_int_keys = st.sampled_from(["num_ctx", "top_k", "seed", "num_predict", "repeat_last_n", "num_gpu"])
_float_keys = st.sampled_from(["temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty"])
_bool_keys = st.sampled_from(["use_mmap", "numa", "low_vram"])
_parameters = st.fixed_dictionaries(
    {},
    optional={
        "stop": st.lists(_value, max_size=4),
        "num_ctx": st.integers(-(2**63), 2**63),
        "top_k": st.integers(-5, 500),
        "seed": st.integers(),
        "temperature": st.floats(allow_nan=False, allow_infinity=False),
        "top_p": st.floats(0, 1),
        "min_p": st.floats(allow_nan=False, allow_infinity=False, width=32),
        "use_mmap": st.booleans(),
        "numa": st.booleans(),
    },
)
_messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": _value}),
    max_size=4,
)
_models = st.builds(
    VirtualModel,
    name=st.just("rt:latest"),
    base=_base,
    system=st.none() | _value,
    template=st.none() | _value,
    parameters=_parameters,
    messages=_messages,
    license=st.lists(_value, max_size=3),
    created_at=st.just(0.0),
)


def _strings(model: VirtualModel) -> list[str]:
    out = [model.system or "", model.template or "", *model.license, *(m.content for m in model.messages)]
    return out + list(model.parameters.get("stop", []))


@settings(max_examples=400, deadline=None)
@given(_models)
def test_render_then_parse_gives_the_same_model(model: VirtualModel) -> None:
    assume(all(representable(s) for s in _strings(model)))
    text = render_modelfile(model)
    again = from_create_request({"model": model.name, "modelfile": text})
    assert again.model_dump(exclude={"created_at"}) == model.model_dump(exclude={"created_at"})


@settings(max_examples=300, deadline=None)
@given(_value)
def test_values_survive_every_command(value: str) -> None:
    assume(representable(value))
    model = _model(
        system=value, template=value, license=[value], messages=[{"role": "user", "content": value}]
    )
    model = model.model_copy(update={"parameters": {"stop": [value]}})
    again = from_create_request({"model": "pirate", "modelfile": render_modelfile(model)})
    assert again.system == model.system
    assert again.template == model.template
    assert again.license == [value]
    assert again.messages[0].content == value
    assert again.parameters == {"stop": [value]}


@given(st.text(string.printable, max_size=30))
def test_parse_never_crashes(text: str) -> None:
    with contextlib.suppress(VirtualModelError):
        parse_modelfile(text)
