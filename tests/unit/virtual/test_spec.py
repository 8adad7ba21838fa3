"""VirtualModel and /api/create bodies (current and legacy Modelfile form)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ollama_openai_proxy.translate.errors import ProxyError
from ollama_openai_proxy.virtual import VirtualModel, VirtualModelError, from_create_request, normalize_name
from ollama_openai_proxy.virtual.spec import NO_FROM_ERROR, ROLE_ERROR, WEIGHTS_ERROR, build

WEIGHTS = (
    "creating models from weights is not supported: the proxy serves models from OpenAI-compatible "
    "backends; use FROM an existing model"
)


def test_weights_message_is_the_documented_one() -> None:
    assert WEIGHTS_ERROR == WEIGHTS
    assert NO_FROM_ERROR == "no FROM line"


def test_current_body() -> None:
    model = from_create_request(
        {
            "model": "pirate",
            "from": "llama3.2",
            "system": "You are a pirate.",
            "parameters": {"temperature": 0.2, "stop": ["<|eot_id|>", "Human:"], "num_ctx": "4096"},
            "messages": [{"role": "User", "content": "hi"}, {"role": "assistant", "content": "Arr"}],
            "template": "{{ .Prompt }}",
            "license": "MIT",
            "stream": False,
            "renderer": "x",
        }
    )
    assert model.name == "pirate:latest"
    assert model.base == "llama3.2"
    assert model.system == "You are a pirate."
    assert model.parameters == {"temperature": 0.2, "stop": ["<|eot_id|>", "Human:"], "num_ctx": 4096}
    assert [(m.role, m.content) for m in model.messages] == [("user", "hi"), ("assistant", "Arr")]
    assert model.template == "{{ .Prompt }}"
    assert model.license == ["MIT"]
    assert model.created_at > 0


def test_legacy_name_and_license_list() -> None:
    model = from_create_request({"name": "a:v1", "from": "b", "license": ["one", "two"]})
    assert model.name == "a:v1"
    assert model.license == ["one", "two"]
    assert model.system is None
    assert model.parameters == {}
    assert model.messages == []


def test_legacy_modelfile_body() -> None:
    model = from_create_request(
        {
            "model": "mario",
            "modelfile": 'FROM llama3\nSYSTEM """You are Mario."""\nPARAMETER stop a\nPARAMETER stop b\n',
        }
    )
    assert model.base == "llama3"
    assert model.system == "You are Mario."
    assert model.parameters == {"stop": ["a", "b"]}


def test_json_fields_win_over_modelfile() -> None:
    model = from_create_request(
        {
            "model": "m",
            "modelfile": "FROM a\nSYSTEM one\nPARAMETER top_k 5\nPARAMETER temperature 0.1\nMESSAGE user x",
            "from": "b",
            "system": "two",
            "parameters": {"temperature": 0.9},
            "messages": [{"role": "user", "content": "y"}],
        }
    )
    assert model.base == "b"
    assert model.system == "two"
    assert model.parameters == {"top_k": 5, "temperature": 0.9}
    assert [m.content for m in model.messages] == ["y"]


def test_registry_prefix_and_empty_strings() -> None:
    model = from_create_request(
        {"model": "registry.ollama.ai/library/Pirate", "from": "x", "system": "", "template": ""}
    )
    assert model.name == "Pirate:latest"
    assert model.key == "pirate"
    assert model.system is None
    assert model.template is None


@pytest.mark.parametrize("field", ["files", "adapters", "quantize", "quantization", "draft_files"])
def test_weights_are_refused(field: str) -> None:
    value: Any = {"model.gguf": "sha256:" + "0" * 64} if field.endswith(("files", "adapters")) else "q4_K_M"
    with pytest.raises(VirtualModelError) as info:
        from_create_request({"model": "m", "from": "x", field: value})
    assert str(info.value) == WEIGHTS


def test_empty_weight_fields_are_ignored() -> None:
    assert from_create_request({"model": "m", "from": "x", "files": {}, "quantize": ""}).base == "x"


@pytest.mark.parametrize(
    "base", ["./model.gguf", "/models/x", "~/x", "sha256:abc", "C:\\m\\x", "x.safetensors"]
)
def test_from_a_path_is_refused(base: str) -> None:
    with pytest.raises(VirtualModelError) as info:
        from_create_request({"model": "m", "from": base})
    assert str(info.value) == WEIGHTS


def test_adapter_in_modelfile_is_refused() -> None:
    with pytest.raises(VirtualModelError) as info:
        from_create_request({"model": "m", "modelfile": "FROM x\nADAPTER ./lora.gguf\n"})
    assert str(info.value) == WEIGHTS


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m"},
        {"model": "m", "from": ""},
        {"model": "m", "from": "   "},
        {"model": "m", "system": "x"},
        {"model": "m", "modelfile": "SYSTEM hi\n"},
    ],
)
def test_no_from(body: dict[str, Any]) -> None:
    with pytest.raises(VirtualModelError) as info:
        from_create_request(body)
    assert str(info.value) == "no FROM line"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"from": "x"}, "invalid model name"),
        ({"model": "", "name": "", "from": "x"}, "invalid model name"),
        ({"model": 5, "from": "x"}, "invalid model name"),
        ({"model": "bad name!", "from": "x"}, "invalid model name"),
        ({"model": "a:b:c", "from": "x"}, "invalid model name"),
        ({"model": "m", "from": "x", "parameters": {"x": 1}}, "unknown parameter 'x'"),
        (
            {"model": "m", "from": "x", "parameters": {"top_k": "many"}},
            "parameter 'top_k' must be of type integer (got 'many')",
        ),
        (
            {"model": "m", "from": "x", "parameters": [1]},
            "parameters must be an object of option names to values",
        ),
        ({"model": "m", "from": "x", "messages": [{"role": "tool", "content": "x"}]}, ROLE_ERROR),
        (
            {"model": "m", "from": "x", "messages": [{"content": "x"}]},
            "invalid messages.0.role: Field required",
        ),
        ({"model": "m", "from": "x", "messages": "hi"}, "messages must be a list of {role, content} objects"),
        (
            {"model": "m", "from": "x", "messages": [{"role": "user", "content": 3}]},
            "invalid messages.0.content: Input should be a valid string",
        ),
        ({"model": "m", "from": "x", "license": 3}, "license must be a string or a list of strings"),
        ({"model": "m", "from": "x", "license": ["a", 1]}, "license must be a string or a list of strings"),
        ({"model": "m", "from": 3}, "from must be a string"),
        ({"model": "m", "from": "x", "system": ["a"]}, "system must be a string"),
        ({"model": "m", "modelfile": 7}, "modelfile must be a string"),
        ({"model": "m", "modelfile": "FROM x\nPARAMETER foo 1\n"}, "(line 2): unknown parameter 'foo'"),
    ],
)
def test_create_errors(body: dict[str, Any], message: str) -> None:
    with pytest.raises(VirtualModelError) as info:
        from_create_request(body)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, ProxyError)
    assert info.value.status == 400


def test_body_must_be_an_object() -> None:
    with pytest.raises(VirtualModelError, match="request body must be a JSON object"):
        from_create_request(["x"])  # type: ignore[arg-type]


def test_build_reports_other_validation_errors() -> None:
    with pytest.raises(VirtualModelError, match=r"^invalid created_at: "):
        build(name="m", base="x", created_at="yesterday")


def test_direct_construction_validates() -> None:
    with pytest.raises(ValidationError):
        VirtualModel(name="m", base="x", parameters={"nope": 1})
    model = VirtualModel.model_validate(
        {"name": "m", "base": "x", "parameters": {"stop": "a"}, "license": "L"}
    )
    assert model.parameters == {"stop": ["a"]}
    assert model.license == ["L"]


def test_model_is_frozen_and_round_trips_through_json() -> None:
    model = from_create_request({"model": "m", "from": "x", "parameters": {"top_p": 0.5}})
    with pytest.raises(ValidationError):
        model.system = "changed"  # type: ignore[misc]
    assert VirtualModel.model_validate_json(model.model_dump_json()) == model


def test_digest_ignores_name_and_time() -> None:
    model = from_create_request({"model": "m", "from": "x", "system": "s"})
    copy = model.renamed("other", created_at=1.0)
    assert copy.name == "other:latest"
    assert copy.created_at == 1.0
    assert copy.digest == model.digest
    assert len(model.digest) == 64
    assert from_create_request({"model": "m", "from": "x", "system": "t"}).digest != model.digest


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("pirate", "pirate:latest"),
        ("Pirate:V2", "Pirate:V2"),
        ("me/pirate", "me/pirate:latest"),
        ("library/x:1b", "x:1b"),
        ("  x ", "x:latest"),
    ],
)
def test_normalize_name(name: str, normal: str) -> None:
    assert normalize_name(name) == normal


def test_normalize_name_invalid() -> None:
    with pytest.raises(VirtualModelError, match=r"^invalid model name$"):
        normalize_name("")


def test_direct_construction_defaults_and_errors() -> None:
    model = VirtualModel.model_validate({"name": "m", "base": " x ", "parameters": None, "license": None})
    assert (model.base, model.parameters, model.license) == ("x", {}, [])
    with pytest.raises(VirtualModelError, match=r"^no FROM line$"):
        build(name="m", base=" ")
    with pytest.raises(VirtualModelError, match=r"^parameters must be an object of option names to values$"):
        build(name="m", base="x", parameters="temperature 1")
