"""Helpers shared by the tests: settings, clients and servers wired to a sandbox, and result readers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mcp_types import CallToolResult

from oas_mcp.cli import make_client
from oas_mcp.client import OASClient
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, SANDBOX_URL, Sandbox
from oas_mcp.settings import Settings
from oas_mcp.tools import build_server
from oas_mcp.tools.errors import Server

PYTHON = sys.executable
BASE_ENV = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
DEMO: dict[str, Any] = {
    "api_key": DEMO_API_KEY,
    "username": DEMO_USERNAME,
    "email": DEMO_EMAIL,
    "password": DEMO_PASSWORD,
}
NO_CREDENTIALS: dict[str, Any] = dict.fromkeys(DEMO, "")


def settings_for(**values: Any) -> Settings:
    """Settings pointing at the sandbox with the demo credentials, unless ``values`` say otherwise."""
    return Settings.load(**{"base_url": SANDBOX_URL, **DEMO, **values})


def client_for(sandbox: Sandbox, **values: Any) -> OASClient:
    return make_client(settings_for(**values), sandbox.transport())


def server_for(sandbox: Sandbox, **values: Any) -> Server:
    settings = settings_for(**values)
    return build_server(settings, lambda: make_client(settings, sandbox.transport()))


def text_of(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def error_text(result: CallToolResult) -> str:
    """The text of a tool error; fails the test when the call succeeded."""
    assert result.is_error, f"expected a tool error, got {result.structured_content}"
    return text_of(result)


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured result of a successful call; fails the test with the error text otherwise."""
    assert not result.is_error, text_of(result)
    content = result.structured_content
    assert isinstance(content, dict)
    return content


def run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m oas_mcp ARGS`` in a clean environment plus ``env``, as a user would run it."""
    return subprocess.run(
        [PYTHON, "-m", "oas_mcp", *args],
        env={**BASE_ENV, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(*args: str) -> Iterator[str]:
    """``oas-mcp --sandbox --transport http`` on a free loopback port; yields its MCP URL, stops it after."""
    port = free_port()
    address = ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [PYTHON, "-m", "oas_mcp", "--sandbox", "--transport", "http", *address, *args],
        env=BASE_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    errors = process.stderr.read().decode() if process.stderr else ""
                    raise RuntimeError(f"oas-mcp did not start serving HTTP: {errors}") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)
