"""backends.client.broken: a connection failure in plain words, aiohttp's own text only in the log."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from ollama_openai_proxy.backends.client import broken


def _payload_reset() -> aiohttp.ClientPayloadError:
    # What aiohttp raises when the peer resets a chunked body: the reset is named in the text only.
    return aiohttp.ClientPayloadError(
        "Response payload is not completed: <TransferEncodingError: 400, message='Not enough data "
        "to satisfy transfer length header.'>. ConnectionResetError(104, 'Connection reset by peer')"
    )


def _caused_reset() -> aiohttp.ClientOSError:
    exc = aiohttp.ClientOSError(5, "I/O failure")
    exc.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    return exc


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (_payload_reset(), "reset the connection during the stream"),
        (_caused_reset(), "reset the connection during the stream"),
        (aiohttp.ClientOSError(32, "Broken pipe"), "reset the connection during the stream"),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "closed the stream early"),
        (aiohttp.ServerDisconnectedError(), "closed the connection before the stream was complete"),
        (aiohttp.ClientConnectionError("Connection lost: [Errno 1]"), "the connection broke"),
    ],
)
def test_connection_failures_in_plain_words(
    exc: aiohttp.ClientError, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        message = broken(exc, "stream")
    assert says in message
    for internal in ("aiohttp", "Error", "Errno", "<", "payload"):
        assert internal not in message, message
    assert type(exc).__name__ in caplog.text  # the operator still sees what aiohttp said
