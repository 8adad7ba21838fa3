"""Malformed configuration files through the command line: a generated table of every YAML type at every
key of a valid file, and files that cannot be read at all. Each gives exit 2 and one line naming the file."""

from __future__ import annotations

import copy
import datetime
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from ollama_openai_proxy import doctor
from ollama_openai_proxy.config import Settings
from tests.unit.cli.conftest import Outcome

Cli = Callable[..., Outcome]

VALID: dict[str, Any] = {
    "backends": [
        {
            "name": "a",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "TABLE_TEST_KEY",
            "profile": "generic",
            "timeouts": {"connect": 1, "first_byte": 2, "idle": 3, "total": 4},
            "headers": {"X-Team": "blue"},
            "models": ["*"],
            "max_concurrency": 2,
            "max_queue": 3,
            "retries": 1,
        }
    ],
    "aliases": {
        "al": {"model": "m", "backend": "a", "fallback": [{"model": "n", "backend": "a"}]},
        "short": "m",
    },
    "models": {"m*": {"context_length": 100, "capabilities": ["completion", "tools"]}},
    "expose": {"allow": ["*"], "deny": ["x*"]},
    "auth": {
        "keys": [{"name": "k", "key_env": "TABLE_TEST_KEY", "models": ["m*"]}],
        "forward_client_key": False,
    },
    "virtual_models": [{"model": "v", "from": "m", "system": "be brief", "parameters": {"temperature": 0.2}}],
}

