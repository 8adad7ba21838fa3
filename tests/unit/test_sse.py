"""The incremental SSE decoder: framing rules and arbitrary chunking."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ollama_openai_proxy.translate.sse import SSEDecoder


def decode_all(*chunks: bytes) -> list[str]:
    decoder = SSEDecoder()
    out = [e for chunk in chunks for e in decoder.feed(chunk)]
    return out + decoder.close()


def test_basic_events_and_done() -> None:
    assert decode_all(b'data: {"a":1}\n\ndata: [DONE]\n\n') == ['{"a":1}', "[DONE]"]


def test_no_space_after_colon_and_only_one_space_removed() -> None:
    assert decode_all(b"data:x\n\ndata:  two spaces\n\n") == ["x", " two spaces"]


def test_crlf_line_endings() -> None:
    assert decode_all(b"data: a\r\n\r\ndata: b\r\n\r\n") == ["a", "b"]


def test_crlf_split_between_chunks() -> None:
    assert decode_all(b"data: a\r", b"\n\r", b"\ndata: b\r\n", b"\r\n") == ["a", "b"]


def test_comments_and_other_fields_ignored() -> None:
    stream = b": ping\n\nevent: delta\nid: 7\nretry: 100\ndata: x\n\n:comment only\n\n"
    assert decode_all(stream) == ["x"]


def test_multi_line_data_joined_with_newline() -> None:
    assert decode_all(b"data: line1\ndata: line2\ndata:\n\n") == ["line1\nline2\n"]


def test_blank_lines_between_events_dispatch_nothing() -> None:
    assert decode_all(b"\n\n\ndata: a\n\n\n\n") == ["a"]


def test_empty_data_event_not_dispatched() -> None:
    # WHATWG: an event whose data buffer is empty is dropped (it would be malformed JSON otherwise)
    assert decode_all(b"data:\n\ndata: \n\ndata: x\n\n") == ["x"]


def test_event_without_trailing_blank_line_is_delivered_on_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: tail") == ["a"]
    assert decoder.close() == ["tail"]
    decoder = SSEDecoder()
    assert decoder.feed(b"data: pending\n") == []
    assert decoder.close() == ["pending"]


def test_close_on_empty_decoder() -> None:
    decoder = SSEDecoder()
    assert decoder.close() == []
    assert decoder.feed(b"data: a\n\n") == ["a"]
    assert decoder.close() == []


def test_utf8_split_inside_a_character() -> None:
    raw = 'data: {"c":"日本🎉"}\n\n'.encode()
    cut = raw.index("🎉".encode()) + 2
    assert decode_all(raw[:cut], raw[cut:]) == ['{"c":"日本🎉"}']


def test_invalid_utf8_replaced_not_raised() -> None:
    assert decode_all(b"data: \xff\xfe\n\n") == ["\ufffd\ufffd"]


def test_chunk_without_newline_is_buffered() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: {") == []
    assert decoder.feed(b'"a":') == []
    assert decoder.feed(b"1}\n") == []
    assert decoder.feed(b"\n") == ['{"a":1}']


def test_field_name_must_match_exactly() -> None:
    assert decode_all(b"datax: no\n\n DATA: no\n\ndata: yes\n\n") == ["yes"]


_payload = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), min_size=1, max_size=40
).filter(lambda s: s.strip() == s)


@st.composite
def sse_stream(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    events = draw(st.lists(st.lists(_payload, min_size=1, max_size=3), min_size=1, max_size=8))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    parts: list[bytes] = []
    expected = []
    for lines in events:
        if draw(st.booleans()):
            parts.append(b": comment" + eol)
        if draw(st.booleans()):
            parts.append(b"event: chunk" + eol)
        for text in lines:
            sep = draw(st.sampled_from([b"data: ", b"data:"]))
            parts.append(sep + text.encode() + eol)
        parts.append(eol)
        expected.append("\n".join(lines))
    return b"".join(parts), expected


# No wall-clock limits: on a shared machine a slow draw is the machine's, not the decoder's.
RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@RELAXED
@given(sse_stream(), st.data())
def test_any_chunking_yields_the_same_events(stream: tuple[bytes, list[str]], data: st.DataObject) -> None:
    raw, expected = stream
    cuts = sorted(data.draw(st.sets(st.integers(min_value=0, max_value=len(raw)), max_size=len(raw))))
    bounds = [0, *cuts, len(raw)]
    chunks = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    assert decode_all(*chunks) == expected
    assert decode_all(raw) == expected


@RELAXED
@given(sse_stream())
def test_byte_by_byte_equals_whole(stream: tuple[bytes, list[str]]) -> None:
    raw, expected = stream
    assert decode_all(*(raw[i : i + 1] for i in range(len(raw)))) == expected
