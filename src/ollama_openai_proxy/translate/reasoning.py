"""Answer text and reasoning however a backend delivers them: typed content parts, reasoning fields
under several names, and in-band ``<think>…</think>`` markup (also split across stream chunks)."""

from __future__ import annotations

from collections.abc import Mapping

# Separate reasoning fields, by backend: vLLM/llama.cpp/DeepSeek, OpenRouter/Ollama's /v1, some gateways.
_REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")
_TEXT_PARTS = frozenset({"text", "output_text"})
_THINKING_PARTS = frozenset(
    {"thinking", "reasoning", "reasoning_text", "reasoning.text", "reasoning.summary"}
)
# Part types that carry nothing readable for Ollama's text fields (signatures, encrypted reasoning).
_SILENT_PARTS = frozenset({"reasoning.encrypted", "redacted_thinking"})

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _part_text(part: Mapping[str, object]) -> str:
    """The readable text of one part, wherever the backend put it."""
    for key in ("text", "thinking", "reasoning", "summary", "content"):
        value = part.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):  # Mistral: {"type":"thinking","thinking":[{"type":"text",...}]}
            text, _, _ = split_parts(value, [])
            return text
    return ""


def split_parts(value: object, notes: list[str]) -> tuple[str, str, bool]:
    """Content as a string or a list of typed parts → (text, thinking, was_a_list). Parts of an
    unknown type are named in ``notes`` (for the debug log) and never copied through as a list."""
    if value is None:
        return "", "", False
    if isinstance(value, str):
        return value, "", False
    if not isinstance(value, list):
        notes.append(f"content of type {type(value).__name__} ignored")
        return "", "", False
    text: list[str] = []
    thinking: list[str] = []
    for part in value:
        if isinstance(part, str):
            text.append(part)
            continue
        if not isinstance(part, dict):
            notes.append(f"content part of type {type(part).__name__} ignored")
            continue
        kind = str(part.get("type") or "")
        if kind in _TEXT_PARTS:
            text.append(_part_text(part))
        elif kind in _THINKING_PARTS:
            thinking.append(_part_text(part))
        elif kind not in _SILENT_PARTS:
            notes.append(f"content part of type {kind!r} ignored")
    return "".join(text), "".join(thinking), True


def reasoning_of(holder: Mapping[str, object], notes: list[str]) -> str:
    """Reasoning given beside the content: a string field, typed parts, or ``reasoning_details``."""
    for key in _REASONING_FIELDS:
        value = holder.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value:
            text, thinking, _ = split_parts(value, notes)
            return thinking + text
    details = holder.get("reasoning_details")
    if isinstance(details, list) and details:
        _, thinking, _ = split_parts(details, notes)
        return thinking
    return ""


class ThinkSplitter:
    """Splits in-band ``<think>…</think>`` markup off an answer's text, fed piece by piece.

    Like Ollama's own thinking parser, markup counts only at the very start of the answer (leading
    whitespace allowed): a ``<think>`` later in the text is the answer's own. A marker cut across
    pieces is held back until the next piece settles it.
    """

    def __init__(self) -> None:
        self._state = "start"  # start → thinking → answer (or start → answer)
        self._held = ""
        self._trim = False  # drop the newlines right after a marker, even in a later piece

    def _trimmed(self, text: str) -> str:
        if self._trim and text:
            text = text.lstrip("\n")
            self._trim = not text
        return text

    def feed(self, piece: str) -> tuple[str, str]:
        """One text piece → (answer text, thinking text) that can be released now."""
        if not piece:
            return "", ""
        if self._state == "answer":
            return self._trimmed(piece), ""
        text = self._held + piece
        self._held = ""
        if self._state == "start":
            stripped = text.lstrip()
            if stripped.startswith(OPEN_TAG):
                self._state, self._trim = "thinking", True
                text = stripped[len(OPEN_TAG) :]
            elif OPEN_TAG.startswith(stripped):  # "", "<", "<thi"…: not decided yet
                self._held = text
                return "", ""
            else:
                self._state = "answer"
                return text, ""
        end = text.find(CLOSE_TAG)
        if end >= 0:
            thinking = self._trimmed(text[:end])
            self._state, self._trim = "answer", True
            return self._trimmed(text[end + len(CLOSE_TAG) :]), thinking
        keep = _partial_suffix(text, CLOSE_TAG)
        self._held = text[len(text) - keep :] if keep else ""
        return "", self._trimmed(text[: len(text) - keep])

    def close(self) -> tuple[str, str]:
        """The end of the answer: whatever was held back (an unclosed think block is reasoning)."""
        held, self._held = self._held, ""
        if self._state == "thinking":
            return "", self._trimmed(held)
        return held, ""


def _partial_suffix(text: str, marker: str) -> int:
    """The length of the longest end of ``text`` that begins ``marker`` (a marker cut in two)."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
