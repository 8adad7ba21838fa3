"""/api/generate ``context``: the conversation so far as an opaque list of integers, and back.

Ollama returns the token ids of prompt and answer; a proxy has no tokenizer, so it returns the
conversation itself, compressed and packed two bytes to an integer (values 0-65535, like token ids),
behind a header: ``[MAGIC, VERSION, byte length, CRC-32]``. The next generate that sends it back
gets those turns as prior messages. Bounded: the most recent turns up to ``MAX_TEXT`` characters are
kept (older ones are dropped, as a model's context window drops them). A list that is not one of
these (wrong header, length or checksum) is refused with a 400.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from typing import Any, TypedDict

import orjson

from ollama_openai_proxy.translate.errors import ProxyError

MAGIC = 0x4F505843  # "OPXC"
VERSION = 1
MAX_TEXT = 256 * 1024  # characters of conversation kept in a context
MAX_BYTES = 1024 * 1024  # compressed bytes accepted back (generous: MAX_TEXT compresses well)
_HEADER = 4


class Turn(TypedDict):
    role: str  # "user" or "assistant"
    content: str


def _bounded(turns: list[Turn]) -> list[Turn]:
    """The most recent turns whose text fits ``MAX_TEXT``; a single longer turn keeps its end."""
    kept: list[Turn] = []
    room = MAX_TEXT
    for turn in reversed(turns):
        text = turn["content"]
        if len(text) > room:
            if not kept:
                kept.append({"role": turn["role"], "content": text[len(text) - room :]})
            break
        kept.append(turn)
        room -= len(text)
    kept.reverse()
    return kept


def encode(turns: list[Turn]) -> list[int]:
    """The conversation (``role``/``content`` turns, oldest first) as a context."""
    data = zlib.compress(orjson.dumps(_bounded(turns)), 6)
    packed = array("H")
    packed.frombytes(data + b"\0" * (len(data) % 2))
    if sys.byteorder == "big":
        packed.byteswap()
    return [MAGIC, VERSION, len(data), zlib.crc32(data) & 0x7FFFFFFF, *packed.tolist()]


def _invalid(reason: str) -> ProxyError:
    return ProxyError(400, f"invalid context: {reason} (send back the context a previous generate returned)")


def decode(context: list[int]) -> list[Turn]:
    """A context from ``encode`` back into its turns; anything else is a 400."""
    if not context:
        return []
    if len(context) < _HEADER or context[0] != MAGIC or context[1] != VERSION:
        raise _invalid("not a context returned by this server")
    size, checksum = context[2], context[3]
    body = context[_HEADER:]
    if not 0 < size <= MAX_BYTES or len(body) != (size + 1) // 2:
        raise _invalid("wrong length")
    if any(not 0 <= v <= 0xFFFF for v in body):
        raise _invalid("value out of range")
    packed = array("H", body)
    if sys.byteorder == "big":
        packed.byteswap()
    data = packed.tobytes()[:size]
    if zlib.crc32(data) & 0x7FFFFFFF != checksum:
        raise _invalid("checksum mismatch")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(data, 4 * MAX_TEXT + 4096)
        value: Any = orjson.loads(raw)
    except (zlib.error, orjson.JSONDecodeError):
        raise _invalid("unreadable") from None
    if not isinstance(value, list) or not all(_is_turn(t) for t in value):
        raise _invalid("unreadable")
    return value


def _is_turn(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("role") in ("user", "assistant")
        and isinstance(value.get("content"), str)
    )
