"""Helpers shared by the tests: settings, clients and servers wired to a sandbox, and result readers."""

from __future__ import annotations

import sys
from typing import Any

from mcp_types import CallToolResult

from oas_mcp.cli import make_client
from oas_mcp.client import OASClient
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, SANDBOX_URL, Sandbox
from oas_mcp.settings import Settings
from oas_mcp.tools import build_server
from oas_mcp.tools.errors import Server

PYTHON = sys.executable
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
