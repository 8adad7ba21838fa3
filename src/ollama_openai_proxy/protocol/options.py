"""Ollama's ``options`` (and Modelfile PARAMETERs): the one table of names, types, units and which
ones only configure how a model is loaded. Every other option list is derived from it."""

from __future__ import annotations

from typing import Annotated, TypedDict, get_args, get_origin, get_type_hints


class LoadTime:
    """Marks an option that configures how a model is loaded: an OpenAI-compatible backend fixes
    these at its own start-up, so a request cannot change them."""


LOAD = LoadTime()


class Options(TypedDict, total=False):
    # Sampling and generation
    num_keep: int
    """Tokens of the prompt kept when the context window shifts."""
    seed: int
    """Random seed; -1 (or any negative) for a random one."""
    num_predict: int
    """Most tokens to generate; -1 unlimited, -2 until the context is full."""
    top_k: int
    """Sample from the k most likely tokens."""
    top_p: float
    """Nucleus sampling: the smallest set of tokens whose probabilities add up to p (0-1)."""
    min_p: float
    """Drop tokens less likely than min_p times the most likely one (0-1)."""
    typical_p: float
    """Locally typical sampling (0-1; 1 is off)."""
    repeat_last_n: int
    """Tokens looked back at for the repeat penalty; 0 off, -1 the whole context."""
    temperature: float
    """Sampling temperature; 0 is greedy."""
    repeat_penalty: float
    """Penalty for repeated tokens (1 is off)."""
    presence_penalty: float
    """Penalty for tokens already present, whatever their count."""
    frequency_penalty: float
    """Penalty growing with how often a token already appeared."""
    stop: list[str]
    """Sequences that end generation (a single string is accepted)."""
    tfs_z: float
    """Tail-free sampling (older servers; 1 is off)."""
    mirostat: int
    """Mirostat sampling: 0 off, 1 Mirostat, 2 Mirostat 2.0."""
    mirostat_tau: float
    """Mirostat's target surprise (entropy)."""
    mirostat_eta: float
    """Mirostat's learning rate."""
    penalize_newline: bool
    """Whether the repeat penalty applies to newlines (older servers)."""
    # Loading: fixed by the backend at its own start-up
    num_ctx: Annotated[int, LOAD]
    """Context window, in tokens."""
    num_batch: Annotated[int, LOAD]
    """Prompt tokens processed per batch."""
    num_gpu: Annotated[int, LOAD]
    """Layers offloaded to the GPU(s)."""
    main_gpu: Annotated[int, LOAD]
    """GPU index for small tensors."""
    use_mmap: Annotated[bool, LOAD]
    """Memory-map the model file."""
    num_thread: Annotated[int, LOAD]
    """CPU threads for generation."""
    draft_num_predict: Annotated[int, LOAD]
    """Tokens the draft model proposes per step (speculative decoding)."""
    numa: Annotated[bool, LOAD]
    """NUMA-aware allocation."""
    low_vram: Annotated[bool, LOAD]
    """Trade speed for GPU memory (older servers)."""
    f16_kv: Annotated[bool, LOAD]
    """Half-precision KV cache (older servers)."""
    logits_all: Annotated[bool, LOAD]
    """Return logits for every token (older servers)."""
    vocab_only: Annotated[bool, LOAD]
    """Load only the vocabulary."""
    use_mlock: Annotated[bool, LOAD]
    """Lock the model in RAM."""
    embedding_only: Annotated[bool, LOAD]
    """Load for embeddings only (older servers)."""
    num_gqa: Annotated[int, LOAD]
    """Grouped-query attention groups (older servers)."""
    rope_frequency_base: Annotated[float, LOAD]
    """RoPE base frequency (older servers)."""
    rope_frequency_scale: Annotated[float, LOAD]
    """RoPE frequency scaling (older servers)."""


def _table() -> tuple[dict[str, type], frozenset[str]]:
    kinds: dict[str, type] = {}
    load = set()
    for name, hint in get_type_hints(Options, include_extras=True).items():
        if get_origin(hint) is Annotated:
            hint, *marks = get_args(hint)
            if any(isinstance(m, LoadTime) for m in marks):
                load.add(name)
        kinds[name] = get_origin(hint) or hint
    return kinds, frozenset(load)


#: A checked option value: int, float, bool, or the list of ``stop`` sequences.
OptionValue = int | float | bool | list[str]

#: Every option name with its value type (int, float, bool or list for ``stop``).
OPTION_TYPES: dict[str, type]
#: The options that only configure loading.
LOAD_OPTIONS: frozenset[str]
OPTION_TYPES, LOAD_OPTIONS = _table()
INT_OPTIONS = frozenset(k for k, t in OPTION_TYPES.items() if t is int)
FLOAT_OPTIONS = frozenset(k for k, t in OPTION_TYPES.items() if t is float)
BOOL_OPTIONS = frozenset(k for k, t in OPTION_TYPES.items() if t is bool)
