"""Streamed tool-call fragments assembled into whole calls, whatever indexing the backend follows.

OpenAI gives every fragment the ``index`` of its call and the call's ``id`` on its first fragment
only. Servers differ: parallel calls all under ``index: 0`` (each starting with a new ``id``), no
``index`` at all, the ``id`` repeated on every fragment, the name repeated or split. The rule: a new
``id`` starts a new call; a known ``id`` continues its call; a fragment with an ``index`` but no ``id``
continues the call last seen at that index; a fragment with neither continues the last open call.
"""

from __future__ import annotations

from typing import cast

import orjson

from ollama_openai_proxy.protocol.openai import ToolCallDelta


class ToolCallAssembler:
    def __init__(self) -> None:
        self.calls: list[ToolCallDelta] = []  # whole calls, every field given
        # Argument pieces per call, joined once in assembled(): appending to a string copies it every
        # time, quadratic in the number of pieces a backend chooses to send.
        self._arguments: dict[int, list[str]] = {}
        self._by_id: dict[str, ToolCallDelta] = {}
        # Keyed by whatever JSON the backend sent as the index (normally an int).
        self._by_index: dict[object, ToolCallDelta] = {}
        self._first_index: list[object] = []

    def __bool__(self) -> bool:
        return bool(self.calls)

    def _new(self, index: object) -> ToolCallDelta:
        call: ToolCallDelta = {"id": "", "function": {"name": "", "arguments": ""}}
        self.calls.append(call)
        self._arguments[id(call)] = []
        self._first_index.append(index)
        return call

    def assembled(self) -> list[ToolCallDelta]:
        """The calls in the backend's index order when every call has its own index, else as they came."""
        for call in self.calls:
            parts = self._arguments[id(call)]
            if parts:
                joined = "".join(parts)
                call["function"]["arguments"] = joined
                parts[:] = [joined]
        order = self._first_index
        if all(isinstance(i, int) for i in order) and len(set(order)) == len(order):
            ints = cast("list[int]", order)
            return [call for _, call in sorted(zip(ints, self.calls, strict=True), key=lambda p: p[0])]
        return list(self.calls)

    def _last(self) -> ToolCallDelta | None:
        return self.calls[-1] if self.calls else None

    def _target(self, fragment: ToolCallDelta) -> ToolCallDelta:
        call_id = fragment.get("id") or ""
        index = fragment.get("index")
        if call_id:
            known = self._by_id.get(call_id)
            if known is not None:
                call = known
            else:
                # An id arriving after its call's first fragment (same index, no id yet) names that call.
                previous = self._by_index.get(index) if index is not None else self._last()
                call = previous if previous is not None and not previous["id"] else self._new(index)
                call["id"] = call_id
                self._by_id[call_id] = call
        elif index is not None and index in self._by_index:
            call = self._by_index[index]
        elif index is None and self.calls:
            call = self.calls[-1]
        else:
            call = self._new(index)
        if index is not None:
            self._by_index[index] = call
        return call

    def feed(self, fragment: ToolCallDelta) -> None:
        if not isinstance(fragment, dict):
            return
        call = self._target(fragment)
        fn = fragment.get("function") or {}
        if not isinstance(fn, dict):
            return
        name = fn.get("name")
        if isinstance(name, str) and name:
            current = call["function"]["name"]
            # Some servers repeat the whole name on every fragment; others split it in pieces.
            if name != current:
                call["function"]["name"] = current + name
        args = fn.get("arguments")
        parts = self._arguments[id(call)]
        if isinstance(args, dict):
            parts[:] = [orjson.dumps(args).decode()]
        elif isinstance(args, str) and args:
            parts.append(args)
