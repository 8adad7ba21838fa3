"""Ollama options → backend parameters, for every option and every profile."""

from __future__ import annotations

from typing import Any

import pytest

from ollama_openai_proxy.protocol.options import LOAD_OPTIONS
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.options import coerce, map_options
from ollama_openai_proxy.translate.profiles import (
    GENERIC,
    LLAMACPP,
    OPENAI,
    OPENROUTER,
    PROFILES,
    VLLM,
    Profile,
    profile_for_owner,
    profile_for_url,
)


def mapped(profile: Profile, options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    payload: dict[str, Any] = {}
    ignored: list[str] = []
    map_options(options, profile, payload, ignored)
    return payload, ignored


# option, value sent, then per profile: (parameter name, value) or None when not forwarded
SAMPLING: list[tuple[str, Any, dict[str, tuple[str, Any] | None]]] = [
    ("temperature", 0.7, dict.fromkeys(PROFILES, ("temperature", 0.7))),
    ("top_p", 0.9, dict.fromkeys(PROFILES, ("top_p", 0.9))),
    ("seed", 42, dict.fromkeys(PROFILES, ("seed", 42))),
    ("frequency_penalty", 0.5, dict.fromkeys(PROFILES, ("frequency_penalty", 0.5))),
    ("presence_penalty", -0.5, dict.fromkeys(PROFILES, ("presence_penalty", -0.5))),
    ("stop", ["a", "b"], {p: ("stop", ["a", "b"]) for p in PROFILES}),
    (
        "num_predict",
        128,
        {
            "openai": ("max_completion_tokens", 128),
            "vllm": ("max_tokens", 128),
            "llamacpp": ("max_tokens", 128),
            "openrouter": ("max_tokens", 128),
            "generic": ("max_tokens", 128),
        },
    ),
    (
        "top_k",
        40,
        {
            "openai": None,
            "vllm": ("top_k", 40),
            "llamacpp": ("top_k", 40),
            "openrouter": ("top_k", 40),
            "generic": None,
        },
    ),
    (
        "min_p",
        0.05,
        {
            "openai": None,
            "vllm": ("min_p", 0.05),
            "llamacpp": ("min_p", 0.05),
            "openrouter": ("min_p", 0.05),
            "generic": None,
        },
    ),
    (
        "typical_p",
        0.95,
        {"openai": None, "vllm": None, "llamacpp": ("typical_p", 0.95), "openrouter": None, "generic": None},
    ),
    (
        "repeat_penalty",
        1.1,
        {
            "openai": None,
            "vllm": ("repetition_penalty", 1.1),
            "llamacpp": ("repeat_penalty", 1.1),
            "openrouter": ("repetition_penalty", 1.1),
            "generic": None,
        },
    ),
    (
        "repeat_last_n",
        64,
        {
            "openai": None,
            "vllm": None,
            "llamacpp": ("repeat_last_n", 64),
            "openrouter": None,
            "generic": None,
        },
    ),
    (
        "num_keep",
        4,
        {"openai": None, "vllm": None, "llamacpp": ("n_keep", 4), "openrouter": None, "generic": None},
    ),
    (
        "mirostat",
        2,
        {"openai": None, "vllm": None, "llamacpp": ("mirostat", 2), "openrouter": None, "generic": None},
    ),
    (
        "mirostat_tau",
        5.0,
        {
            "openai": None,
            "vllm": None,
            "llamacpp": ("mirostat_tau", 5.0),
            "openrouter": None,
            "generic": None,
        },
    ),
    (
        "mirostat_eta",
        0.1,
        {
            "openai": None,
            "vllm": None,
            "llamacpp": ("mirostat_eta", 0.1),
            "openrouter": None,
            "generic": None,
        },
    ),
    ("tfs_z", 1.0, dict.fromkeys(PROFILES)),
    ("penalize_newline", True, dict.fromkeys(PROFILES)),
]

CASES = [(opt, value, prof, want) for opt, value, table in SAMPLING for prof, want in table.items()]


@pytest.mark.parametrize(("option", "value", "profile", "want"), CASES, ids=[f"{c[2]}-{c[0]}" for c in CASES])
def test_option_per_profile(option: str, value: Any, profile: str, want: tuple[str, Any] | None) -> None:
    payload, ignored = mapped(PROFILES[profile], {option: value})
    if want is None:
        assert payload == {}
        assert ignored == [f"options.{option} (not supported by the {profile} profile)"]
    else:
        assert payload == {want[0]: want[1]}
        assert type(payload[want[0]]) is type(want[1])
        assert ignored == []


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("option", sorted(LOAD_OPTIONS))
def test_load_time_options_reported_never_sent(profile: str, option: str) -> None:
    value = (
        True
        if option
        in {
            "use_mmap",
            "numa",
            "low_vram",
            "f16_kv",
            "vocab_only",
            "use_mlock",
            "logits_all",
            "embedding_only",
        }
        else 8
    )
    payload, ignored = mapped(PROFILES[profile], {option: value})
    assert payload == {}
    assert ignored == [f"options.{option} (load-time)"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_unknown_option_reported(profile: str) -> None:
    payload, ignored = mapped(PROFILES[profile], {"made_up": 1})
    assert payload == {}
    assert ignored == [f"options.made_up (not supported by the {profile} profile)"]


@pytest.mark.parametrize("value", [0, -1, -2, "0", "-1", 0.5])
def test_num_predict_not_positive_omitted(value: Any) -> None:
    assert mapped(VLLM, {"num_predict": value}) == ({}, [])


@pytest.mark.parametrize("value", [-1, -1.0, "-1", -7])
def test_negative_seed_omitted(value: Any) -> None:
    assert mapped(LLAMACPP, {"seed": value}) == ({}, [])


def test_seed_zero_kept() -> None:
    assert mapped(OPENAI, {"seed": 0}) == ({"seed": 0}, [])


def test_null_options_skipped() -> None:
    assert mapped(OPENAI, {"temperature": None, "num_ctx": None}) == ({}, [])
    assert mapped(OPENAI, {}) == ({}, [])


def test_none_options_object() -> None:
    payload: dict[str, Any] = {"model": "x"}
    map_options(None, OPENAI, payload, [])
    assert payload == {"model": "x"}


def test_stop_string_becomes_list() -> None:
    assert mapped(GENERIC, {"stop": "\n\n"}) == ({"stop": ["\n\n"]}, [])


def test_stop_empty_strings_dropped_and_empty_list_omitted() -> None:
    assert mapped(VLLM, {"stop": ["", "x", ""]}) == ({"stop": ["x"]}, [])
    assert mapped(VLLM, {"stop": []}) == ({}, [])
    assert mapped(VLLM, {"stop": ""}) == ({}, [])


def test_openai_four_stop_limit() -> None:
    payload, ignored = mapped(OPENAI, {"stop": ["1", "2", "3", "4", "5", "6"]})
    assert payload == {"stop": ["1", "2", "3", "4"]}
    assert ignored == ["options.stop[4:] (backend accepts 4)"]
    assert mapped(OPENAI, {"stop": ["1", "2", "3", "4"]}) == ({"stop": ["1", "2", "3", "4"]}, [])


@pytest.mark.parametrize("profile", [VLLM, LLAMACPP, OPENROUTER, GENERIC])
def test_other_profiles_keep_all_stops(profile: Profile) -> None:
    stops = [str(i) for i in range(10)]
    assert mapped(profile, {"stop": stops}) == ({"stop": stops}, [])


# ---- type coercion -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "want"),
    [
        ("top_k", 40, 40),
        ("top_k", 40.9, 40),  # truncated toward zero, as Go does
        ("top_k", -1.9, -1),
        ("top_k", "12", 12),
        ("top_k", " 7 ", 7),
        ("num_predict", "12.7", 12),
        ("seed", 1e3, 1000),
        ("temperature", 1, 1.0),
        ("temperature", "0.25", 0.25),
        ("temperature", 0, 0.0),
        ("use_mmap", False, False),
        ("stop", "x", ["x"]),
        ("stop", ["x", "y"], ["x", "y"]),
        ("unknown_key", {"any": "thing"}, {"any": "thing"}),
    ],
)
def test_coerce_accepts(key: str, value: Any, want: Any) -> None:
    got = coerce(key, value)
    assert got == want
    assert type(got) is type(want)


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("top_k", "forty", "integer"),
        ("top_k", True, "integer"),
        ("top_k", None, "integer"),
        ("top_k", [1], "integer"),
        ("seed", "nan", "integer"),
        ("seed", "inf", "integer"),
        ("num_predict", "-inf", "integer"),
        ("seed", float("nan"), "integer"),
        ("temperature", "hot", "float"),
        ("temperature", False, "float"),
        ("temperature", {"v": 1}, "float"),
        ("temperature", "nan", "float"),
        ("top_p", "Infinity", "float"),
        ("use_mmap", "true", "boolean"),
        ("use_mmap", 1, "boolean"),
        ("stop", 5, "array"),
        ("stop", ["a", 1], "array"),
        ("stop", {"a": 1}, "array"),
    ],
)
def test_coerce_rejects_with_ollama_message(key: str, value: Any, kind: str) -> None:
    with pytest.raises(ProxyError) as info:
        coerce(key, value)
    assert info.value.status == 400
    assert info.value.message == f'option "{key}" must be of type {kind}'


