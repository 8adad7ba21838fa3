"""Applying a chain of virtual models to chat/generate requests: system prompt, default options, MESSAGEs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ollama_openai_proxy.protocol.ollama import ChatRequest, GenerateRequest, Message
from ollama_openai_proxy.protocol.options import OptionValue
from ollama_openai_proxy.translate import names
from ollama_openai_proxy.virtual.errors import VirtualModelError
from ollama_openai_proxy.virtual.spec import VirtualModel

MAX_DEPTH = 32


def resolve_chain(
    start: str | VirtualModel, lookup: Callable[[str], VirtualModel | None], *, max_depth: int = MAX_DEPTH
) -> tuple[list[VirtualModel], str]:
    """Follow FROM links: (the virtual models, outermost first; the name of the model at the bottom).

    ``start`` is a name (looked up; ``([], name)`` when it is not virtual) or a model not yet stored,
    which is how /api/create checks a new model: a chain that comes back to a model already in it
    raises VirtualModelError ``model 'a:latest' derives from itself (a:latest -> b:latest -> a:latest)``.
    The bottom name is what the catalog must resolve; whether it exists is the caller's check.
    """
    current = lookup(start) if isinstance(start, str) else start
    if current is None:
        assert isinstance(start, str)
        return [], start
    chain: list[VirtualModel] = []
    seen: dict[str, int] = {}
    while current is not None:
        if current.key in seen:
            path = " -> ".join(m.name for m in chain[seen[current.key] :])
            raise VirtualModelError(f"model '{current.name}' derives from itself ({path} -> {current.name})")
        if len(chain) >= max_depth:
            raise VirtualModelError(f"model '{chain[0].name}' derives from more than {max_depth} models")
        seen[current.key] = len(chain)
        chain.append(current)
        if names.canonical(current.base) in seen:
            current = chain[seen[names.canonical(current.base)]]
            continue
        current = lookup(current.base)
    return chain, chain[-1].base


def flatten(chain: Sequence[VirtualModel]) -> VirtualModel | None:
    """The chain merged into one model as Ollama's create would merge layers (None for an empty chain).

    Named after the outermost model, FROM its base. SYSTEM and TEMPLATE: the outermost one set wins.
    PARAMETERs: merged key by key, outer over inner (an outer ``stop`` replaces the whole list).
    MESSAGEs: the outermost non-empty list wins (Ollama replaces, never concatenates, them).
    LICENSEs: accumulated, inner first, without repeats. Use this for /api/show of a chained model.
    """
    if not chain:
        return None
    outer = chain[0]
    system = next((m.system for m in chain if m.system is not None), None)
    template = next((m.template for m in chain if m.template is not None), None)
    messages = next((m.messages for m in chain if m.messages), [])
    parameters: dict[str, OptionValue] = {}
    licenses: list[str] = []
    for model in reversed(chain):
        parameters.update(model.parameters)
        licenses.extend(text for text in model.license if text not in licenses)
    return outer.model_copy(
        update={
            "system": system,
            "template": template,
            "messages": list(messages),
            "parameters": parameters,
            "license": licenses,
        }
    )


def leading_messages(chain: Sequence[VirtualModel]) -> list[Message]:
    """The model's MESSAGEs (outermost non-empty set) as request messages, to go before the caller's."""
    flat = flatten(chain)
    return [] if flat is None else [Message(role=m.role, content=m.content) for m in flat.messages]


def generate_leading_messages(req: GenerateRequest, chain: Sequence[VirtualModel]) -> list[Message]:
    """The MESSAGEs to insert between the system prompt and the user prompt when generate is sent as chat.

    Ollama replays them only when no ``context`` is given; never in ``raw`` mode.
    """
    if req.raw or req.context is not None:
        return []
    return leading_messages(chain)


def _options(req_options: dict[str, object] | None, model: VirtualModel) -> dict[str, object] | None:
    merged: dict[str, object] = dict(model.parameters)
    merged.update((k, v) for k, v in (req_options or {}).items() if v is not None)
    if not merged:
        return req_options
    return merged


def apply_to_chat(req: ChatRequest, chain: Sequence[VirtualModel]) -> ChatRequest:
    """A new ChatRequest with the chain's defaults applied; ``req`` is left untouched.

    Options: model parameters under the request's (a ``null`` request option does not override).
    Messages: a system message first (the request's own if it starts with one, else the model
    SYSTEM), then the MESSAGEs, then the rest of the request's messages. A request with
    no messages (a load/unload request) keeps none. Request Message objects are shared, not copied.
    """
    flat = flatten(chain)
    if flat is None:
        return req.model_copy()
    messages = req.messages
    if messages:
        own = list(messages)
        # The request's own system message replaces the model's SYSTEM and stays first: chat APIs
        # expect the system prompt before the conversation, the MESSAGEs included.
        first = [own.pop(0)] if own[0].role == "system" else []
        if not first and flat.system is not None:
            first = [Message(role="system", content=flat.system)]
        messages = first + [Message(role=m.role, content=m.content) for m in flat.messages] + own
    return req.model_copy(update={"options": _options(req.options, flat), "messages": messages})


def apply_to_generate(req: GenerateRequest, chain: Sequence[VirtualModel]) -> GenerateRequest:
    """A new GenerateRequest with the chain's defaults applied; ``req`` is left untouched.

    Options as for chat; ``system`` becomes the model SYSTEM unless the request gives one (or is
    ``raw``). MESSAGEs are not put anywhere: see :func:`generate_leading_messages`.
    """
    flat = flatten(chain)
    if flat is None:
        return req.model_copy()
    system = flat.system if not req.system and not req.raw and flat.system is not None else req.system
    return req.model_copy(update={"options": _options(req.options, flat), "system": system})
