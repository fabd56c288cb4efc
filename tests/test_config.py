"""``oas-mcp config CLIENT``: valid JSON of each client's shape, the installed command, and never a secret."""

from __future__ import annotations

import json
import os
import shlex
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

import oas_mcp.cli.installation
from oas_mcp.cli.clients import vscode_user_config
from oas_mcp.cli.installation import installed_from
from oas_mcp.cli.main import main

from support import BASE_ENV, structured

CANARY_KEY = "Canary01.keykeykeykeykeykeykeykeykeykeykeyk"
CANARY_PASSWORD = "canary-password-1234"
CREDENTIALS = ("OAS_API_KEY", "OAS_USERNAME", "OAS_EMAIL", "OAS_PASSWORD")
TITLES = {
    "claude-desktop": "Claude Desktop",
    "claude-code": "Claude Code",
    "vscode": "VS Code",
    "cursor": "Cursor",
    "codex": "Codex CLI",
    "gemini": "Gemini CLI",
    "copilot": "Copilot CLI",
}
SHAPES = {
    "claude-desktop": "mcpServers",
    "claude-code": "mcpServers",
    "vscode": "servers",
    "cursor": "mcpServers",
    "codex": "mcp_servers",
    "gemini": "mcpServers",
    "copilot": "mcpServers",
}


def config(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The document (JSON; Codex's TOML, read), its oas entry, and the instructions printed beside it."""
    assert main(["config", *args]) == 0
    printed = capsys.readouterr()
    document = tomllib.loads(printed.out) if args[0] == "codex" else json.loads(printed.out)
    return document, document[SHAPES[args[0]]]["oas"], printed.err


PROJECT = ("claude-code", "vscode", "gemini")  # their configuration is a project's, by default


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
    assert set(entry.get("env_vars") or entry["env"]) == set(CREDENTIALS)  # Codex passes them on by name
    assert entry.get("type") == ("stdio" if client in ("claude-code", "vscode", "copilot") else None)
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


@pytest.mark.parametrize("client", ["gemini", "copilot"])
def test_gemini_and_copilot_fill_references_from_their_environment_as_claude_code_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, client: str
) -> None:
    monkeypatch.setenv("COPILOT_HOME", str(tmp_path / "copilot"))

    _, entry, instructions = config(capsys, client)

    assert entry["env"]["OAS_API_KEY"] == "${OAS_API_KEY:-}"
    assert entry.get("tools") == (["*"] if client == "copilot" else None)
    where = {"gemini": Path.cwd() / ".gemini" / "settings.json", "copilot": tmp_path / "copilot" / "mcp-config.json"}
    assert f"put this in {where[client]}," in instructions


def test_codex_gets_a_toml_table_that_passes_the_credentials_on_by_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    monkeypatch.setenv("OAS_API_KEY", CANARY_KEY)
    monkeypatch.setenv("OAS_BASE_URL", "https://oas.example/")

    _, entry, instructions = config(capsys, "codex", "--read-only")
    printed = main(["config", "codex", "--read-only"]) == 0 and capsys.readouterr().out

    assert printed == (
        "[mcp_servers.oas]\n"
        f"command = {json.dumps(entry['command'])}\n"
        'args = ["--read-only"]\n'
        'env_vars = ["OAS_API_KEY", "OAS_USERNAME", "OAS_EMAIL", "OAS_PASSWORD"]\n'
        "\n"
        "[mcp_servers.oas.env]\n"
        'OAS_BASE_URL = "https://oas.example"\n'
    )
    assert os.path.isabs(entry["command"])
    assert CANARY_KEY not in printed + instructions
    assert f"put this in {tmp_path / 'codex' / 'config.toml'}," in instructions


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("darwin", {}, "HOME/Library/Application Support/Code/User/mcp.json"),
        ("win32", {"APPDATA": "/roaming"}, "/roaming/Code/User/mcp.json"),
        ("linux", {}, "HOME/.config/Code/User/mcp.json"),
        ("linux", {"XDG_CONFIG_HOME": "/xdg"}, "/xdg/Code/User/mcp.json"),
    ],
)
def test_vscodes_user_configuration_is_its_profiles_mcp_json(
    platform: str, environ: dict[str, str], expected: str
) -> None:
    assert vscode_user_config(platform, environ) == Path(expected.replace("HOME", str(Path.home())))


