"""The figures the documentation gives for settings are the code's defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ollama_openai_proxy import OLLAMA_COMPAT_VERSION
from ollama_openai_proxy.config import Settings

REPO = Path(__file__).resolve().parents[3]
README = (REPO / "README.md").read_text()
ROWS = dict(re.findall(r"^\| `(OLLAMA_PROXY_[A-Z_]+)` \| `([^`]*)` \|", README, re.MULTILINE))
NAMES = re.findall(r"^\| `(OLLAMA_PROXY_[A-Z_]+)`", README, re.MULTILINE)


def test_the_readme_table_lists_every_setting() -> None:
    documented = {name.removeprefix("OLLAMA_PROXY_").lower() for name in NAMES}
    prefixed = {name for name, field in Settings.model_fields.items() if field.validation_alias is None}
    assert prefixed <= documented


@pytest.mark.parametrize("variable", sorted(ROWS))
def test_each_default_in_the_readme_is_the_code_default(variable: str) -> None:
    field = Settings.model_fields[variable.removeprefix("OLLAMA_PROXY_").lower()]
    default = field.default
    shown = ROWS[variable]
    if isinstance(default, bool):
        assert shown == str(default).lower()
    elif isinstance(default, int | float) and not isinstance(default, bool):
        assert float(shown) == float(default)
    elif default is not None:
        assert shown == str(default)
    elif variable == "OLLAMA_PROXY_REPORTED_VERSION":
        assert shown == OLLAMA_COMPAT_VERSION


def test_the_deploy_guide_gives_the_shutdown_grace_of_the_code() -> None:
    grace = Settings.model_fields["shutdown_grace"].default
    deploy = (REPO / "docs" / "deploy.md").read_text()
    figures = {int(s) for s in re.findall(r"streams run for up to (\d+) s", deploy)}
    assert figures == {int(grace)}
    assert "exits within 5 s more" in deploy  # shutdown.py waits grace + 1 s, then Uvicorn 4 s (server.py)
    compose = (REPO / "compose.yaml").read_text()
    assert f"streams get {int(grace)} s" in compose
