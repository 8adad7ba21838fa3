"""What backends say about their models: /v1/models entries and llama.cpp's /props, parsed.

Backends fill these in many ways: every field is checked for its type before it is used."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, cast

from ollama_openai_proxy.protocol.openai import BackendModel, ServerProps
from ollama_openai_proxy.translate import names

T = TypeVar("T")

_EMBED_HINTS = ("embed", "bge-", "e5-", "gte-", "minilm")
# Servers that stamp ``created`` with the time of the listing itself: a date that would change on
# every refresh, so it is not shown (Ollama clients then see the Unix epoch, a stable "unknown").
_UNSTABLE_CREATED = frozenset({"llamacpp", "vllm"})


@dataclass(frozen=True, slots=True)
class ListedModel:
    """One entry of a backend's /v1/models listing, in the proxy's terms."""

    name: str  # Ollama name with tag
    backend_id: str
    created: int = 0  # Unix seconds; 0 when unknown or unstable
    owned_by: str = ""
    context_length: int | None = None  # tokens
    capabilities: tuple[str, ...] = ()
    capabilities_known: bool = False  # from the backend's own metadata, not guessed from the name
    parameter_count: int | None = None
    size: int = 0  # bytes
    embedding_length: int | None = None


@dataclass(frozen=True, slots=True)
class LlamacppProps:
    """What llama.cpp's /props adds: the real context size and, for chat models, capabilities."""

    context_length: int | None
    capabilities: tuple[str, ...] | None  # None: keep the listing's (an embedding model)


def as_dict(value: T | None) -> T:
    """``value`` when it is an object; else an empty one (the types read here have no required key)."""
    return value if isinstance(value, dict) else cast(T, {})


def positive_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _strings(value: object) -> list[str]:
    """A list of names as given, or none when the field is of another type."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def capabilities(entry: BackendModel, model_id: str) -> list[str]:
    """Ollama capabilities from a listing entry (OpenRouter-style metadata, else the name)."""
    lowered = model_id.lower()
    arch = as_dict(entry.get("architecture"))
    outputs = arch.get("output_modalities") or []
    if any(h in lowered for h in _EMBED_HINTS) or outputs == ["embeddings"]:
        return ["embedding"]
    caps = ["completion"]
    params = entry.get("supported_parameters")
    if not isinstance(params, list) or "tools" in params:
        caps.append("tools")
    if "image" in _strings(arch.get("input_modalities")):
        caps.append("vision")
    if isinstance(params, list) and ("reasoning" in params or "include_reasoning" in params):
        caps.append("thinking")
    return caps


def _stable_created(entry: BackendModel) -> int:
    if str(entry.get("owned_by") or "").lower() in _UNSTABLE_CREATED:
        return 0
    return positive_int(entry.get("created")) or 0


def parse_model_entry(entry: BackendModel) -> ListedModel | None:
    """One /v1/models entry (OpenAI, vLLM, llama.cpp or OpenRouter flavour); None without an id."""
    model_id = entry.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    meta = as_dict(entry.get("meta"))
    top = as_dict(entry.get("top_provider"))
    context = (
        positive_int(entry.get("context_length"))
        or positive_int(entry.get("max_model_len"))
        or positive_int(top.get("context_length"))
        or positive_int(meta.get("n_ctx"))
        or positive_int(meta.get("n_ctx_train"))
    )
    return ListedModel(
        name=names.display_name(model_id),
        backend_id=model_id,
        created=_stable_created(entry),
        owned_by=str(entry.get("owned_by") or ""),
        context_length=context,
        capabilities=tuple(capabilities(entry, model_id)),
        capabilities_known=isinstance(entry.get("supported_parameters"), list),
        parameter_count=positive_int(meta.get("n_params")),
        size=positive_int(meta.get("size")) or 0,
        embedding_length=positive_int(meta.get("n_embd")),
    )


def parse_llamacpp_props(props: ServerProps, embedding: bool) -> LlamacppProps:
    """llama.cpp's /props tells the real context size, vision support and template tool support."""
    settings = as_dict(props.get("default_generation_settings"))
    context = positive_int(settings.get("n_ctx"))
    if embedding:
        return LlamacppProps(context, None)
    caps = ["completion"]
    template_caps = as_dict(props.get("chat_template_caps"))
    if template_caps.get("supports_tools", True):
        caps.append("tools")
    if as_dict(props.get("modalities")).get("vision"):
        caps.append("vision")
    template = str(props.get("chat_template") or "")
    if (
        template_caps.get("supports_reasoning_effort")
        or "enable_thinking" in template
        or "<think>" in template
    ):
        caps.append("thinking")
    return LlamacppProps(context, tuple(caps))
