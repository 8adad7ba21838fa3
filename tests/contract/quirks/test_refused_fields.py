"""Kinds 2 and 3: optional request fields a backend refuses with a 400 naming them, learned per
backend, the request sent again without them before any byte reached the client, then remembered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.contract.quirks.conftest import Quirky
from tests.support.fake_backend import Recorded, Reply, chunk, usage

USER = [{"role": "user", "content": "Say hello"}]


def _forms(field: str) -> dict[str, Reply]:
    """The ways servers word "I do not take this field"."""
    return {
        "pydantic_field": Reply(
            400, json={"object": "error", "message": f"Extra inputs are not permitted, field: '{field}'"}
        ),
        "fastapi_detail_loc": Reply(
            422,
            json={
                "detail": [
                    {
                        "type": "extra_forbidden",
                        "loc": ["body", field],
                        "msg": "Extra inputs are not permitted",
                    }
                ]
            },
        ),
        "azure_unrecognized": Reply(
            400,
            json={
                "error": {
                    "message": f"Unrecognized request argument supplied: {field}",
                    "type": "invalid_request_error",
                }
            },
        ),
        "serde_unknown_field": Reply(
            400,
            raw=f"Failed to deserialize the JSON body into the target type: unknown field `{field}`, expected one of `model`, `messages` at line 1 column 9".encode(),
            content_type="text/plain",
        ),
        "openai_not_supported": Reply(
            400,
            json={
                "error": {
                    "message": f"Unsupported parameter: '{field}' is not supported with this model.",
                    "param": field,
                }
            },
        ),
        "json_param_and_code": Reply(
            400, json={"error": {"message": "Invalid request.", "param": field, "code": "unknown_parameter"}}
        ),
    }


def _no_usage_stream() -> Reply:
    """What a backend that was not asked for usage streams: no usage chunk at all."""
    return Reply(
        events=[chunk({"role": "assistant", "content": ""}), chunk({"content": "Hi!"}), chunk({}, "stop")]
    )


def refusing(field: str, answer: Reply, form: str = "pydantic_field") -> Callable[[Recorded], Reply | None]:
    def handler(rec: Recorded) -> Reply | None:
        if not rec.path.endswith("/completions"):
            return None
        if isinstance(rec.body, dict) and field in rec.body:
            return _forms(field)[form]
        return answer

    return handler


@pytest.mark.parametrize("form", list(_forms("x")))
@pytest.mark.parametrize("path", ["chat", "generate"])
def test_stream_options_refused_in_any_wording(
    quirky: Callable[..., Quirky], form: str, path: str, proxy_log: list[str]
) -> None:
    q = quirky("generic", log_level="debug")
    q.backend.handler = refusing("stream_options", _no_usage_stream(), form)
    if path == "chat":
        parts = list(q.client.chat(model="test-model", messages=USER, stream=True))
        assert "".join(p.message.content or "" for p in parts) == "Hi!"
    else:
        parts = list(q.client.generate(model="test-model", prompt="Say hello", stream=True))
        assert "".join(p.response or "" for p in parts) == "Hi!"
    final = parts[-1]
    assert final.done is True
    # token counts: the backend gave none, so none are invented
    assert final.prompt_eval_count is None and final.eval_count is None
    sent = q.bodies()
    assert [("stream_options" in b) for b in sent] == [True, False]
    assert sent[1] == {k: v for k, v in sent[0].items() if k != "stream_options"}
    assert any("refuses 'stream_options'" in m for m in proxy_log)  # said in the debug log
    # remembered: the next request goes without it at once
    list(q.client.chat(model="test-model", messages=USER, stream=True))
    assert len(q.bodies()) == 3 and "stream_options" not in q.bodies()[2]


def test_counts_from_the_final_chunk_when_the_backend_sends_them(quirky: Callable[..., Quirky]) -> None:
    q = quirky("generic")
    events = [chunk({"content": "Hi!"}), {**chunk({}, "stop"), "usage": usage(4, 2)}]
    q.backend.handler = refusing("stream_options", Reply(events=events))
    final = list(q.client.chat(model="test-model", messages=USER, stream=True))[-1]
    assert (final.prompt_eval_count, final.eval_count) == (4, 2)


# (profile, request extras, field refused, what the retried request carries instead)
OPTIONAL = {
    "reasoning_effort": ("generic", {"think": "high"}, "reasoning_effort", {}),
    "chat_template_kwargs": ("vllm", {"think": True}, "chat_template_kwargs", {}),
    "top_k": ("vllm", {"options": {"top_k": 20, "temperature": 0.5}}, "top_k", {"temperature": 0.5}),
    "min_p": ("llamacpp", {"options": {"min_p": 0.1}}, "min_p", {}),
    "max_completion_tokens": (
        "openai",
        {"options": {"num_predict": 7}},
        "max_completion_tokens",
        {"max_tokens": 7},
    ),
    "max_tokens": ("generic", {"options": {"num_predict": 7}}, "max_tokens", {"max_completion_tokens": 7}),
    "logprobs": ("generic", {"logprobs": True, "top_logprobs": 2}, "logprobs", {"top_logprobs": 2}),
}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", list(OPTIONAL))
def test_optional_fields_refused(quirky: Callable[..., Quirky], name: str, stream: bool) -> None:
    profile, extras, field, instead = OPTIONAL[name]
    q = quirky(profile)
    q.backend.handler = lambda rec: (
        _forms(field)["openai_not_supported"]
        if rec.path.endswith("/completions") and isinstance(rec.body, dict) and field in rec.body
        else None
    )
    body = {"model": "test-model", "messages": USER, "stream": stream, **extras}
    with httpx.Client(base_url=q.proxy.url, timeout=30) as http:
        r = http.post("/api/chat", json=body)
        assert r.status_code == 200, r.text
        lines = [orjson.loads(x) for x in r.content.splitlines()]
        assert "".join(x["message"]["content"] for x in lines).startswith("Hello")
        assert field in r.headers["x-ollama-proxy-ignored"]
        sent = q.bodies()
        assert len(sent) == 2 and field in sent[0] and field not in sent[1]
        for key, value in instead.items():
            assert sent[1][key] == value
        assert http.post("/api/chat", json=body).status_code == 200
    assert len(q.bodies()) == 3 and field not in q.bodies()[2]


def test_a_bad_value_is_the_clients_error_not_a_quirk(quirky: Callable[..., Quirky]) -> None:
    q = quirky("generic")
    q.backend.enqueue(
        "chat/completions",
        Reply(
            400, json={"error": {"message": "temperature must be between 0 and 2", "param": "temperature"}}
        ),
    )
    with httpx.Client(base_url=q.proxy.url, timeout=30) as http:
        r = http.post(
            "/api/chat",
            json={"model": "test-model", "messages": USER, "stream": False, "options": {"temperature": 5}},
        )
    assert r.status_code == 400
    assert r.json() == {"error": "temperature must be between 0 and 2"}
    assert len(q.bodies()) == 1


def test_a_required_field_named_in_a_refusal_is_not_dropped(quirky: Callable[..., Quirky]) -> None:
    q = quirky("generic")
    refusal = Reply(400, json={"error": {"message": "'messages' is not supported", "param": "messages"}})
    # chat only: the model listing (fetched in the background, maybe later) must still answer
    q.backend.handler = lambda rec: refusal if rec.path.endswith("chat/completions") else None
    with httpx.Client(base_url=q.proxy.url, timeout=30) as http:
        r = http.post("/api/chat", json={"model": "test-model", "messages": USER, "stream": False})
    assert r.status_code == 400
    assert len(q.bodies()) == 1


# --- kind 3: format "json" on every profile -----------------------------------------------------------

OBJECT_SCHEMA = {"type": "json_schema", "json_schema": {"name": "json", "schema": {"type": "object"}}}
JSON_REFUSALS = {
    "lmstudio": {"error": "'response_format.type' must be 'json_schema' or 'text'"},
    "openai_needs_the_word": {
        "error": {
            "message": "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
            "type": "invalid_request_error",
            "param": "messages",
        }
    },
    "vllm_detail": {
        "detail": [
            {
                "loc": ["body", "response_format", "type"],
                "msg": "Input should be 'json_schema' or 'text' (type not supported)",
            }
        ]
    },
}


def _json_only(rec: Recorded, refusal: dict[str, Any]) -> Reply | None:
    if not rec.path.endswith("/completions") or not isinstance(rec.body, dict):
        return None
    fmt = rec.body.get("response_format") or {}
    if fmt.get("type") == "json_object":
        return Reply(400, json=refusal)
    data = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": '{"colour": "red"}'},
                "finish_reason": "stop",
            }
        ]
    }
    return Reply(json=data)


@pytest.mark.parametrize("refusal", list(JSON_REFUSALS))
@pytest.mark.parametrize("path", ["chat", "generate"])
def test_format_json_where_json_object_is_refused(
    quirky: Callable[..., Quirky], refusal: str, path: str
) -> None:
    q = quirky("generic")
    q.backend.handler = lambda rec: _json_only(rec, JSON_REFUSALS[refusal])
    for _ in range(2):  # the client never says "json"; the second call is sent right at once
        if path == "chat":
            text = q.client.chat(
                model="test-model", messages=[{"role": "user", "content": "A colour?"}], format="json"
            ).message.content
        else:
            text = q.client.generate(model="test-model", prompt="A colour?", format="json").response
        assert orjson.loads(text or "") == {"colour": "red"}
    formats = [b["response_format"] for b in q.bodies()]
    assert formats == [{"type": "json_object"}, OBJECT_SCHEMA, OBJECT_SCHEMA]


@pytest.mark.parametrize("profile", ["openai", "llamacpp", "vllm", "openrouter", "generic"])
def test_format_json_works_on_every_profile(quirky: Callable[..., Quirky], profile: str) -> None:
    q = quirky(profile)
    q.backend.handler = lambda rec: _json_only(rec, JSON_REFUSALS["openai_needs_the_word"])
    reply = q.client.chat(
        model="test-model", messages=[{"role": "user", "content": "A colour?"}], format="json"
    )
    assert orjson.loads(reply.message.content or "") == {"colour": "red"}
    assert q.bodies()[-1]["response_format"] in ({"type": "json_object"}, OBJECT_SCHEMA)
    assert q.bodies()[-1]["messages"] == [{"role": "user", "content": "A colour?"}]  # no "json" added
