"""The command line in-process: usage errors, settings from the environment, the listen address,
options before or after the command, and the check/models commands against real (fake) backends."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ollama_openai_proxy import doctor, server
from ollama_openai_proxy.config import Settings
from tests.support.fake_backend import FakeBackend
from tests.unit.cli.conftest import Outcome

Cli = Callable[..., Outcome]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Stand-ins for Uvicorn and the commands: what each would have been given."""
    calls: list[dict[str, Any]] = []

    def serve(host: str, port: int, workers: int, log_level: str, grace: float) -> int:
        calls.append(
            {"command": "serve", "host": host, "port": port, "workers": workers, "log_level": log_level}
        )
        return 0

    def command(name: str) -> Callable[[Settings], int]:
        def run(settings: Settings) -> int:
            calls.append({"command": name, "config": settings.config, "log_level": settings.log_level})
            return 0

        return run

    monkeypatch.setattr(server, "serve", serve)
    monkeypatch.setattr(server, "check_listen_address", lambda host, port: None)
    monkeypatch.setattr(doctor, "run_check", command("check"))
    monkeypatch.setattr(doctor, "run_models", command("models"))
    return calls


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text("backends:\n  - {name: a, base_url: 'http://127.0.0.1:9/v1'}\n")
    return path


# -- usage -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["85556", "65536", "0", "-1", "abc", "", "1.5", "8080x", " "])
@pytest.mark.parametrize("where", [[], ["serve"]])
def test_a_port_outside_1_to_65535_is_refused(
    cli: Cli, served: list[Any], where: list[str], value: str
) -> None:
    line = cli(*where, f"--port={value}").assert_one_line(2, "--port", "1 to 65535", repr(value))
    assert line.startswith("ollama-openai-proxy: error: ")
    assert not served


@pytest.mark.parametrize("value", ["1", "11434", "65535"])
def test_a_valid_port_is_served(cli: Cli, served: list[Any], value: str) -> None:
    os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    assert cli("--port", value).code == 0
    assert served == [
        {"command": "serve", "host": "127.0.0.1", "port": int(value), "workers": 1, "log_level": "info"}
    ]


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--workers", "0"], ["--workers", "at least 1"]),
        (["--workers", "many"], ["--workers", "'many'"]),
        (["--log-level", "loud"], ["--log-level", "'loud'"]),
        (["frob"], ["'frob'"]),
        (["--frob"], ["--frob"]),
        (["check", "--port", "3"], ["--port"]),
        (["--port", "3", "check"], ["--port applies to serve, not to check"]),
        (["--host", "h", "--workers", "2", "models"], ["--host, --workers applies to serve"]),
        (["--config"], ["--config", "expected one argument"]),
    ],
)
def test_usage_errors_are_one_line_with_status_2(
    cli: Cli, served: list[Any], argv: list[str], fragments: list[str]
) -> None:
    cli(*argv).assert_one_line(2, *fragments)
    assert not served


def test_help_and_version_exit_0(cli: Cli, served: list[Any]) -> None:
    assert "--config" in cli("--help").out
    assert "--config" in cli("check", "--help").out
    version = cli("--version")
    assert version.code == 0
    assert version.out.startswith("ollama-openai-proxy ")
    assert not served


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["--config", "{config}"], "serve"),
        (["serve", "--config", "{config}"], "serve"),
        (["--config", "{config}", "serve"], "serve"),
        (["--config={config}", "check"], "check"),
        (["check", "--config", "{config}"], "check"),
        (["doctor", "--config", "{config}"], "check"),
        (["models", "--config", "{config}"], "models"),
        (["--log-level", "debug", "models", "--config", "{config}"], "models"),
    ],
)
def test_global_options_go_before_or_after_the_command(
    cli: Cli, served: list[dict[str, Any]], config: Path, argv: list[str], command: str
) -> None:
    outcome = cli(*(a.format(config=config) for a in argv))
    assert outcome.code == 0, outcome.err
    assert served[0]["command"] == command
    if command != "serve":
        assert served[0]["config"] == config
    assert os.environ["OLLAMA_PROXY_CONFIG"] == str(config)  # the workers read it again


def test_the_log_level_option_wins_over_the_environment(
    cli: Cli, served: list[dict[str, Any]], config: Path
) -> None:
    os.environ["OLLAMA_PROXY_LOG_LEVEL"] = "warning"
    assert cli("check", "--log-level", "error", "--config", str(config)).code == 0
    assert served[0]["log_level"] == "error"


