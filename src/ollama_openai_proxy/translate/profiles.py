"""Backend profiles: how each kind of OpenAI-compatible server names and accepts parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from ollama_openai_proxy.protocol.openai import MaxTokensName, SamplingName

ThinkStyle = Literal["reasoning_effort", "chat_template_kwargs", "openrouter"]

# Ollama options every OpenAI-compatible server understands, with their OpenAI names.
_STANDARD: dict[str, SamplingName] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "stop": "stop",
    "frequency_penalty": "frequency_penalty",
    "presence_penalty": "presence_penalty",
}


@dataclass(frozen=True)
class Profile:
    """What one kind of backend accepts. Options it has no name for are reported, never sent."""

    name: str
    options: dict[str, SamplingName] = field(default_factory=lambda: dict(_STANDARD))
    max_tokens_param: MaxTokensName = "max_tokens"
    max_stop: int | None = None
    think_style: ThinkStyle = "reasoning_effort"
    # Whether ``think: false`` can be expressed (OpenAI reasoning models cannot turn thinking off).
    think_off: bool = False
    # How ``format: "json"`` is asked for: json_object, or a schema of {"type": "object"} where the
    # server only enforces schemas (llama.cpp) or wants "json" said in a message (OpenAI). A backend
    # that refuses json_object with a 400 is switched to the schema (translate/rejections.py).
    json_mode: Literal["json_object", "object_schema"] = "json_object"
    # Fill-in-the-middle through /v1/completions ``suffix``.
    suffix: bool = True
    # The OpenAI ``dimensions`` parameter for embeddings; otherwise truncated here.
    embed_dimensions: bool = False
    stream_usage: bool = True
    # Stream from the backend even for ``stream: false`` clients: the only way some servers
    # (llama.cpp) notice a client that went away and stop generating for it.
    stream_always: bool = False


OPENAI = Profile(
    name="openai",
    max_tokens_param="max_completion_tokens",
    # json_object needs the word "json" in a message there; Ollama's clients need not say it.
    json_mode="object_schema",
    max_stop=4,
    embed_dimensions=True,
    think_off=False,
)
VLLM = Profile(
    name="vllm",
    options={**_STANDARD, "top_k": "top_k", "min_p": "min_p", "repeat_penalty": "repetition_penalty"},
    think_style="chat_template_kwargs",
    think_off=True,
    suffix=False,
)
LLAMACPP = Profile(
    name="llamacpp",
    options={
        **_STANDARD,
        "top_k": "top_k",
        "min_p": "min_p",
        "typical_p": "typical_p",
        "repeat_penalty": "repeat_penalty",
        "repeat_last_n": "repeat_last_n",
        "num_keep": "n_keep",
        "mirostat": "mirostat",
        "mirostat_tau": "mirostat_tau",
        "mirostat_eta": "mirostat_eta",
    },
    think_style="chat_template_kwargs",
    think_off=True,
    json_mode="object_schema",
    # llama-server accepts `suffix` on /v1/completions and ignores it; FIM needs its /infill route.
    suffix=False,
    stream_always=True,
)
OPENROUTER = Profile(
    name="openrouter",
    options={
        **_STANDARD,
        "top_k": "top_k",
        "min_p": "min_p",
        "repeat_penalty": "repetition_penalty",
    },
    think_style="openrouter",
    think_off=True,
    suffix=False,
)
GENERIC = Profile(name="generic")

PROFILES = {p.name: p for p in (OPENAI, VLLM, LLAMACPP, OPENROUTER, GENERIC)}


def profile_for_url(base_url: str) -> Profile | None:
    """The profile a well-known hosted API gets from its address alone."""
    host = urlsplit(base_url).hostname or ""
    if host == "api.openai.com" or host.endswith(".openai.azure.com"):
        return OPENAI
    if host.endswith("openrouter.ai"):
        return OPENROUTER
    return None


def profile_for_owner(owned_by: str) -> Profile | None:
    """The profile guessed from the ``owned_by`` field of a backend's /v1/models entries."""
    owner = owned_by.lower()
    if owner == "llamacpp":
        return LLAMACPP
    if owner == "vllm":
        return VLLM
    return None
