"""The oas-mcp command as users run it: real processes, stdio and HTTP transports, start-up errors."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp_types import LATEST_PROTOCOL_VERSION

from oas_mcp.cli.clients import CLIENTS

from support import BASE_ENV, PYTHON, command, run, running, stopped_by_signal, structured

pytestmark = pytest.mark.anyio

COMMAND = str(Path(sys.executable).with_name("oas-mcp"))


def test_the_console_script_and_the_module_are_the_same_command() -> None:
    script = subprocess.run([COMMAND, "--version"], capture_output=True, text=True, timeout=60, check=True)
    module = run("--version")

    assert script.stdout == module.stdout
    assert script.stdout.startswith("oas-mcp ")


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ((), {"OAS_TIMEOUT": "-1"}, "oas-mcp: invalid setting OAS_TIMEOUT: Input should be greater than 0"),
        ((), {"OAS_BASE_URL": "ftp://x"}, "oas-mcp: invalid setting OAS_BASE_URL: must be an http:// or https:// URL"),
        (("--config", "/nonexistent.toml"), {}, "oas-mcp: cannot read config file /nonexistent.toml"),
        (("serve", "--sandbox"), {"OAS_CONFIG": "/nonexistent.toml"}, "oas-mcp: cannot read config file"),
    ],
)
def test_a_bad_setting_stops_start_up_with_one_line_and_exit_code_2(
    args: tuple[str, ...], env: dict[str, str], expected: str
) -> None:
    result = command(*args, **env)

    assert result.returncode == 2
    assert result.stderr.startswith(expected)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_toml_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("unknown_key = 1\n")

    result = run("--config", str(tmp_path / "bad.toml"))

    assert result.returncode == 2
    assert "unknown setting 'unknown_key'" in result.stderr
    assert "Traceback" not in result.stderr


def stdio(*args: str, **env: str) -> StdioServerParameters:
    return StdioServerParameters(command=PYTHON, args=["-m", "oas_mcp", *args], env={**BASE_ENV, **env})


async def test_stdio_server_on_the_sandbox_serves_every_tool() -> None:
    async with Client(stdio("--sandbox"), mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        hello = structured(await client.call_tool("hello", {}))
        listing = structured(await client.call_tool("list_organisations", {"limit": 2}))
        arguments = {"name": "Stdio Co", "base_currency": "EUR", "currencies": ["EUR"]}
        created = structured(await client.call_tool("create_organisation", arguments))
        activated = structured(await client.call_tool("activate_organisation", {"organisation_id": created["id"]}))

    assert names == {"hello", "login", "list_organisations", "create_organisation", "activate_organisation"}
    assert hello["message"] == "Hello world @demo"
    assert (listing["returned"], listing["truncated"]) == (2, True)
    assert activated["organisation_id"] == created["id"] == 8  # the demo users have ids 1 to 7


async def test_stdio_read_only_from_the_environment() -> None:
    async with Client(stdio("serve", "--sandbox", **{"OAS_READ_ONLY": "true"}), mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}

    assert names == {"hello", "login", "list_organisations"}


async def test_streamable_http_at_mcp() -> None:
    with running("--sandbox", "--transport", "http") as server:
        async with Client(server.mcp) as client:
            hello = structured(await client.call_tool("hello", {}))

    assert hello["username"] == "demo"


def test_the_first_ctrl_c_stops_the_stdio_server_at_once_with_one_line() -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LATEST_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }

    code, _, stderr = stopped_by_signal(signal.SIGINT, initialize)  # before the fix, only a third Ctrl-C stopped it

    assert code == 130
    assert stderr == "oas-mcp: stopped (Ctrl-C)\n"


def test_started_at_a_terminal_it_says_it_waits_for_a_client_and_names_every_client_install_knows() -> None:
    terminal, other_end = pty.openpty()
    process = subprocess.Popen(
        [PYTHON, "-m", "oas_mcp", "--sandbox"], env=BASE_ENV, stdin=other_end, stderr=subprocess.PIPE
    )
    os.close(other_end)
    try:
        assert process.stderr is not None
        said = process.stderr.readline().decode()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        os.close(terminal)
        assert process.stderr is not None
        process.stderr.close()

    assert said.startswith("oas-mcp ")
    assert "serves MCP on stdio for the sandbox and waits for an MCP client" in said
    assert all(client in said for client in CLIENTS)  # a client added to install is named here too
