"""MCP clients for oas-mcp over HTTP: the SDK's Streamable HTTP client with the token and a user's key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

TOKEN = "test-client-token-0123456789"


def headers(*, token: str | None = TOKEN, api_key: str | None = None) -> dict[str, str]:
    """The HTTP headers of an MCP client: the bearer token, and the user's own OAS API key."""
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    return sent | ({"X-Api-Key": api_key} if api_key else {})


@asynccontextmanager
async def session(
    url: str,
    *,
    token: str | None = TOKEN,
    api_key: str | None = None,
    mode: Any = "auto",
    transport: httpx2.AsyncBaseTransport | None = None,
    http: httpx2.AsyncClient | None = None,
    **options: Any,
) -> AsyncIterator[Client]:
    """An MCP client session with ``url`` over the SDK's Streamable HTTP transport (on ``http`` when given);
    ``options`` go to the Client (its callbacks)."""
    async with AsyncExitStack() as stack:
        if http is None:
            http = httpx2.AsyncClient(headers=headers(token=token, api_key=api_key), transport=transport, timeout=60.0)
            await stack.enter_async_context(http)
        client = Client(streamable_http_client(url, http_client=http), mode=mode, **options)
        yield await stack.enter_async_context(client)


async def sessions_until_refused(url: str, held: AsyncExitStack, most: int, **options: Any) -> tuple[int, str]:
    """Open sessions with ``url`` (``options`` as :func:`session`'s), each left open in ``held``, until the server
    refuses one or ``most`` are open: how many opened, and the refusal's message (empty when none was refused)."""
    for opened in range(most):
        try:
            await held.enter_async_context(session(url, mode="legacy", **options))
        except BaseExceptionGroup as group:  # the SDK's task groups wrap the client's error
            refused, _ = group.split(MCPError)
            error: BaseException | None = refused
            while isinstance(error, BaseExceptionGroup):
                error = error.exceptions[0]
            if error is None:
                raise
            return opened, str(error)
    return most, ""


INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
)


PING = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping"})


def post_initialize(url: str, **headers: str) -> httpx2.Response:
    """One raw MCP ``initialize`` POST, to see the HTTP status a client would get."""
    return post_message(url, INITIALIZE, **headers)


def post_message(url: str, message: str | bytes, **headers: str) -> httpx2.Response:
    """One raw JSON-RPC message POSTed as an MCP client does."""
    sent = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers}
    return httpx2.post(url, content=message, headers=sent, timeout=60.0)


def in_session(session_id: str) -> dict[str, str]:
    """The headers that put a raw request in the MCP session ``session_id``."""
    return {"Mcp-Session-Id": session_id, "Mcp-Protocol-Version": "2025-11-25"}
