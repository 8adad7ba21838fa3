"""An incremental Server-Sent Events decoder: bytes in, complete ``data`` payloads out.

Hand-written rather than taken from a library because it sits on the hot path of every streamed
token and must work on raw chunks from any transport; it follows the WHATWG parsing rules for
``data`` fields, comments, CRLF line ends and multi-line data. One event may hold at most
``max_event`` bytes (a faulty backend cannot grow a line or an event without bound).
"""

from __future__ import annotations

import orjson

from ollama_openai_proxy.translate.errors import ProxyError

MAX_EVENT_BYTES = 16 * 1024 * 1024


class SSEDecoder:
    """Feed raw bytes; get the ``data`` of each completed event, as text."""

    __slots__ = ("_data", "_data_bytes", "_held", "_pending", "max_event")

    def __init__(self, max_event: int = MAX_EVENT_BYTES) -> None:
        self._pending: list[bytes] = []  # an unfinished line, in the pieces it came in
        self._held = 0  # bytes of the unfinished line and of the event's data so far
        self._data: list[str] = []
        self._data_bytes = 0
        self.max_event = max_event

    def _too_big(self) -> ProxyError:
        return ProxyError(502, f"backend sent a stream event larger than {self.max_event} bytes")

    def feed(self, chunk: bytes) -> list[str]:
        if b"\n" not in chunk:
            # Kept as pieces: joining on every read would be quadratic in a long line's length.
            self._pending.append(chunk)
            self._held += len(chunk)
            if self._held > self.max_event:
                raise self._too_big()
            return []
        buffer = b"".join([*self._pending, chunk]) if self._pending else chunk
        lines = buffer.split(b"\n")
        rest = lines.pop()
        self._pending = [rest] if rest else []
        events: list[str] = []
        data = self._data
        held = self._data_bytes
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    event = "\n".join(data)
                    if event:  # an event whose data is empty is not dispatched (WHATWG)
                        events.append(event)
                    data.clear()
                    held = 0
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                if value.startswith(b" "):
                    value = value[1:]
                held += len(value)
                if held > self.max_event:
                    raise self._too_big()
                data.append(value.decode("utf-8", "replace"))
            # comments (":"), event:, id: and retry: lines carry nothing the proxy needs
        self._data_bytes = held
        self._held = held + len(rest)
        if self._held > self.max_event:
            raise self._too_big()
        return events

    def close(self) -> list[str]:
        """End of input: an event not yet closed by a blank line still counts."""
        return self.feed(b"\n\n") if self._pending or self._data else []


def encode_event(name: str, data: object) -> bytes:
    """One outgoing SSE event: its ``event:`` name and its JSON ``data:``."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