def test_type_error_raised_from_map_options_even_for_unsupported_option() -> None:
    # a wrongly typed option is an error even where the profile would drop it
    with pytest.raises(ProxyError, match='option "top_k" must be of type integer'):
        mapped(OPENAI, {"top_k": "many"})


def test_all_options_together_llamacpp() -> None:
    options = {
        "num_keep": 5,
        "seed": 42,
        "num_predict": 100,
        "top_k": 20,
        "top_p": 0.9,
        "min_p": 0.0,
        "typical_p": 0.7,
        "repeat_last_n": 33,
        "temperature": 0.8,
        "repeat_penalty": 1.2,
        "presence_penalty": 1.5,
        "frequency_penalty": 1.0,
        "stop": ["\n", "user:"],
        "num_ctx": 1024,
        "num_batch": 2,
        "num_gpu": 1,
        "main_gpu": 0,
        "use_mmap": True,
        "num_thread": 8,
        "mirostat": 1,
        "mirostat_tau": 0.8,
        "mirostat_eta": 0.6,
        "penalize_newline": True,
        "numa": False,
    }
    payload, ignored = mapped(LLAMACPP, options)
    assert payload == {
        "n_keep": 5,
        "seed": 42,
        "max_tokens": 100,
        "top_k": 20,
        "top_p": 0.9,
        "min_p": 0.0,
        "typical_p": 0.7,
        "repeat_last_n": 33,
        "temperature": 0.8,
        "repeat_penalty": 1.2,
        "presence_penalty": 1.5,
        "frequency_penalty": 1.0,
        "stop": ["\n", "user:"],
        "mirostat": 1,
        "mirostat_tau": 0.8,
        "mirostat_eta": 0.6,
    }
    assert ignored == [
        "options.num_ctx (load-time)",
        "options.num_batch (load-time)",
        "options.num_gpu (load-time)",
        "options.main_gpu (load-time)",
        "options.use_mmap (load-time)",
        "options.num_thread (load-time)",
        "options.penalize_newline (not supported by the llamacpp profile)",
        "options.numa (load-time)",
    ]


