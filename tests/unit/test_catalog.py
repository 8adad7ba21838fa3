"""Catalog entries built from /v1/models listings: names, dates, capabilities, context length."""

from __future__ import annotations

import pytest

from ollama_openai_proxy.backends.catalog import CatalogBackend, model_from_entry
from ollama_openai_proxy.backends.client import BackendClient
from ollama_openai_proxy.config import BackendConfig
from ollama_openai_proxy.translate.profiles import GENERIC


@pytest.fixture
def state() -> CatalogBackend:
    return CatalogBackend(
        client=BackendClient(BackendConfig(base_url="http://127.0.0.1:9/v1")), profile=GENERIC
    )


@pytest.mark.parametrize(
    ("owner", "created"), [("llamacpp", 0), ("vllm", 0), ("openai", 1700000000), ("system", 1700000000)]
)
def test_created_only_when_stable(state: CatalogBackend, owner: str, created: int) -> None:
    # llama.cpp and vLLM stamp each listing with the current time: not a date to show
    model = model_from_entry({"id": "m", "created": 1700000000, "owned_by": owner}, state)
    assert model is not None
    assert model.created == created


def test_digest_is_stable_and_long(state: CatalogBackend) -> None:
    a = model_from_entry({"id": "gpt-4o"}, state)
    b = model_from_entry({"id": "gpt-4o"}, state)
    assert a is not None
    assert b is not None
    assert a.digest == b.digest
    assert len(a.digest) == 64
    assert int(a.digest, 16) >= 0


def test_llamacpp_meta(state: CatalogBackend) -> None:
    entry = {
        "id": "smollm2",
        "owned_by": "llamacpp",
        "meta": {"n_ctx": 8192, "n_ctx_train": 2048, "n_params": 134515008, "size": 96576768, "n_embd": 576},
    }
    model = model_from_entry(entry, state)
    assert model is not None
    assert (model.context_length, model.parameter_count, model.size, model.embedding_length) == (
        8192,
        134515008,
        96576768,
        576,
    )
    assert model.name == "smollm2:latest"


def test_openrouter_entry(state: CatalogBackend) -> None:
    entry = {
        "id": "meta-llama/llama-3.1-8b-instruct:free",
        "context_length": 131072,
        "architecture": {"input_modalities": ["text", "image"]},
        "supported_parameters": ["tools"],
    }
    model = model_from_entry(entry, state)
    assert model is not None
    assert model.name == "meta-llama/llama-3.1-8b-instruct:free"
    assert model.capabilities == ["completion", "tools", "vision"]
    assert model.capabilities_known
    assert model.context_length == 131072


@pytest.mark.parametrize(
    "field",
    [
        {"architecture": {"input_modalities": 5}},
        {"architecture": {"input_modalities": "image"}},
        {"architecture": {"input_modalities": None, "output_modalities": 7}},
        {"architecture": "multimodal"},
        {"meta": ["n_ctx", 4096], "top_provider": 3},
        {"supported_parameters": {"tools": True}},
    ],
)
def test_listing_fields_of_the_wrong_type_are_ignored(
    state: CatalogBackend, field: dict[str, object]
) -> None:
    """A backend's odd metadata never breaks its whole listing: the field is ignored."""
    model = model_from_entry({"id": "some-model", **field}, state)
    assert model is not None
    assert "vision" not in model.capabilities
    assert model.context_length is None


def test_embedding_models_are_embedding_only(state: CatalogBackend) -> None:
    model = model_from_entry({"id": "text-embedding-3-small"}, state)
    assert model is not None
    assert model.capabilities == ["embedding"]
    assert not model.capabilities_known  # a guess from the name: never used to refuse a request
