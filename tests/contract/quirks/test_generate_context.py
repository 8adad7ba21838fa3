"""Kind 5: /api/generate returns a context (integers) on every non-raw answer, and the next generate
with it gets the conversation back as prior turns."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.contract.quirks.conftest import Quirky
from tests.support.fake_backend import Reply, chat_completion, text_stream


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("profile", ["generic", "llamacpp"])
def test_context_round_trip(shared: Callable[[str], Quirky], profile: str, stream: bool) -> None:
    q = shared(profile)
    answers = [
        ("Why is the sky blue?", "Rayleigh scattering."),
        ("Say it shorter.", "Scattering."),
        ("Thanks", "Welcome."),
    ]
    context: list[int] | None = None
    for turn, (prompt, answer) in enumerate(answers):
        if profile == "generic" and not stream:
            q.backend.enqueue("chat/completions", Reply(json=chat_completion(answer)))
        else:
            q.backend.enqueue("chat/completions", Reply(events=text_stream(answer[:4], answer[4:])))
        if stream:
            parts = list(
                q.client.generate(
                    model="test-model", prompt=prompt, context=context, system="Be brief.", stream=True
                )
            )
            assert all(p.context is None for p in parts[:-1])
            final = parts[-1]
        else:
            final = q.client.generate(model="test-model", prompt=prompt, context=context, system="Be brief.")
        assert final.done and isinstance(final.context, list) and final.context
        assert all(type(t) is int and 0 <= t < 2**31 for t in final.context)
        context = final.context
        sent = q.bodies()[-1]["messages"]
        prior = [
            m
            for a in answers[:turn]
            for m in ({"role": "user", "content": a[0]}, {"role": "assistant", "content": a[1]})
        ]
        assert sent == [
            {"role": "system", "content": "Be brief."},
            *prior,
            {"role": "user", "content": prompt},
        ]


@pytest.mark.parametrize(
    "context",
    [
        [1, 2, 3],
        [0],
        [-5, 9],
        [1330665539, 1, 4, 0, 1, 2],
        [1330665539, 1, 10**9, 0],
        [1330665539, 1, 2, 0, 70000],
    ],
    ids=["ollama_token_ids", "zero", "negative", "bad_checksum", "absurd_length", "out_of_range"],
)
def test_a_context_not_ours_is_a_400(http: httpx.Client, fake: object, context: list[int]) -> None:
    r = http.post(
        "/api/generate", json={"model": "test-model", "prompt": "x", "context": context, "stream": False}
    )
    assert r.status_code == 400
    assert r.json()["error"].startswith("invalid context")


def test_a_tampered_context_is_a_400(shared: Callable[[str], Quirky], http: httpx.Client) -> None:
    q = shared("generic")
    q.backend.enqueue("chat/completions", Reply(json=chat_completion("ok")))
    context = q.client.generate(model="test-model", prompt="x", stream=False).context or []
    context[-1] ^= 1
    r = http.post(
        "/api/generate", json={"model": "test-model", "prompt": "y", "context": context, "stream": False}
    )
    assert r.status_code == 400


def test_raw_has_no_context_and_the_context_is_bounded(
    shared: Callable[[str], Quirky], http: httpx.Client
) -> None:
    q = shared("generic")
    r = http.post("/api/generate", json={"model": "test-model", "prompt": "x", "raw": True, "stream": False})
    assert r.status_code == 200 and "context" not in r.json()
    big = "word " * 100_000  # 500 KB of answer: the context keeps the most recent 256 KiB of text
    q.backend.enqueue("chat/completions", Reply(json=chat_completion(big)))
    context = q.client.generate(model="test-model", prompt="long", stream=False).context or []
    assert len(context) < 200_000
    q.backend.enqueue("chat/completions", Reply(json=chat_completion("ok")))
    q.client.generate(model="test-model", prompt="next", context=context, stream=False)
    restored = q.bodies()[-1]["messages"]
    assert restored[-1] == {"role": "user", "content": "next"}
    assert 0 < sum(len(m["content"]) for m in restored[:-1]) <= 256 * 1024
