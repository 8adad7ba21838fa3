"""Virtual models: Ollama ``create``/``cp``/``rm`` over backend models (system prompt, options, MESSAGEs)."""

from __future__ import annotations

from ollama_openai_proxy.virtual.apply import (
    apply_to_chat,
    apply_to_generate,
    flatten,
    generate_leading_messages,
    leading_messages,
    resolve_chain,
)
from ollama_openai_proxy.virtual.errors import ModelNotFoundError, ReadOnlyModelError, VirtualModelError
from ollama_openai_proxy.virtual.modelfile import parse_modelfile, render_modelfile, render_parameters
from ollama_openai_proxy.virtual.spec import ModelMessage, VirtualModel, from_create_request, normalize_name
from ollama_openai_proxy.virtual.store import LayeredStore, MemoryStore, SQLStore, VirtualStore

__all__ = [
    "LayeredStore",
    "MemoryStore",
    "ModelMessage",
    "ModelNotFoundError",
    "ReadOnlyModelError",
    "SQLStore",
    "VirtualModel",
    "VirtualModelError",
    "VirtualStore",
    "apply_to_chat",
    "apply_to_generate",
    "flatten",
    "from_create_request",
    "generate_leading_messages",
    "leading_messages",
    "normalize_name",
    "parse_modelfile",
    "render_modelfile",
    "render_parameters",
    "resolve_chain",
]
