"""``oas-mcp config CLIENT``: valid JSON of each client's shape, the installed command, and never a secret."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from oas_mcp.cli.main import main

from support import BASE_ENV, structured

CANARY_KEY = "Canary01.keykeykeykeykeykeykeykeykeykeykeyk"
CANARY_PASSWORD = "canary-password-1234"
CREDENTIALS = ("OAS_API_KEY", "OAS_USERNAME", "OAS_EMAIL", "OAS_PASSWORD")
TITLES = {"claude-desktop": "Claude Desktop", "claude-code": "Claude Code", "vscode": "VS Code", "cursor": "Cursor"}
SHAPES = {"claude-desktop": "mcpServers", "claude-code": "mcpServers", "vscode": "servers", "cursor": "mcpServers"}


def config(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The JSON document, its oas entry, and the instructions printed beside it."""
    assert main(["config", *args]) == 0
    printed = capsys.readouterr()
    document = json.loads(printed.out)
    return document, document[SHAPES[args[0]]]["oas"], printed.err


PROJECT = ("claude-code", "vscode")  # their configuration is a project's, by default


@pytest.mark.parametrize("client", SHAPES)
def test_each_client_gets_its_shape_with_the_command_for_its_scope_and_no_secret(
    client: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAS_API_KEY", CANARY_KEY)
    monkeypatch.setenv("OAS_PASSWORD", CANARY_PASSWORD)

    document, entry, instructions = config(capsys, client)

    if client in PROJECT:  # shared: oas-mcp from each person's PATH
        assert entry["command"] == "oas-mcp"
    else:
        assert os.path.isabs(entry["command"])
        assert os.access(entry["command"], os.X_OK)
    assert entry["args"] == []
    assert set(entry["env"]) == set(CREDENTIALS)
    assert entry.get("type") == ("stdio" if client in ("claude-code", "vscode") else None)
    everything = json.dumps(document) + instructions
    assert CANARY_KEY not in everything
    assert CANARY_PASSWORD not in everything
    assert instructions.startswith(f"{TITLES[client]}: ")


def test_claude_desktop_gets_placeholders_and_its_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    _, entry, instructions = config(capsys, "claude-desktop")

    assert entry["env"]["OAS_API_KEY"] == "<your OAS API key>"
    assert entry["env"]["OAS_PASSWORD"] == "<your OAS password>"
    assert "claude_desktop_config.json" in instructions


def test_claude_code_gets_environment_references_and_for_the_user_the_add_json_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, entry, instructions = config(capsys, "claude-code")
    _, user_entry, user_instructions = config(capsys, "claude-code", "--user")

    assert entry["env"]["OAS_API_KEY"] == "${OAS_API_KEY:-}"
    assert str(Path.cwd() / ".mcp.json") in instructions
    assert os.path.isabs(user_entry["command"])
    add_json = next(line for line in user_instructions.splitlines() if "claude mcp add-json" in line)
    assert shlex.split(add_json) == ["claude", "mcp", "add-json", "--scope", "user", "oas", json.dumps(user_entry)]


def test_vscode_prompts_for_credentials_and_hides_the_secret_ones(capsys: pytest.CaptureFixture[str]) -> None:
    document, entry, instructions = config(capsys, "vscode")

    inputs = {item["id"]: item for item in document["inputs"]}
    assert entry["env"]["OAS_API_KEY"] == "${input:oas-api-key}"
    assert {name: item["password"] for name, item in inputs.items()} == {
        "oas-api-key": True,
        "oas-username": False,
        "oas-email": False,
        "oas-password": True,
    }
    assert all(item["type"] == "promptString" for item in inputs.values())
    assert ".vscode/mcp.json" in instructions


def test_cursor_gets_env_interpolation(capsys: pytest.CaptureFixture[str]) -> None:
    _, entry, instructions = config(capsys, "cursor")

    assert entry["env"]["OAS_PASSWORD"] == "${env:OAS_PASSWORD}"
    assert str(Path.home() / ".cursor" / "mcp.json") in instructions


def test_non_secret_settings_from_the_environment_are_carried_over(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAS_USERNAME", "bob")
    monkeypatch.setenv("OAS_BASE_URL", "https://oas.example/")
    monkeypatch.setenv("OAS_TIMEOUT", "12.5")
    monkeypatch.setenv("OAS_TRANSPORT", "http")  # serving over HTTP is no business of a stdio client
    monkeypatch.setenv("OAS_MCP_TOKEN", "canary-client-token-0123")

    document, entry, _ = config(capsys, "cursor", "--read-only")

    assert entry["args"] == ["--read-only"]
    assert entry["env"]["OAS_USERNAME"] == "bob"
    assert entry["env"]["OAS_BASE_URL"] == "https://oas.example"
    assert entry["env"]["OAS_TIMEOUT"] == "12.5"
    assert entry["env"]["OAS_API_KEY"] == "${env:OAS_API_KEY}"
    assert "OAS_TRANSPORT" not in entry["env"]
    assert "canary-client-token" not in json.dumps(document)


def test_a_projects_entry_asks_everyone_for_their_own_credentials_and_names_no_path_here(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text(CANARY_KEY)
    monkeypatch.setenv("OAS_USERNAME", "bob")
    monkeypatch.setenv("OAS_API_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("OAS_BASE_URL", "https://oas.example/")
    monkeypatch.setenv("OAS_CONFIG", str(tmp_path / "personal.toml"))
    (tmp_path / "personal.toml").write_text("")

    document, entry, _ = config(capsys, "vscode", "--read-only")

    assert entry["command"] == "oas-mcp"
    assert entry["args"] == ["--read-only"]  # the server finds OAS_CONFIG in the environment it starts in
    assert entry["env"] == {
        "OAS_API_KEY": "${input:oas-api-key}",
        "OAS_USERNAME": "${input:oas-username}",
        "OAS_EMAIL": "${input:oas-email}",
        "OAS_PASSWORD": "${input:oas-password}",
        "OAS_BASE_URL": "https://oas.example",
    }
    assert str(tmp_path) not in json.dumps(document)
    assert [item["id"] for item in document["inputs"]] == ["oas-api-key", "oas-username", "oas-email", "oas-password"]


def test_a_users_entry_names_a_secrets_file_by_its_absolute_path(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "key").write_text(CANARY_KEY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OAS_API_KEY_FILE", "key")

    _, entry, _ = config(capsys, "claude-desktop")

    assert entry["env"]["OAS_API_KEY_FILE"] == str(tmp_path / "key")
    assert "OAS_API_KEY" not in entry["env"]
    assert entry["env"]["OAS_PASSWORD"] == "<your OAS password>"


def test_a_config_file_is_passed_by_absolute_path_and_sets_what_it_has(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "oas.toml").write_text(f'api_key = "{CANARY_KEY}"\nusername = "bob"\n')
    monkeypatch.chdir(tmp_path)

    _, entry, _ = config(capsys, "cursor", "--config", "oas.toml")

    assert entry["args"] == ["--config", str(tmp_path / "oas.toml")]
    assert set(entry["env"]) == {"OAS_EMAIL", "OAS_PASSWORD"}


@pytest.mark.anyio
async def test_the_sandbox_config_starts_a_working_server(capsys: pytest.CaptureFixture[str]) -> None:
    _, entry, _ = config(capsys, "claude-desktop", "--sandbox")
    assert "env" not in entry

    server = StdioServerParameters(command=entry["command"], args=entry["args"], env=BASE_ENV)
    async with Client(server, mode="legacy") as client:
        hello = structured(await client.call_tool("hello", {}))

    assert hello["username"] == "demo"


def test_an_unknown_client_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["config", "zed"])

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument client: invalid choice: 'zed'" in error
    assert all(client in error for client in SHAPES)
