"""The MCP SDK's private internals oas-mcp relies on, each behind one small function saying why no public route serves.

The SDK's VERSIONING promises nothing for underscore names: any release may move them. So they are reached here and
nowhere else (``tests/test_layout.py`` enforces it), ``mcp`` is pinned to the minor line the tests ran on, and
``tests/test_sdk_fence.py`` checks each name in :data:`PRIVATE` on the installed SDK, failing with the one that moved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:
    from mcp.server import MCPServer
    from mcp.server.connection import Connection
    from mcp.server.context import ServerRequestContext
    from mcp.server.streamable_http import StreamableHTTPServerTransport
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

P = TypeVar("P", bound=BaseModel)

PRIVATE = {
    "_lowlevel_server": "MCPServer",
    "_tool_input_schema": "MCPServer",
    "_connection": "ServerSession",
    "_server_instances": "StreamableHTTPSessionManager",
}
"""Each private attribute reached below, and the SDK class whose instances have it."""


def add_request_handler(
    server: MCPServer,
    method: str,
    params: type[P],
    handler: Callable[[ServerRequestContext[Any, Any], P], Awaitable[Any]],
) -> None:
    """Serve the protocol request ``method`` with ``handler(request, params)``, on ``server``'s low-level server
    (``MCPServer._lowlevel_server``, whose ``add_request_handler`` is public).

    MCPServer has no decorator for ``logging/setLevel``, and its ``completion()`` hands the function the reference,
    the argument and its context but not the request, which completions need to find the caller's client (its
    X-Api-Key, its linked account)."""
    server._lowlevel_server.add_request_handler(method, params, handler)


def tool_input_schema(server: MCPServer, name: str) -> dict[str, Any] | None:
    """The input schema of ``server``'s tool ``name``, None when it has no tool of that name
    (``MCPServer._tool_input_schema``, what the SDK validates arguments with).

    The public route, ``list_tools()``, converts every tool on each call; this is one look-up, made on every call of
    a tool."""
    return server._tool_input_schema(name)


def connection_of(request: ServerRequestContext[Any, Any]) -> Connection:
    """The connection ``request`` came on (``ServerSession._connection``): its public ``state`` kept across its
    requests, the ``exit_stack`` its end unwinds, and its own stream (``notify``).

    Handlers and middleware are given a ServerRequestContext, whose session is made for the one request and does not
    show its connection; only the high-level ``Context`` has a public ``connection``, and the SDK makes none for
    these."""
    return request.session._connection


def open_sessions(manager: StreamableHTTPSessionManager) -> Mapping[str, StreamableHTTPServerTransport]:
    """The sessions ``manager`` has open, by session ID, each its transport (whose ``idle_scope`` is public): the
    SDK's own record (``StreamableHTTPSessionManager._server_instances``, which ``max_sessions`` bounds), read and
    never changed. The manager offers no public count or look-up."""
    return manager._server_instances