def test_a_sandboxed_vscode_entry_reaches_the_api_host_alone(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAS_BASE_URL", "https://oas.example:8443/api/")

    _, entry, instructions = config(capsys, "vscode", "--user", "--sandboxed")
    _, demo, _ = config(capsys, "vscode", "--sandboxed", "--sandbox")

    assert entry["sandboxEnabled"] is True
    assert entry["sandbox"] == {"network": {"allowedDomains": ["oas.example"]}}
    assert demo["sandbox"] == {"network": {"allowedDomains": []}}  # the sandbox API runs in the server itself
    assert "reaching only oas.example; it runs the tools of a sandboxed server without asking you" in instructions


@pytest.mark.parametrize(
    ("args", "platform", "refused"),
    [
        (("cursor", "--sandboxed"), "linux", "--sandboxed: Cursor runs no server in a sandbox of its own"),
        (("vscode", "--user", "--sandboxed"), "win32", "--sandboxed: VS Code sandboxes servers on macOS and Linux"),
    ],
)
def test_sandboxed_is_refused_where_no_sandbox_would_run_it(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    platform: str,
    refused: str,
) -> None:
    monkeypatch.setattr(sys, "platform", platform)

    assert main(["config", *args]) == 2
    assert capsys.readouterr().err.startswith(f"oas-mcp: {refused}")


UV_INSTALLED = {"url": "https://github.com/oas/oas-mcp", "vcs_info": {"vcs": "git", "requested_revision": "v0.1.0"}}


@pytest.fixture
def uvx_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process as uvx runs oas-mcp: its Python in uv's cache, installed from a git URL; uvx on the PATH."""
    cache, bin_folder = tmp_path / "uv-cache", tmp_path / "bin"
    environment = cache / "archive-v0" / "k2Qx0Lm" / "bin"
    for folder in (environment, bin_folder):
        folder.mkdir(parents=True)
    for script in (environment / "oas-mcp", bin_folder / "uvx"):
        script.write_text("#!/bin/sh\n")
        script.chmod(0o755)
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))
    monkeypatch.setenv("PATH", str(bin_folder))
    monkeypatch.delenv("UV", raising=False)  # uv names itself there for what it runs: see the test below
    monkeypatch.setattr(sys, "executable", str(environment / "python"))
    monkeypatch.setattr(oas_mcp.cli.installation, "installed_from", lambda: "git+https://github.com/oas/oas-mcp@v0.1.0")
    return bin_folder / "uvx"


def test_run_by_uvx_a_users_entry_runs_uvx_not_the_temporary_environment(
    capsys: pytest.CaptureFixture[str], uvx_run: Path
) -> None:
    _, entry, instructions = config(capsys, "claude-desktop", "--sandbox")
    _, project, project_instructions = config(capsys, "claude-code", "--sandbox")

    assert entry["command"] == str(uvx_run)
    assert entry["args"] == ["--from", "git+https://github.com/oas/oas-mcp@v0.1.0", "oas-mcp", "--sandbox"]
    assert "archive-v0" not in json.dumps(entry)
    assert "Note: this oas-mcp runs from uv's cache" in instructions
    assert "the entry runs uvx --from git+https://github.com/oas/oas-mcp@v0.1.0 oas-mcp instead" in instructions
    assert "uv tool install git+https://github.com/oas/oas-mcp@v0.1.0" in instructions
    assert project["command"] == "oas-mcp"  # a project's file names no installation
    assert "install it for good: uv tool install" in project_instructions
    assert "archive-v0" not in project_instructions  # no "add this temporary folder to PATH"


def test_run_by_uvx_the_entry_runs_the_uvx_beside_the_uv_that_ran_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, uvx_run: Path, tmp_path: Path
) -> None:
    uv = tmp_path / "uv-bin" / "uv"
    uv.parent.mkdir()
    (uv.parent / "uvx").write_text("#!/bin/sh\n")
    monkeypatch.setenv("UV", str(uv))

    _, entry, _ = config(capsys, "cursor", "--sandbox")

    assert entry["command"] == str(uv.parent / "uvx")


def test_run_by_uvx_a_sandboxed_entry_is_refused(capsys: pytest.CaptureFixture[str], uvx_run: Path) -> None:
    assert main(["config", "vscode", "--user", "--sandboxed"]) == 2
    assert "--sandboxed: the entry would run uvx" in capsys.readouterr().err


class Installed:
    """A distribution's metadata as importlib gives it: its direct_url.json (PEP 610) or none."""

    def __init__(self, direct_url: dict[str, Any] | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return json.dumps(self.direct_url) if name == "direct_url.json" and self.direct_url else None


@pytest.mark.parametrize(
    ("direct_url", "source"),
    [
        (None, None),  # from PyPI: uvx oas-mcp
        (UV_INSTALLED, "git+https://github.com/oas/oas-mcp@v0.1.0"),
        ({"url": "https://github.com/oas/oas-mcp", "vcs_info": {"vcs": "git"}}, "git+https://github.com/oas/oas-mcp"),
        (
            {"url": "file:///home/me/dist/oas_mcp-0.1.0-py3-none-any.whl", "archive_info": {}},
            "/home/me/dist/oas_mcp-0.1.0-py3-none-any.whl",
        ),
        (
            {"url": "file:///home/me/oas-mcp", "dir_info": {}, "subdirectory": "server"},
            "/home/me/oas-mcp#subdirectory=server",
        ),
        (  # a token left in the recorded URL is never written
            {"url": "https://me:ghp_secret@git.example/oas.git", "vcs_info": {"vcs": "git"}},
            "git+https://git.example/oas.git",
        ),
        (
            {"url": "ssh://git@github.com/oas/oas-mcp.git", "vcs_info": {"vcs": "git"}},
            "git+ssh://git@github.com/oas/oas-mcp.git",
        ),
    ],
)
def test_the_source_uvx_gets_it_from_again_is_where_it_was_installed_from(
    monkeypatch: pytest.MonkeyPatch, direct_url: dict[str, Any] | None, source: str | None
) -> None:
    monkeypatch.setattr(oas_mcp.cli.installation, "distribution", lambda name: Installed(direct_url))

    assert installed_from() == source


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
