"""An incremental Server-Sent Events decoder: bytes in, complete ``data`` payloads out.

Hand-written rather than taken from a library because it sits on the hot path of every streamed
token and must work on raw chunks from any transport; it follows the WHATWG parsing rules for
``data`` fields, comments, CRLF line ends and multi-line data.
"""

from __future__ import annotations

import orjson


class SSEDecoder:
    """Feed raw bytes; get the ``data`` of each completed event, as text."""

    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        buffer = self._buffer + chunk
        if b"\n" not in chunk:
            self._buffer = buffer
            return []
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        events: list[str] = []
        data = self._data
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if data:
                    event = "\n".join(data)
                    if event:  # an event whose data is empty is not dispatched (WHATWG)
                        events.append(event)
                    data.clear()
                continue
            if line.startswith(b"data:"):
                value = line[5:]
                if value.startswith(b" "):
                    value = value[1:]
                data.append(value.decode("utf-8", "replace"))
            # comments (":"), event:, id: and retry: lines carry nothing the proxy needs
        return events

    def close(self) -> list[str]:
        """End of input: an event not yet closed by a blank line still counts."""
        return self.feed(b"\n\n") if self._buffer or self._data else []


def encode_event(name: str, data: object) -> bytes:
    """One outgoing SSE event: its ``event:`` name and its JSON ``data:``."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
