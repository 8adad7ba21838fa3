"""Ollama embed/embeddings requests ⇄ OpenAI /v1/embeddings."""

from __future__ import annotations

import math

from ollama_openai_proxy.protocol.ollama import EmbeddingsRequest, EmbedRequest, EmbedResponse, Metrics
from ollama_openai_proxy.protocol.openai import EmbeddingRequest, EmbeddingResponse
from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.translate.profiles import Profile
from ollama_openai_proxy.translate.request import BackendRequest


def ollama_to_openai_embed(req: EmbedRequest, model: str, profile: Profile) -> BackendRequest:
    inputs = [req.input] if isinstance(req.input, str) else list(req.input or [])
    payload: EmbeddingRequest = {"model": model, "input": inputs, "encoding_format": "float"}
    ignored = [f"{key} (unknown field)" for key in req.unknown_fields()]
    if req.dimensions and profile.embed_dimensions:
        payload["dimensions"] = req.dimensions
    if req.truncate is False:
        ignored.append("truncate=false (the backend applies its own length policy)")
    if req.options:
        ignored.extend(f"options.{k} (embeddings take no sampling options)" for k in req.options)
    return BackendRequest("embeddings", payload, ignored)


def ollama_to_openai_embeddings(req: EmbeddingsRequest, model: str) -> BackendRequest:
    ignored = [f"{key} (unknown field)" for key in req.unknown_fields()]
    if req.options:
        ignored.extend(f"options.{k} (embeddings take no sampling options)" for k in req.options)
    payload: EmbeddingRequest = {"model": model, "input": [req.prompt or ""], "encoding_format": "float"}
    return BackendRequest("embeddings", payload, ignored)


def vectors(data: EmbeddingResponse) -> list[list[float]]:
    """The embedding vectors of an OpenAI response, in input order."""
    items = data.get("data")
    if not isinstance(items, list):
        raise ProxyError(502, "backend returned no embeddings")
    if not items:
        raise ProxyError(502, "backend returned an empty list of embeddings")
    ordered = sorted(items, key=lambda item: item.get("index", 0))
    out = []
    for item in ordered:
        vector = item.get("embedding")
        if not isinstance(vector, list):
            raise ProxyError(502, "backend returned embeddings in an unexpected encoding")
        out.append(vector)
    return out


def normalize(vector: list[float], dimensions: int | None = None) -> list[float]:
    """Keep the first ``dimensions`` values and scale to unit length, as Ollama's /api/embed does."""
    if dimensions:
        vector = vector[:dimensions]
    norm = math.sqrt(math.fsum(v * v for v in vector))
    return [v / norm for v in vector] if norm else list(vector)


def openai_to_ollama_embed(
    model: str, data: EmbeddingResponse, dimensions: int | None, durations: Metrics
) -> EmbedResponse:
    out: EmbedResponse = {"model": model, "embeddings": [normalize(v, dimensions) for v in vectors(data)]}
    if "total_duration" in durations:
        out["total_duration"] = durations["total_duration"]
    prompt_tokens = (data.get("usage") or {}).get("prompt_tokens")
    if prompt_tokens:
        out["prompt_eval_count"] = int(prompt_tokens)
    return out
