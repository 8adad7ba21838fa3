"""Model names: matching keys, validity and display names for backend ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_openai_proxy.translate import names
from ollama_openai_proxy.translate.names import canonical, display_name, is_valid


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("llama3.2", "llama3.2"),
        ("llama3.2:latest", "llama3.2"),
        ("Llama3.2:LATEST", "llama3.2"),
        ("registry.ollama.ai/library/llama3.2:latest", "llama3.2"),
        ("library/llama3.2", "llama3.2"),
        ("registry.ollama.ai/jmorgan/tiny:1b", "jmorgan/tiny:1b"),
        ("  gpt-4o  ", "gpt-4o"),
        ("gpt-4o", "gpt-4o"),
        ("Qwen/Qwen3-8B", "qwen/qwen3-8b"),
        ("Qwen/Qwen3-8B:latest", "qwen/qwen3-8b"),
        ("meta-llama/llama-3.1-8b-instruct:free", "meta-llama/llama-3.1-8b-instruct:free"),
        ("accounts/fireworks/models/llama-v3", "accounts/fireworks/models/llama-v3"),
        ("a:b:c", "a:b:c"),
        ("model.gguf", "model.gguf"),
        ("My Model", "my model"),
        ("hf.co/org/m:Q4_K_M", "hf.co/org/m:q4_k_m"),
        ("latest", "latest"),
        ("x:latest:latest", "x:latest"),
    ],
)
def test_canonical(name: str, key: str) -> None:
    assert canonical(name) == key


def test_canonical_equivalences() -> None:
    assert (
        canonical("llama3.2")
        == canonical("LLAMA3.2:latest")
        == canonical("registry.ollama.ai/library/llama3.2:latest")
    )
    assert canonical("llama3.2:1b") != canonical("llama3.2")


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("gpt-4o", True),
        ("llama3.2:latest", True),
        ("Qwen/Qwen3-8B", True),
        ("meta-llama/llama-3.1-8b-instruct:free", True),
        ("registry.ollama.ai/library/llama3.2:1b", True),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", True),
        ("model.gguf", True),
        ("_private", True),
        ("a" * 80, True),
        ("accounts/fireworks/models/llama-v3", False),  # four parts
        ("a:b:c", False),
        ("My Model", False),
        ("", False),
        ("x:", False),  # empty tag
        (":tag", False),
        ("a//b", False),
        ("/abs", False),
        ("ns.dot/model", False),  # no "." in the namespace
        ("host.example/ns.dot/model", False),
        (".hidden", False),
        ("-dash", False),
        ("a" * 81, False),
        ("m:" + "t" * 81, False),
        ("m:.tag", False),
        ("ünïcode", False),
    ],
)
def test_is_valid(name: str, valid: bool) -> None:
    assert is_valid(name) is valid


@pytest.mark.parametrize(
    ("backend_id", "display"),
    [
        ("gpt-4o", "gpt-4o:latest"),
        ("Qwen/Qwen3-8B", "Qwen/Qwen3-8B:latest"),
        ("meta-llama/llama-3.1-8b-instruct:free", "meta-llama/llama-3.1-8b-instruct:free"),
        ("accounts/fireworks/models/llama-v3", "accounts-fireworks-models/llama-v3:latest"),
        ("a:b:c", "a:b-c"),
        ("model.gguf", "model.gguf:latest"),
        ("My Model", "My-Model:latest"),
        ("my model  v2:Q4 K", "my-model-v2:Q4-K"),
        ("ns.with.dots/model", "ns-with-dots/model:latest"),
        ("/models/llama.gguf", "models/llama.gguf:latest"),
        ("", "model:latest"),
        ("---", "model:latest"),
        (".hidden", "hidden:latest"),
        ("x/y:", "x/y:latest"),
        ("m:.x", "m:x"),
        ("a" * 100, "a" * 80 + ":latest"),
        ("llama3.2:latest", "llama3.2:latest"),
    ],
)
def test_display_name(backend_id: str, display: str) -> None:
    assert display_name(backend_id) == display
    assert is_valid(display)


def test_display_name_is_stable_and_keeps_case() -> None:
    assert display_name("Org/Model-X") == display_name("Org/Model-X") == "Org/Model-X:latest"


@given(st.text(max_size=120))
def test_display_name_always_valid(backend_id: str) -> None:
    name = display_name(backend_id)
    assert is_valid(name), (backend_id, name)
    assert ":" in name


@given(
    st.from_regex(
        r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,20}(/[A-Za-z0-9_][A-Za-z0-9_\-]{0,20})?(:[A-Za-z0-9_][A-Za-z0-9_.\-]{0,10})?",
        fullmatch=True,
    )
)
def test_valid_names_displayed_verbatim(name: str) -> None:
    if "/" in name and "." in name.split("/")[0]:
        return
    shown = display_name(name)
    assert shown == (name if ":" in name else f"{name}:latest")
    assert canonical(shown) == canonical(name)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("smollm2", "registry.ollama.ai/library/smollm2:latest"),
        ("qwen2.5-coder:7b", "registry.ollama.ai/library/qwen2.5-coder:7b"),
        ("org/model:free", "registry.ollama.ai/org/model:free"),
        ("example.com/org/model", "example.com/org/model:latest"),
    ],
)
def test_qualified(name: str, expected: str) -> None:
    assert names.qualified(name) == expected
