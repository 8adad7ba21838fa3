"""Parameter names, type checks and Go-style value formatting."""

from __future__ import annotations

import pytest

from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.options import coerce
from ollama_openai_proxy.virtual.errors import VirtualModelError
from ollama_openai_proxy.virtual.params import (
    BOOL_PARAMETERS,
    VALID_PARAMETERS,
    coerce_parameter,
    go_float,
    go_value,
    normalize_parameters,
)


@pytest.mark.parametrize("key", sorted(VALID_PARAMETERS - {"stop"}))
def test_every_valid_name_is_typed_by_coerce(key: str) -> None:
    # coerce passes unknown keys through unchanged; a known key must refuse a non-value
    with pytest.raises(ProxyError):
        coerce(key, "not a value")


@pytest.mark.parametrize("key", sorted(BOOL_PARAMETERS))
def test_bool_names_are_booleans_for_coerce(key: str) -> None:
    assert coerce(key, True) is True
    with pytest.raises(ProxyError):
        coerce(key, 1)


def test_stop_text_that_looks_boolean_stays_text() -> None:
    assert coerce_parameter("stop", "0") == ["0"]
    assert coerce_parameter("stop", "true") == ["true"]


def test_unknown_parameter() -> None:
    with pytest.raises(VirtualModelError, match=r"^unknown parameter 'top-k'$"):
        coerce_parameter("top-k", 3)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("temperature", "0.7", 0.7),
        ("temperature", 1, 1.0),
        ("top_k", "40", 40),
        ("top_k", 40.0, 40),
        ("seed", " 9007199254740993 ", 9007199254740993),
        ("seed", "-3", -3),
        ("num_ctx", 8192, 8192),
        ("use_mmap", "true", True),
        ("use_mmap", "F", False),
        ("use_mmap", True, True),
        ("stop", "<|eot_id|>", ["<|eot_id|>"]),
        ("stop", ["a", "b"], ["a", "b"]),
    ],
)
def test_coerce_parameter(key: str, value: object, expected: object) -> None:
    result = coerce_parameter(key, value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("top_k", "abc", "parameter 'top_k' must be of type integer (got 'abc')"),
        ("temperature", True, "parameter 'temperature' must be of type float (got True)"),
        ("use_mmap", "yes", "parameter 'use_mmap' must be of type boolean (got 'yes')"),
        ("stop", [1], "parameter 'stop' must be of type array (got [1])"),
    ],
)
def test_coerce_parameter_type_errors(key: str, value: object, message: str) -> None:
    with pytest.raises(VirtualModelError) as info:
        coerce_parameter(key, value)
    assert str(info.value) == message
    assert info.value.status == 400


@pytest.mark.parametrize(("key", "value"), [("temperature", "nan"), ("top_k", "inf"), ("seed", float("nan"))])
def test_non_finite_numbers_are_refused(key: str, value: object) -> None:
    # translate.options.coerce may refuse these itself ("of type ...") or let them through ("finite")
    with pytest.raises(
        VirtualModelError, match=rf"^parameter '{key}' must be (of type \w+|a finite number) "
    ):
        coerce_parameter(key, value)


def test_normalize_parameters_drops_null_and_checks_keys() -> None:
    assert normalize_parameters({"temperature": None, "top_k": "5"}) == {"top_k": 5}
    with pytest.raises(VirtualModelError, match="unknown parameter '1'"):
        normalize_parameters({1: 2})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.7, "0.7"),
        (1.0, "1"),
        (100.0, "100"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (1e-5, "1e-05"),
        (-2.5, "-2.5"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1e21, "1e+21"),
        (5e-324, "5e-324"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


def test_go_value() -> None:
    assert go_value(True) == "true"
    assert go_value(False) == "false"
    assert go_value(4096) == "4096"
    assert go_value(0.5) == "0.5"
    assert go_value("x") == "x"
