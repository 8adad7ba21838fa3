"""Ollama model names: normalising what clients send and naming backend model ids the Ollama way."""

from __future__ import annotations

import re

DEFAULT_HOST = "registry.ollama.ai/"
DEFAULT_NAMESPACE = "library/"
_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}$")
_BAD = re.compile(r"[^A-Za-z0-9_.\-]+")


def strip_default_prefix(key: str) -> str:
    """``key`` (already case-folded) without the default ``registry.ollama.ai/`` and ``library/``."""
    if key.startswith(DEFAULT_HOST):
        key = key[len(DEFAULT_HOST) :]
    if key.startswith(DEFAULT_NAMESPACE):
        key = key[len(DEFAULT_NAMESPACE) :]
    return key


def canonical(name: str) -> str:
    """The matching key: case-folded, default host/namespace and ``:latest`` removed."""
    key = strip_default_prefix(name.strip().lower())
    if key.endswith(":latest"):
        key = key[: -len(":latest")]
    return key


def is_valid(name: str) -> bool:
    """True when ``name`` is a well-formed Ollama name ``[host/][namespace/]model[:tag]``."""
    path, _, tag = name.partition(":") if name.count(":") <= 1 else (name, "", "")
    if name.count(":") > 1 or (":" in name and not _PART.match(tag)):
        return False
    parts = path.split("/")
    if not 1 <= len(parts) <= 3 or not all(_PART.match(p) for p in parts):
        return False
    return not (len(parts) >= 2 and "." in parts[-2])


def display_name(backend_id: str) -> str:
    """A readable, stable Ollama name for a backend model id, always with a tag."""
    if is_valid(backend_id):
        return backend_id if ":" in backend_id else f"{backend_id}:latest"
    path, _, tag = backend_id.partition(":")
    segments = [s for s in (_BAD.sub("-", p).strip("-.") for p in path.split("/")) if s]
    if len(segments) > 2:
        segments = ["-".join(segments[:-1]), segments[-1]]
    if len(segments) == 2:
        segments[0] = segments[0].replace(".", "-")
    name = "/".join(s[:80] for s in segments) or "model"  # each part is at most 80 characters
    tag = _BAD.sub("-", tag).strip("-.")[:80] or "latest"
    return f"{name}:{tag}"


def qualified(name: str) -> str:
    """The fully qualified form Ollama quotes in capability errors: ``registry.ollama.ai/library/m:latest``."""
    path, _, tag = name.partition(":")
    parts = path.split("/")
    if len(parts) == 1:
        parts = ["library", *parts]
    if len(parts) == 2:
        parts = ["registry.ollama.ai", *parts]
    return f"{'/'.join(parts)}:{tag or 'latest'}"
