"""Modelfile PARAMETERs: the valid names, type checking via translate.options.coerce, Go-style formatting."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ollama_openai_proxy.protocol.options import BOOL_OPTIONS, OPTION_TYPES, OptionValue
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.options import coerce
from ollama_openai_proxy.virtual.errors import VirtualModelError

#: Every option name an Ollama client or server knows (reference §5), from protocol/options.py.
VALID_PARAMETERS: frozenset[str] = frozenset(OPTION_TYPES)
BOOL_PARAMETERS: frozenset[str] = BOOL_OPTIONS

_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
# Go's strconv.ParseBool, which is what `ollama create` applies to a PARAMETER line's text.
_BOOL_TEXT = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}


def coerce_parameter(key: str, value: Any) -> Any:
    """One parameter's checked value: unknown names and wrong types raise VirtualModelError.

    Numbers may be given as numeric strings (Modelfile text); booleans as Go's ParseBool spellings;
    ``stop`` as a string or a list of strings (always returned as a list).
    """
    if key not in VALID_PARAMETERS:
        raise VirtualModelError(f"unknown parameter '{key}'")
    if isinstance(value, str) and value in _BOOL_TEXT and key in BOOL_PARAMETERS:
        value = _BOOL_TEXT[value]
    elif isinstance(value, str) and key != "stop" and _INTEGER.fullmatch(value):
        value = int(value)  # exact, where coerce's float() would round integers beyond 2**53
    try:
        checked = coerce(key, value)
    except ProxyError as exc:
        kind = exc.message.rsplit(" must be ", 1)[-1]
        raise VirtualModelError(f"parameter '{key}' must be {kind} (got {value!r})") from None
    except (ValueError, OverflowError):  # int("nan"), int(inf)
        raise VirtualModelError(f"parameter '{key}' must be a finite number (got {value!r})") from None
    if isinstance(checked, float) and not math.isfinite(checked):
        raise VirtualModelError(f"parameter '{key}' must be a finite number (got {value!r})")
    if key == "stop":
        return list(checked)
    return checked


def normalize_parameters(parameters: Mapping[object, object]) -> dict[str, OptionValue]:
    """Check every parameter of a create body or a stored model; ``None`` and an empty ``stop`` are dropped.

    (A Modelfile cannot express an empty ``stop``, so dropping it keeps render → parse exact.)
    """
    out: dict[str, OptionValue] = {}
    for key, value in parameters.items():
        if value is None:
            continue
        if not isinstance(key, str):
            raise VirtualModelError(f"unknown parameter '{key}'")
        checked = coerce_parameter(key, value)
        if checked != []:
            out[key] = checked
    return out


def go_value(value: Any) -> str:
    """A parameter value as Go's ``%v`` prints it (floats shortest, exponent form from 1e+06)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'g', -1, 64)``: shortest digits, %e when exp < -4 or exp >= 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    point = len(text) + exponent  # position of the decimal point relative to the digits
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        body = f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    elif point <= 0:
        body = "0." + "0" * -point + text
    elif point >= len(text):
        body = text + "0" * (point - len(text))
    else:
        body = text[:point] + "." + text[point:]
    return ("-" if sign else "") + body
