"""The SDK's private internals oas-mcp relies on (all in :mod:`oas_mcp.server._sdk`) are still there in the installed
SDK, on real instances of its classes: a release that moves one fails here, naming it, before anything else fails
in a way that hides why."""

from __future__ import annotations

import ast
import inspect
from collections.abc import Mapping
from contextlib import AsyncExitStack
from importlib.metadata import version
from typing import Any

import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp_types import CompleteRequestParams, CompleteResult, Completion, PromptReference

import oas_mcp.server._sdk as fence
from oas_mcp.server._sdk import PRIVATE, add_request_handler, connection_of, open_sessions, tool_input_schema

pytestmark = pytest.mark.anyio

MCP = f"mcp {version('mcp')}"


async def sdk_instances() -> dict[str, Any]:
    """One real instance of each SDK class whose private attributes the fence reaches, by class name: the server,
    the session a tool call is served in (over an in-memory client), and the server's HTTP session manager."""
    server = MCPServer("fence")
    seen: list[ServerRequestContext[Any, Any]] = []

    @server.tool()
    async def echo(text: str, ctx: Context) -> str:
        seen.append(ctx.request_context)
        return text

    async with Client(server, mode="legacy") as client:
        await client.call_tool("echo", {"text": "hi"})
    server.streamable_http_app()
    return {type(found).__name__: found for found in (server, seen[0].session, server.session_manager)}


def must_have(instance: object, name: str) -> Any:
    """``instance``'s attribute ``name``; when the SDK has none, the test fails saying which, and what to do."""
    if not hasattr(instance, name):
        pytest.fail(
            f"{MCP} has no {type(instance).__name__}.{name}, which oas_mcp/server/_sdk.py reaches for: find where "
            "the SDK keeps it now (or a public way to the same), change _sdk.py, and move the pin in pyproject.toml",
            pytrace=False,
        )
    return getattr(instance, name)


@pytest.mark.parametrize("name", sorted(PRIVATE))
async def test_each_private_attribute_the_fence_reaches_is_in_the_installed_sdk(name: str) -> None:
    instance = (await sdk_instances()).get(PRIVATE[name])

    assert instance is not None, f"{MCP}: no {PRIVATE[name]} was made to look for {name} on"
    must_have(instance, name)


async def test_what_the_fence_hands_on_is_what_its_callers_use() -> None:
    instances = await sdk_instances()
    for name, owner in PRIVATE.items():
        must_have(instances[owner], name)
    server: MCPServer = instances["MCPServer"]
    session = instances["ServerSession"]
    request = ServerRequestContext[Any, Any](session=session, lifespan_context={}, protocol_version="", method="")

    connection = connection_of(request)
    sessions = open_sessions(instances["StreamableHTTPSessionManager"])

    assert isinstance(must_have(connection, "state"), dict)
    assert isinstance(must_have(connection, "exit_stack"), AsyncExitStack)
    assert inspect.iscoroutinefunction(must_have(connection, "notify"))
    assert isinstance(sessions, Mapping)
    assert list(sessions) == []
    assert tool_input_schema(server, "echo") == {
        "type": "object",
        "properties": {"text": {"type": "string", "title": "Text"}},
        "required": ["text"],
        "title": "echoArguments",
    }
    assert tool_input_schema(server, "no such tool") is None


async def test_a_handler_added_through_the_fence_answers_its_request() -> None:
    server = MCPServer("fence")

    async def complete(request: ServerRequestContext[Any, Any], params: CompleteRequestParams) -> CompleteResult:
        return CompleteResult(completion=Completion(values=[params.argument.value.upper()]))

    add_request_handler(server, "completion/complete", CompleteRequestParams, complete)
    async with Client(server, mode="legacy") as client:
        answer = await client.complete(PromptReference(type="ref/prompt", name="any"), {"name": "x", "value": "eur"})

    assert answer.completion.values == ["EUR"]


def test_the_fence_lists_every_private_name_it_reaches() -> None:
    tree = ast.parse(inspect.getsource(fence))
    reached = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr.startswith("_")}

    assert reached == set(PRIVATE)