def test_serve_options_reach_the_server(cli: Cli, served: list[dict[str, Any]]) -> None:
    os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    os.environ["OLLAMA_HOST"] = "0.0.0.0:8000"
    assert cli("serve").code == 0
    assert cli("serve", "--host", "::1", "--workers", "3").code == 0
    assert cli("--port", "9000").code == 0
    assert [(c["host"], c["port"], c["workers"]) for c in served] == [
        ("0.0.0.0", 8000, 1),
        ("::1", 8000, 3),
        ("0.0.0.0", 9000, 1),
    ]


# -- settings from the environment ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "fragments"),
    [
        ("OPENAI_BASE_URL", "not-a-url", ["absolute http(s) URL", "'not-a-url'"]),
        ("OPENAI_BASE_URL", "ftp://host/v1", ["absolute http(s) URL"]),
        ("OPENAI_API_BASE_URL", "localhost:8080", ["absolute http(s) URL"]),
        ("openai_base_url", "nope", ["absolute http(s) URL"]),
        ("OLLAMA_PROXY_READ_TIMEOUT", "abc", ["valid number", "'abc'"]),
        ("OLLAMA_PROXY_CONNECT_TIMEOUT", "-1", ["greater than 0"]),
        ("OLLAMA_PROXY_MODELS_TTL", "soon", ["valid number"]),
        ("OLLAMA_PROXY_MAX_BODY_BYTES", "1.5", ["valid integer"]),
        ("OLLAMA_PROXY_SHUTDOWN_GRACE", "-3", ["greater than or equal to 0"]),
        ("OLLAMA_PROXY_LOG_LEVEL", "loud", ["'debug'", "'loud'"]),
        ("OLLAMA_PROXY_LOG_FORMAT", "xml", ["'json'", "'xml'"]),
        ("OLLAMA_PROXY_ALLOW_ANY_HOST", "maybe", ["valid boolean"]),
        ("OLLAMA_PROXY_BACKEND_PROFILE", "ollama", ["'vllm'"]),
        ("OLLAMA_HOST", "127.0.0.1:99999", ["invalid port"]),
    ],
)
@pytest.mark.parametrize("command", ["serve", "check", "models"])
def test_a_bad_variable_is_named_as_the_user_set_it(
    cli: Cli, served: list[Any], command: str, variable: str, value: str, fragments: list[str]
) -> None:
    if variable.upper() not in ("OPENAI_BASE_URL", "OPENAI_API_BASE_URL"):
        os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    os.environ[variable] = value
    line = cli(command).assert_one_line(2, f"configuration error: {variable}", *fragments)
    assert "OLLAMA_PROXY_OPENAI" not in line
    assert "Value error" not in line
    assert not served


def _env_names(name: str) -> list[str]:
    alias = Settings.model_fields[name].validation_alias
    return [str(c) for c in getattr(alias, "choices", [])] or [f"OLLAMA_PROXY_{name.upper()}"]


# Every setting that is not free text: a value of the wrong kind is refused, naming the variable.
TYPED_SETTINGS = [
    name
    for name, field in Settings.model_fields.items()
    if field.annotation not in (str, str | None, Path | None) and "Secret" not in str(field.annotation)
]


@pytest.mark.parametrize("name", TYPED_SETTINGS)
@pytest.mark.parametrize("value", ["not-valid", "[1, 2]", "{}"])
def test_every_typed_setting_names_its_variable(cli: Cli, served: list[Any], name: str, value: str) -> None:
    os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    for variable in _env_names(name):
        os.environ[variable] = value
        cli("check").assert_one_line(2, f"configuration error: {variable}: ")
        del os.environ[variable]
    assert not served


