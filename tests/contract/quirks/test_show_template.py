"""Kind 6: /api/show's template agrees with the advertised capabilities, for every profile and model."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest

from ollama_openai_proxy.translate.metadata import template_for
from tests.conftest import ServedProxy
from tests.contract.quirks.conftest import Quirky

CAPS = ("completion", "tools", "insert", "thinking", "vision")
OPENERS = re.compile(r"\{\{-?\s*(?:if|range)\b")
CLOSERS = re.compile(r"\{\{-?\s*end\s*-?\}\}")


def assert_consistent(template: str, capabilities: list[str]) -> None:
    assert (".Tools" in template) == ("tools" in capabilities), capabilities
    assert (".Suffix" in template) == ("insert" in capabilities), capabilities
    assert (".Thinking" in template) == ("thinking" in capabilities), capabilities
    for var in (".System", ".Messages", ".Prompt"):
        assert var in template
    assert len(OPENERS.findall(template)) == len(CLOSERS.findall(template))  # balanced blocks


@pytest.mark.parametrize("size", range(len(CAPS) + 1))
def test_template_for_every_capability_set(size: int) -> None:
    for caps in itertools.combinations(CAPS, size):
        assert_consistent(template_for(list(caps)), list(caps))


@pytest.mark.parametrize("profile", ["openai", "vllm", "llamacpp", "openrouter", "generic"])
def test_show_template_matches_capabilities_on_every_profile(
    quirky: Callable[..., Quirky], profile: str
) -> None:
    models = [
        {"id": "plain-model", "object": "model", "owned_by": "x"},
        {"id": "gpt-4o", "object": "model", "owned_by": "x"},
        {"id": "qwen3-coder", "object": "model", "owned_by": "x"},
        {"id": "text-embedding-3-small", "object": "model", "owned_by": "x"},
        {
            "id": "deepseek-r1",
            "object": "model",
            "owned_by": "x",
            "supported_parameters": ["tools", "reasoning"],
        },
    ]
    seen = _check_every_model(quirky(profile, models=models).proxy)
    assert {"completion", "tools", "thinking"} <= seen, seen  # the check covered each variant


def test_show_template_for_the_session_proxies(
    proxy: ServedProxy, generic_proxy: ServedProxy, fake: object
) -> None:
    _check_every_model(proxy)
    _check_every_model(generic_proxy)


def _check_every_model(served: ServedProxy) -> set[str]:
    import ollama

    client = ollama.Client(host=served.url)
    models = client.list().models
    assert models
    seen: set[str] = set()
    for entry in models:
        shown = client.show(entry.model or "")
        assert_consistent(shown.template or "", list(shown.capabilities or []))
        seen.update(shown.capabilities or [])
    return seen
