"""Fixtures: a sandbox per test, an MCP client on it, and an environment without OAS_* variables."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from mcp import Client

from oas_mcp.sandbox import Sandbox

from support import server_for


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_oas_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see only the OAS_* settings they set themselves."""
    for name in list(os.environ):
        if name.upper().startswith("OAS_"):
            monkeypatch.delenv(name)


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
async def mcp(sandbox: Sandbox) -> AsyncIterator[Client]:
    """An MCP client session with oas-mcp on the demo sandbox."""
    async with Client(server_for(sandbox)) as client:
        yield client
