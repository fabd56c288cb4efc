"""Log notifications, through a real MCP client: what a user watching the client's log pane sees."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_types import LoggingMessageNotificationParams, ResourceTemplateReference

import oas_mcp.server.client_log
from oas_mcp.redact import MASK
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_PASSWORD, Fault, Sandbox
from oas_mcp.server.server import Server

from support import BASE_ENV, PYTHON, server_for, structured

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:The logging capability is deprecated")]

LOOP = "warning oas_mcp.client: pagination loop: the API's next link repeated after page 4; stopped there"


def retried() -> Fault:
    """A 503 for the next listing request, retried (a fault is used up once it has applied: a new one each time)."""
    return Fault(match="GET /api/organisations/", status=503, body='{"detail": "Service Unavailable"}')


class Pane:
    """A client's log pane: each notification as ``level logger: message``."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    async def __call__(self, params: LoggingMessageNotificationParams) -> None:
        self.lines.append(f"{params.level} {params.logger}: {params.data}")


@asynccontextmanager
async def watching(server: Server, mode: Any = "legacy", **options: Any) -> AsyncIterator[tuple[Client, Pane]]:
    pane = Pane()
    async with Client(server, mode=mode, logging_callback=pane, **options) as client:
        yield client, pane


async def test_the_server_declares_logging_and_completions(sandbox: Sandbox) -> None:
    async with Client(server_for(sandbox), mode="legacy") as client:
        capabilities = client.server_capabilities

    assert capabilities.logging is not None
    assert capabilities.completions is not None


async def test_retries_and_the_listing_summary_reach_the_log_pane(sandbox: Sandbox) -> None:
    sandbox.inject(retried())
    async with watching(server_for(sandbox)) as (client, pane):
        structured(await client.call_tool("list_organisations", {}))

    retry, summary = pane.lines
    assert retry.startswith("info oas_mcp.client: GET /api/organisations/ failed (")
    assert "HTTP 503: Service Unavailable" in retry
    assert "; retry 1 of 2 in " in retry
    assert summary.startswith("info oas_mcp.client: listed 5 organisations (of 5) from 3 pages")


async def test_a_resource_read_logs_to_the_pane_too(sandbox: Sandbox) -> None:
    sandbox.inject(retried())
    async with watching(server_for(sandbox)) as (client, pane):
        await client.read_resource("oas://organisations")

    assert pane.lines[0].startswith("info oas_mcp.client: GET /api/organisations/ failed (")


async def test_a_completion_logs_to_the_pane_too(sandbox: Sandbox) -> None:
    template = ResourceTemplateReference(uri="oas://organisations/{organisation_id}")
    async with watching(server_for(sandbox)) as (client, pane):
        await client.complete(template, {"name": "organisation_id", "value": "1"})

    assert pane.lines[0].startswith("info oas_mcp.client: listed 5 organisations (of 5) from 3 pages")


@pytest.mark.filterwarnings("ignore:ping is removed")  # a legacy connection, as the others here
async def test_only_requests_that_can_log_are_served_with_a_sender(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    senders: list[str] = []
    deliver = oas_mcp.server.client_log._deliver

    async def counted(request: Any, receive: Any) -> None:
        senders.append(request.method)
        await deliver(request, receive)

    monkeypatch.setattr(oas_mcp.server.client_log, "_deliver", counted)
    async with watching(server_for(sandbox)) as (client, _):
        await client.send_ping()
        await client.list_tools()
        await client.list_resources()
        await client.set_logging_level("info")
        structured(await client.call_tool("hello", {}))

    assert senders == ["tools/call"]


async def test_set_level_filters_what_is_sent_from_then_on() -> None:
    sandbox = Sandbox(link_style="loop")
    async with watching(server_for(sandbox)) as (client, pane):
        await client.set_logging_level("warning")
        structured(await client.call_tool("list_organisations", {}))
        warned = list(pane.lines)
        await client.set_logging_level("error")
        structured(await client.call_tool("list_organisations", {}))
        quiet = pane.lines[len(warned) :]
        await client.set_logging_level("debug")
        structured(await client.call_tool("list_organisations", {"limit": 2}))
        verbose = pane.lines[len(warned) :]

    assert warned == [LOOP]
    assert quiet == []
    assert verbose[0].startswith("info oas_mcp.client: listed 2 organisations (of 5) from 1 page (")
    assert verbose[1:] == ["info oas_mcp.client: listing stopped at its limit of 2 organisations; more may match"]


async def test_before_set_level_the_servers_log_level_applies() -> None:
    sandbox = Sandbox(link_style="loop")
    async with watching(server_for(sandbox, log_level="WARNING")) as (client, pane):
        structured(await client.call_tool("list_organisations", {}))

    assert pane.lines == [LOOP]


async def test_signing_in_again_is_logged(sandbox: Sandbox) -> None:
    async with watching(server_for(sandbox, api_key="")) as (client, pane):
        structured(await client.call_tool("login", {}))

    assert len(pane.lines) == 1
    assert pane.lines[0].startswith("info oas_mcp.client: signed in as demo; session expires ")


async def test_secrets_are_masked_as_on_stderr(sandbox: Sandbox) -> None:
    echo = json.dumps({"detail": f"bad key {DEMO_API_KEY} for {DEMO_PASSWORD}"})
    sandbox.inject(Fault(match="GET /api/organisations/", status=503, body=echo))
    async with watching(server_for(sandbox)) as (client, pane):
        structured(await client.call_tool("list_organisations", {}))

    assert f"HTTP 503: bad key {MASK} for {MASK}" in pane.lines[0]
    assert not [line for line in pane.lines if DEMO_API_KEY in line or DEMO_PASSWORD in line]


async def test_each_connection_has_its_own_level(sandbox: Sandbox) -> None:
    server = server_for(sandbox)
    async with watching(server) as (quiet, silent), watching(server) as (talkative, heard):
        await quiet.set_logging_level("error")
        structured(await quiet.call_tool("list_organisations", {"limit": 2}))
        structured(await talkative.call_tool("list_organisations", {"limit": 2}))

    assert silent.lines == []
    assert len(heard.lines) == 2


async def test_connections_on_the_2026_protocol_get_none(sandbox: Sandbox) -> None:
    sandbox.inject(retried())
    async with watching(server_for(sandbox), mode="auto", log_level="debug") as (client, pane):
        structured(await client.call_tool("list_organisations", {"limit": 2}))

    assert pane.lines == []


async def test_stderr_keeps_its_own_level_while_the_client_asks_for_more(tmp_path: Path) -> None:
    args = ["-m", "oas_mcp", "--sandbox", "--log-level", "WARNING"]
    pane = Pane()
    with (tmp_path / "stderr").open("w+") as stderr:
        transport = stdio_client(StdioServerParameters(command=PYTHON, args=args, env=BASE_ENV), errlog=stderr)
        async with Client(transport, mode="legacy", logging_callback=pane) as client:
            await client.set_logging_level("info")
            structured(await client.call_tool("list_organisations", {"limit": 2}))
        stderr.seek(0)
        logged = stderr.read()

    assert [line.split(":")[0] for line in pane.lines] == ["info oas_mcp.client", "info oas_mcp.client"]
    assert "listed 2 organisations" in pane.lines[0]
    assert "listed 2 organisations" not in logged
    assert "listing stopped at its limit" not in logged