def test_a_variable_from_dot_env_says_so(cli: Cli, served: list[Any], tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OPENAI_BASE_URL=http://127.0.0.1:9/v1\nOLLAMA_PROXY_READ_TIMEOUT=abc\n")
    cli("check").assert_one_line(2, "OLLAMA_PROXY_READ_TIMEOUT (in .env): Input should be a valid number")


def test_a_dot_env_that_is_not_utf8_is_one_line(cli: Cli, served: list[Any], tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"OPENAI_BASE_URL=http://127.0.0.1:9/v1\nX=\xff\xfe\n")
    cli("check").assert_one_line(2, ".env", "not UTF-8")


def test_an_empty_variable_means_unset(cli: Cli, served: list[dict[str, Any]], config: Path) -> None:
    os.environ.update(OPENAI_BASE_URL="http://127.0.0.1:9/v1", OLLAMA_PROXY_READ_TIMEOUT="", OLLAMA_HOST="")
    assert cli("serve").code == 0
    assert served[0]["port"] == 11434


def test_no_backend_at_all_is_one_line(cli: Cli, served: list[Any]) -> None:
    for command in ("serve", "check", "models"):
        cli(command).assert_one_line(2, "OPENAI_BASE_URL is not set")


# -- the listen address ------------------------------------------------------------------------


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_port_in_use_is_one_line_naming_the_address(cli: Cli, taken_port: int) -> None:
    os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    cli("--port", str(taken_port)).assert_one_line(1, f"127.0.0.1:{taken_port}", "address already in use")
    os.environ["OLLAMA_HOST"] = f"127.0.0.1:{taken_port}"
    cli("serve").assert_one_line(1, f"127.0.0.1:{taken_port}", "in use")
    os.environ["OLLAMA_HOST"] = f"http://localhost:{taken_port}"
    cli().assert_one_line(1, f":{taken_port}", "in use")


@pytest.mark.parametrize(
    ("argv", "env", "source"),
    [
        (["--host", "no-such-host.invalid"], {}, "--host"),
        (["serve", "--host", "bad host!"], {}, "--host"),
        ([], {"OLLAMA_HOST": "no-such-host.invalid:8080"}, "OLLAMA_HOST"),
    ],
)
def test_an_unresolvable_host_is_one_line_naming_it(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], source: str
) -> None:
    def no_dns(host: str, *args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # never ask a real resolver
    os.environ.update(OPENAI_BASE_URL="http://127.0.0.1:9/v1", **env)
    cli(*argv).assert_one_line(
        2, f"configuration error: {source}: cannot resolve the listen host", "not known"
    )


def test_an_address_of_another_machine_is_one_line(cli: Cli) -> None:
    os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    cli("--host", "192.0.2.1", "--port", "11434").assert_one_line(
        1, "192.0.2.1:11434", "not an address of this machine"
    )


def test_a_free_address_passes_the_check() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server.check_listen_address("127.0.0.1", port)
    server.check_listen_address("localhost", port)


def test_an_unexpected_failure_is_still_one_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, config: Path
) -> None:
    def broken(settings: Settings) -> int:
        raise RuntimeError("something broke")

    monkeypatch.setattr(doctor, "run_check", broken)
    cli("check", "--config", str(config)).assert_one_line(1, "internal error: RuntimeError: something broke")
    with pytest.raises(RuntimeError):  # debugging shows where
        cli("check", "--config", str(config), "--log-level", "debug")


# -- check and models against backends ------------------------------------------------------------


@pytest.fixture
def up() -> Iterator[FakeBackend]:
    backend = FakeBackend(models=[{"id": "smollm2", "owned_by": "llamacpp"}]).start()
    yield backend
    backend.stop()


def _two_backends(tmp_path: Path, up: FakeBackend, down_url: str = "http://127.0.0.1:9/v1") -> Path:
    path = tmp_path / "two.yaml"
    path.write_text(
        f"backends:\n"
        f"  - {{name: up, base_url: '{up.url}', profile: generic, retries: 0}}\n"
        f"  - {{name: down, base_url: '{down_url}', retries: 0, timeouts: {{connect: 2}}}}\n"
    )
    return path


def test_check_reports_each_problem_once(cli: Cli, up: FakeBackend, tmp_path: Path) -> None:
    outcome = cli("check", "--config", str(_two_backends(tmp_path, up)))
    assert outcome.code == 1
    text = outcome.out + outcome.err
    assert text.count("unreachable") == 1, text
    assert text.count("Connect call failed") == 1, text
    problems = [line for line in outcome.out.splitlines() if line.startswith("problem: ")]
    assert problems == [next(line for line in outcome.out.splitlines() if "unreachable" in line)]
    assert problems[0].startswith("problem: backend down is unreachable at http://127.0.0.1:9/v1")
    assert "backend up: " in outcome.out
    assert "FAILED" in outcome.out
    assert outcome.out.rstrip().endswith("1 problem(s)")
    assert outcome.err == ""


def test_check_passes_with_every_backend_up(cli: Cli, up: FakeBackend) -> None:
    os.environ["OPENAI_BASE_URL"] = up.url
    outcome = cli("check")
    assert outcome.code == 0, outcome.out
    assert outcome.out.rstrip().endswith("ok")
    assert "smollm2:latest" in outcome.out