# ---- profiles -----------------------------------------------------------------------------------


def test_profile_table() -> None:
    assert set(PROFILES) == {"openai", "vllm", "llamacpp", "openrouter", "generic"}
    assert OPENAI.max_tokens_param == "max_completion_tokens"
    assert OPENAI.max_stop == 4
    assert OPENAI.embed_dimensions
    assert [p.name for p in PROFILES.values() if p.suffix] == ["openai", "generic"]
    assert [p.name for p in PROFILES.values() if p.think_off] == ["vllm", "llamacpp", "openrouter"]
    assert LLAMACPP.json_mode == "object_schema"
    assert all(p.stream_usage for p in PROFILES.values())


@pytest.mark.parametrize(
    ("url", "profile"),
    [
        ("https://api.openai.com/v1", OPENAI),
        ("https://myres.openai.azure.com/openai", OPENAI),
        ("https://openrouter.ai/api/v1", OPENROUTER),
        ("http://localhost:8080/v1", None),
        ("http://api.openai.com.evil.example/v1", None),
        ("not a url", None),
    ],
)
def test_profile_for_url(url: str, profile: Profile | None) -> None:
    assert profile_for_url(url) is profile


@pytest.mark.parametrize(
    ("owner", "profile"), [("llamacpp", LLAMACPP), ("vLLM", VLLM), ("openai", None), ("", None)]
)
def test_profile_for_owner(owner: str, profile: Profile | None) -> None:
    assert profile_for_owner(owner) is profile