# One value of every type YAML's safe loader produces, and the usual near misses.
VALUES: list[Any] = [
    5,
    -1,
    0,
    2.5,
    math.inf,
    math.nan,
    True,
    False,
    None,
    "",
    "text",
    [],
    [5],
    [None],
    [[]],
    {},
    {"x": 1},
    {5: "x"},
    datetime.date(2024, 1, 1),
    datetime.datetime(2024, 1, 1, 12, 0),
    b"\x00\xff",
    {"a", "b"},
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        found += _paths(child, (*prefix, key))
    return found


PATHS = _paths(VALID)


def _label(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _replaced(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


def _kind(value: Any) -> str:
    return "mapping" if isinstance(value, dict) else "list" if isinstance(value, list | set) else "scalar"


@pytest.fixture
def accepted(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """The check command, without reaching any backend: the settings it would have used."""
    seen: list[Settings] = []

    def check(settings: Settings) -> int:
        seen.append(settings)
        return 0

    monkeypatch.setattr(doctor, "run_check", check)
    os.environ["TABLE_TEST_KEY"] = "secret"
    return seen


def test_the_valid_file_is_accepted(cli: Cli, tmp_path: Path, accepted: list[Settings]) -> None:
    path = tmp_path / "valid.yaml"
    path.write_text(yaml.safe_dump(VALID))
    assert cli("check", "--config", str(path)).code == 0
    assert len(accepted) == 1


@pytest.mark.parametrize("path", PATHS, ids=_label)
def test_every_yaml_type_at_every_key(
    cli: Cli, tmp_path: Path, accepted: list[Settings], path: tuple[Any, ...]
) -> None:
    config = tmp_path / "config.yaml"
    node: Any = VALID
    for key in path:
        node = node[key]
    for value in VALUES:
        config.write_text(yaml.safe_dump(_replaced(path, value)))
        outcome = cli("check", "--config", str(config))
        case = f"{_label(path)} = {value!r}"
        assert "Traceback" not in outcome.out + outcome.err, case
        if outcome.code == 0:
            # Accepted: it must have been a value of the right shape (null: the default, and empties a section;
            # an alias may be a bare model name; virtual models are checked as /api/create bodies are).
            assert (
                _kind(value) == _kind(node)
                or value is None
                or (path[0] == "aliases" and len(path) == 2)
                or path[0] == "virtual_models"
            ), case
            continue
        line = outcome.assert_one_line(2, f"configuration error: {config}: ")
        assert "\n" not in line, case
        if _kind(value) != _kind(node) and value is not None and path[0] != "virtual_models":
            # The wrong shape is named by its key (the file's own spelling of the path).
            assert str(path[-1] if not isinstance(path[-1], int) else path[-2]) in line, (case, line)


def test_known_wrong_shapes_name_the_key(cli: Cli, tmp_path: Path, accepted: list[Settings]) -> None:
    config = tmp_path / "config.yaml"
    for text, fragment in [
        ("backends: 5\n", "backends: Input should be a valid list (got 5)"),
        ("backends: [5]\n", "backends[0]: Input should be a valid dictionary"),
        ("backends: {a: 1}\n", "backends: Input should be a valid list (got a mapping)"),
        ("backends:\n", "backends: Input should be a valid list (got nothing (null))"),
        ("backends: []\n", "backends: List should have at least 1 item"),
        (
            "backends: [{base_url: 'http://x/v1'}]\naliases: []\n",
            "aliases: Input should be a valid dictionary",
        ),
        (
            "backends: [{base_url: 'http://x/v1'}]\naliases: {a: [x]}\n",
            "aliases.a: Input should be a valid dictionary",
        ),
        (
            "backends: [{base_url: 'http://x/v1'}]\nauth: {keys: [{name: k}]}\n",
            "auth.keys[0].key_env: Field required",
        ),
        (
            "backends: [{base_url: 'http://x/v1', timeouts: {connect: true}}]\n",
            "backends[0].timeouts.connect",
        ),
        (
            "backends: [{base_url: 'http://x/v1', retries: yes}]\n",
            "backends[0].retries: Input should be a valid integer (got True)",
        ),
        ("backends: [{base_url: 'http://x/v1', max_queue: '5'}]\n", "backends[0].max_queue"),
        (
            "backends: [{base_url: 'http://x/v1'}]\nauth: {forward_client_key: 'no'}\n",
            "auth.forward_client_key",
        ),
        ("backends: [{base_url: 5}]\n", "backends[0].base_url: Input should be a valid string (got 5)"),
        ("- a\n- b\n", "must be a mapping with a 'backends' list (got a list)"),
        ("just text\n", "must be a mapping with a 'backends' list (got 'just text')"),
        ("", "must be a mapping with a 'backends' list (got nothing (null))"),
        ("42\n", "(got 42)"),
        ("a: &a [*a]\nbackends: *a\n", ""),
        ("backends: [\n", "(line 2): not valid YAML"),
        ("backends:\n\t- x\n", "not valid YAML"),
        ("{backends: [{base_url: 'http://x/v1'}], backends: 1}\n", ""),
    ]:
        config.write_text(text)
        outcome = cli("check", "--config", str(config))
        assert outcome.code == 2, (text, outcome)
        outcome.assert_one_line(2, str(config), fragment)
    assert not accepted


def test_several_problems_are_counted_on_the_one_line(
    cli: Cli, tmp_path: Path, accepted: list[Settings]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("backends: [{base_url: 5, retries: x, colour: red}]\n")
    cli("check", "--config", str(config)).assert_one_line(2, "backends[0].base_url", "(and 2 more problems)")


def test_a_header_value_is_never_echoed(cli: Cli, tmp_path: Path, accepted: list[Settings]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("backends: [{base_url: 'http://x/v1', headers: 'Authorization: Bearer sk-hidden'}]\n")
    line = cli("check", "--config", str(config)).assert_one_line(2, "backends[0].headers")
    assert "sk-hidden" not in line


def test_empty_sections_mean_none(cli: Cli, tmp_path: Path, accepted: list[Settings]) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "backends: [{base_url: 'http://x/v1'}]\naliases:\nmodels:\nexpose:\nauth:\nvirtual_models:\n"
    )
    assert cli("check", "--config", str(config)).code == 0
    file = accepted[0].file_config()
    assert file is not None
    assert file.aliases == {}


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (
            lambda p: p.write_bytes(b"backends:\n  - base_url: http://x/v1\n    name: caf\xe9\n"),
            "not UTF-8 text (byte 0xe9 at offset",
        ),
        (lambda p: p.write_bytes(b"\xff\xfe\x00b\x00a\x00"), "not UTF-8 text (byte 0xff at offset 0)"),
        (lambda p: p.write_bytes(b"\x00\x01\x02"), "not valid YAML"),
        (lambda p: p.mkdir(), "cannot read the configuration file: Is a directory"),
        (lambda p: None, "cannot read the configuration file: No such file or directory"),
        (lambda p: p.symlink_to(p.parent / "nowhere"), "No such file or directory"),
    ],
)
def test_a_file_that_cannot_be_read(
    cli: Cli, tmp_path: Path, accepted: list[Settings], make: Callable[[Path], object], fragment: str
) -> None:
    config = tmp_path / "config.yaml"
    make(config)
    for argv in (
        ["check", "--config", str(config)],
        ["--config", str(config)],
        ["models", "--config", str(config)],
    ):
        cli(*argv).assert_one_line(2, f"configuration error: {config}", fragment)
    os.environ["OLLAMA_PROXY_CONFIG"] = str(config)
    cli("check").assert_one_line(2, str(config), fragment)


def test_an_unreadable_file(
    cli: Cli, tmp_path: Path, accepted: list[Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(VALID))
    real = Path.read_text

    def denied(self: Path, *args: Any, **kwargs: Any) -> str:
        if self == config:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)  # chmod 000 does not stop root
    cli("check", "--config", str(config)).assert_one_line(2, str(config), "Permission denied")