def test_check_names_a_backend_that_refuses_the_listing(cli: Cli, up: FakeBackend) -> None:
    up.models_status = 401
    os.environ["OPENAI_BASE_URL"] = up.url
    outcome = cli("check")
    assert outcome.code == 1
    problems = [line for line in outcome.out.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 1
    assert problems[0].startswith("problem: backend default")


def test_models_with_the_backend_down_fails_with_the_reason(cli: Cli) -> None:
    os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    outcome = cli("models")
    outcome.assert_one_line(1, "backend default is unreachable at http://127.0.0.1:9/v1")
    assert outcome.out == ""  # no empty table


def test_models_with_one_backend_down_prints_the_rest_and_fails(
    cli: Cli, up: FakeBackend, tmp_path: Path
) -> None:
    outcome = cli("models", "--config", str(_two_backends(tmp_path, up)))
    outcome.assert_one_line(1, "backend down is unreachable")
    rows = outcome.out.splitlines()
    assert rows[0].split()[:2] == ["NAME", "BACKEND"]
    assert rows[1].split()[:3] == ["smollm2:latest", "up", "smollm2"]


def test_models_with_every_backend_up(cli: Cli, up: FakeBackend) -> None:
    os.environ["OPENAI_BASE_URL"] = up.url
    outcome = cli("models")
    assert (outcome.code, outcome.err) == (0, "")
    assert outcome.out.splitlines()[1].startswith("smollm2:latest")


def test_models_with_a_backend_serving_nothing_prints_the_empty_table(cli: Cli, up: FakeBackend) -> None:
    up.models = []
    os.environ["OPENAI_BASE_URL"] = up.url
    outcome = cli("models")
    assert (outcome.code, outcome.err) == (0, "")
    assert outcome.out.split() == ["NAME", "BACKEND", "BACKEND", "MODEL", "CONTEXT", "CAPABILITIES"]


def _with_virtual_models(tmp_path: Path, up: FakeBackend) -> Path:
    path = tmp_path / "virtual.yaml"
    path.write_text(
        f"backends:\n"
        f"  - {{name: up, base_url: '{up.url}', profile: generic, retries: 0}}\n"
        f"virtual_models:\n"
        f"  - {{model: captain, from: smollm2, system: 'You are a captain.'}}\n"
        f"  - {{model: 'crew/mate:7b', from: captain, parameters: {{temperature: 0.2}}}}\n"
    )
    return path


@pytest.mark.parametrize("command", ["models", "check"])
def test_the_commands_list_the_virtual_models_of_the_file(
    cli: Cli, up: FakeBackend, tmp_path: Path, command: str
) -> None:
    """What the server would list (/api/tags): the file's virtual models beside the backend's."""
    os.environ["OLLAMA_PROXY_STATE_DIR"] = str(tmp_path)
    outcome = cli(command, "--config", str(_with_virtual_models(tmp_path, up)))
    assert (outcome.code, outcome.err) == (0, "")
    if command == "models":
        rows = [line.split()[:3] for line in outcome.out.splitlines()[1:]]
        assert rows == [
            ["smollm2:latest", "up", "smollm2"],
            ["captain:latest", "up", "smollm2"],
            ["crew/mate:7b", "up", "smollm2"],
        ]
    else:
        exposed = outcome.out.split("exposed models: ")[1].split()
        assert exposed[:4] == ["3", "smollm2:latest", "captain:latest", "crew/mate:7b"]


def test_models_with_an_unreachable_store_lists_the_rest_and_fails(
    cli: Cli, up: FakeBackend, tmp_path: Path
) -> None:
    os.environ["OLLAMA_PROXY_DATABASE_URL"] = "postgresql://u:secret@127.0.0.1:9/proxy"
    outcome = cli("models", "--config", str(_with_virtual_models(tmp_path, up)))
    outcome.assert_one_line(1, "virtual models cannot be listed: the store at")
    assert "secret" not in outcome.err
    assert [line.split()[0] for line in outcome.out.splitlines()[1:]] == ["smollm2:latest"]


@pytest.mark.parametrize(
    "argv", [["--dry-run"], ["serve", "--dry-run", "--port", "8080"], ["check", "--dry-run"]]
)
def test_dry_run_checks_and_exits_without_serving(cli: Cli, served: list[Any], argv: list[str]) -> None:
    os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
    outcome = cli(*argv)
    assert (outcome.code, outcome.err) == (0, "")
    assert served == []


def test_dry_run_still_refuses_a_bad_configuration(cli: Cli, served: list[Any]) -> None:
    os.environ.pop("OPENAI_BASE_URL", None)
    cli("--dry-run", "--config", "/nonexistent/x.yaml").assert_one_line(2, "x.yaml")
    assert served == []
