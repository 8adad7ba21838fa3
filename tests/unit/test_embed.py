"""Embeddings: request translation, vector order, L2 normalisation and local dimension truncation."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ollama_openai_proxy.protocol.ollama import EmbeddingsRequest, EmbedRequest
from ollama_openai_proxy.translate.embed import (
    normalize,
    ollama_to_openai_embed,
    ollama_to_openai_embeddings,
    openai_to_ollama_embed,
    vectors,
)
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.profiles import GENERIC, LLAMACPP, OPENAI, VLLM


def test_embed_request_single_string() -> None:
    breq = ollama_to_openai_embed(
        EmbedRequest.model_validate({"model": "m", "input": "hi"}), "text-embedding-3-small", OPENAI
    )
    assert breq.endpoint == "embeddings"
    assert breq.payload == {"model": "text-embedding-3-small", "input": ["hi"], "encoding_format": "float"}
    assert breq.ignored == []


def test_embed_request_batch_dimensions_openai() -> None:
    req = EmbedRequest.model_validate({"model": "m", "input": ["a", "b"], "dimensions": 256})
    assert ollama_to_openai_embed(req, "b", OPENAI).payload == {
        "model": "b",
        "input": ["a", "b"],
        "encoding_format": "float",
        "dimensions": 256,
    }


@pytest.mark.parametrize("profile", [VLLM, LLAMACPP, GENERIC])
def test_dimensions_not_sent_where_unsupported(profile: Any) -> None:
    req = EmbedRequest.model_validate({"model": "m", "input": ["a"], "dimensions": 8})
    assert "dimensions" not in ollama_to_openai_embed(req, "b", profile).payload


def test_embed_request_reports_truncate_false_options_and_unknown() -> None:
    req = EmbedRequest.model_validate(
        {
            "model": "m",
            "input": "a",
            "truncate": False,
            "options": {"num_ctx": 1, "temperature": 0},
            "extra": 1,
        }
    )
    assert ollama_to_openai_embed(req, "b", GENERIC).ignored == [
        "extra (unknown field)",
        "truncate=false (the backend applies its own length policy)",
        "options.num_ctx (embeddings take no sampling options)",
        "options.temperature (embeddings take no sampling options)",
    ]
    assert (
        ollama_to_openai_embed(
            EmbedRequest.model_validate({"input": "a", "truncate": True}), "b", GENERIC
        ).ignored
        == []
    )


def test_legacy_embeddings_request() -> None:
    breq = ollama_to_openai_embeddings(
        EmbeddingsRequest.model_validate({"model": "m", "prompt": "hello", "options": {"seed": 1}}), "b"
    )
    assert breq.endpoint == "embeddings"
    assert breq.payload == {"model": "b", "input": ["hello"], "encoding_format": "float"}
    assert breq.ignored == ["options.seed (embeddings take no sampling options)"]


def test_vectors_ordered_by_index() -> None:
    data = {
        "data": [
            {"index": 2, "embedding": [3.0]},
            {"index": 0, "embedding": [1.0]},
            {"index": 1, "embedding": [2.0]},
        ]
    }
    assert vectors(data) == [[1.0], [2.0], [3.0]]


@pytest.mark.parametrize("data", [{}, {"data": None}, {"data": "x"}])
def test_vectors_missing(data: dict[str, Any]) -> None:
    with pytest.raises(ProxyError) as info:
        vectors(data)
    assert (info.value.status, info.value.message) == (502, "backend returned no embeddings")


def test_vectors_base64_encoding_rejected() -> None:
    with pytest.raises(ProxyError, match="unexpected encoding"):
        vectors({"data": [{"index": 0, "embedding": "AAAAAA=="}]})


def test_normalize() -> None:
    assert normalize([3.0, 4.0]) == [0.6, 0.8]
    assert normalize([0.0, 0.0]) == [0.0, 0.0]
    assert normalize([]) == []
    assert normalize([-2.0]) == [-1.0]


def test_normalize_truncates_then_renormalises() -> None:
    assert normalize([3.0, 4.0, 12.0], 2) == [0.6, 0.8]
    assert normalize([1.0, 2.0], 5) == pytest.approx([1 / math.sqrt(5), 2 / math.sqrt(5)])
    assert normalize([5.0, 0.0, 1.0], None) == pytest.approx([5 / math.sqrt(26), 0.0, 1 / math.sqrt(26)])


_component = st.one_of(
    st.just(0.0), st.floats(min_value=1e-30, max_value=1e6), st.floats(min_value=-1e6, max_value=-1e-30)
)


@given(st.lists(_component, min_size=1, max_size=64), st.integers(min_value=1, max_value=80))
def test_normalize_unit_length(vector: list[float], dims: int) -> None:
    out = normalize(vector, dims)
    assert len(out) == min(dims, len(vector))
    norm = math.sqrt(sum(v * v for v in out))
    if any(vector[:dims]):
        assert norm == pytest.approx(1.0, rel=1e-9)
    else:
        assert norm == 0.0


def test_embed_response() -> None:
    data = {
        "data": [{"index": 1, "embedding": [0.0, 2.0]}, {"index": 0, "embedding": [3.0, 4.0]}],
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }
    out = openai_to_ollama_embed("nomic", data, None, {"total_duration": 123})
    assert out == {
        "model": "nomic",
        "embeddings": [[0.6, 0.8], [0.0, 1.0]],
        "total_duration": 123,
        "prompt_eval_count": 7,
    }


def test_embed_response_dimensions_and_no_usage() -> None:
    out = openai_to_ollama_embed("m", {"data": [{"index": 0, "embedding": [3.0, 4.0, 100.0]}]}, 2, {})
    assert out == {"model": "m", "embeddings": [[0.6, 0.8]]}
