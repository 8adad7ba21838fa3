"""An incremental Server-Sent Events decoder: bytes in, complete ``data`` payloads out.

Hand-written rather than taken from a library because it sits on the hot path of every streamed
token and must work on raw chunks from any transport; it follows the WHATWG parsing rules for
``data`` fields, comments, CRLF line ends and multi-line data.
"""

from __future__ import annotations


class SSEDecoder:
    """Feed raw bytes; get the ``data`` of each completed event, as text."""

    __slots__ = ("_buffer", "_data", "_pending")

    def __init__(self) -> None:
        self._buffer = b""
        self._pending: list[bytes] = []  # pieces of a line longer than one chunk, joined once complete
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        if b"\n" not in chunk:
            # Not joined yet: a 20 MB event read in 16 KB chunks would otherwise be copied over and
            # over (quadratic time).
            if chunk:
                self._pending.append(chunk)
            return []
        if self._pending:
            self._pending.append(chunk)
            buffer = self._buffer + b"".join(self._pending)
            self._pending.clear()
        else:
            buffer = self._buffer + chunk
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
        return self.feed(b"\n\n") if self._buffer or self._pending or self._data else []
