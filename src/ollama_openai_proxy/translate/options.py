"""Ollama ``options`` → OpenAI request parameters, checked by type, with every unmapped key reported."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ollama_openai_proxy.protocol.openai import SamplingParams
from ollama_openai_proxy.protocol.options import BOOL_OPTIONS, FLOAT_OPTIONS, INT_OPTIONS, LOAD_OPTIONS
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.profiles import Profile


def _number(key: str, value: Any, kind: str) -> float:
    if isinstance(value, bool):
        raise ProxyError(400, f'option "{key}" must be of type {kind}')
    if isinstance(value, int):
        return value
    if isinstance(value, float | str):
        try:
            number = float(value.strip()) if isinstance(value, str) else value
        except ValueError:
            pass
        else:
            if math.isfinite(number):  # "nan"/"inf" would crash int() or reach the backend as null
                return number
    raise ProxyError(400, f'option "{key}" must be of type {kind}')


def coerce(key: str, value: Any) -> Any:
    """Check one option's type, accepting what Ollama accepts and a little more (numeric strings)."""
    if key in INT_OPTIONS:
        return int(_number(key, value, "integer"))
    if key in FLOAT_OPTIONS:
        return float(_number(key, value, "float"))
    if key in BOOL_OPTIONS:
        if isinstance(value, bool):
            return value
        raise ProxyError(400, f'option "{key}" must be of type boolean')
    if key == "stop":
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(s, str) for s in value):
            return value
        raise ProxyError(400, 'option "stop" must be of type array')
    return value


def map_options(
    options: Mapping[str, object] | None, profile: Profile, payload: SamplingParams, ignored: list[str]
) -> None:
    """Write the backend's parameters for ``options`` into ``payload``; list what has no counterpart."""
    if not options:
        return
    for key, raw in options.items():
        if raw is None:
            continue
        value = coerce(key, raw)
        if key == "num_predict":
            if value > 0:
                payload[profile.max_tokens_param] = value
            continue  # -1 (unlimited) and -2 (fill context) are the backend's default behaviour
        if key == "seed" and value < 0:
            continue  # -1 means "random", which is what omitting the seed gives
        target = profile.options.get(key)
        if target is None:
            reason = "load-time" if key in LOAD_OPTIONS else f"not supported by the {profile.name} profile"
            ignored.append(f"options.{key} ({reason})")
            continue
        if key == "stop":
            value = [s for s in value if s]
            if not value:
                continue
            if profile.max_stop is not None and len(value) > profile.max_stop:
                ignored.append(f"options.stop[{profile.max_stop}:] (backend accepts {profile.max_stop})")
                value = value[: profile.max_stop]
        payload[target] = value
