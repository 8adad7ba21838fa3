"""/api/chat, /api/generate, /api/embed and /api/embeddings: parse, hand over to serving, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ollama_openai_proxy.protocol.ollama import ChatRequest, EmbeddingsRequest, EmbedRequest, GenerateRequest
from ollama_openai_proxy.routes import route
from ollama_openai_proxy.routes.common import (
    ignored_headers,
    json_response,
    ollama_reply,
    parse,
    serving_args,
)
from ollama_openai_proxy.serving import chat as chat_serving
from ollama_openai_proxy.serving import embed as embed_serving


async def chat(request: Request) -> Response:
    req = await parse(request, ChatRequest)
    return ollama_reply(await chat_serving.chat(*serving_args(request), req))


async def generate(request: Request) -> Response:
    req = await parse(request, GenerateRequest)
    return ollama_reply(await chat_serving.generate(*serving_args(request), req))


async def embed(request: Request) -> Response:
    req = await parse(request, EmbedRequest)
    out, ignored = await embed_serving.embed(*serving_args(request), req)
    return json_response(out, headers=ignored_headers(ignored))


async def embeddings(request: Request) -> Response:
    req = await parse(request, EmbeddingsRequest)
    out, ignored = await embed_serving.embeddings(*serving_args(request), req)
    return json_response(out, headers=ignored_headers(ignored))


ROUTES = [
    route("/api/chat", chat, "POST"),
    route("/api/generate", generate, "POST"),
    route("/api/embed", embed, "POST"),
    route("/api/embeddings", embeddings, "POST"),
]
