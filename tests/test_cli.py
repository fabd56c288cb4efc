"""The oas-mcp command as users run it: real processes, stdio and HTTP transports, start-up errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from support import PYTHON, structured

pytestmark = pytest.mark.anyio

COMMAND = str(Path(sys.executable).with_name("oas-mcp"))
BASE_ENV = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "oas_mcp", *args],
        env={**BASE_ENV, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
    result = run(*args, **env)

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def http_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "oas_mcp", "--sandbox", "--transport", "http", "--host", "127.0.0.1", "--port", str(port)],
        env=BASE_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
            time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_streamable_http_at_mcp(http_server: str) -> None:
    async with Client(http_server) as client:
        hello = structured(await client.call_tool("hello", {}))

    assert hello["username"] == "demo"
