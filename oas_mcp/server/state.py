"""What the tools and resources share while the server runs: the OAS clients, made when a call first needs one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from oas_mcp.server.credentials import Clients

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.mcpserver import Context

    from oas_mcp.accounts.mcp import LinkedAccounts
    from oas_mcp.client import OASClient


class State:
    """What the tools share: the OAS client, made by ``connect`` when a tool first needs it, and with per-request
    credentials or linked accounts one client per user on its connection pool (see :class:`Clients`)."""

    def __init__(
        self, connect: Callable[[], OASClient], *, per_request: bool, linked: LinkedAccounts | None = None
    ) -> None:
        self._connect = connect
        self._per_request = per_request
        self._clients: Clients | None = None
        self.linked = linked

    @property
    def clients(self) -> Clients:
        if self._clients is None:
            self._clients = Clients(self._connect(), per_request=self._per_request)
        return self._clients

    @property
    def cached_clients(self) -> int:
        """How many per-request clients are kept now (none before a call needs one): what metrics report."""
        return 0 if self._clients is None else len(self._clients)

    async def aclose(self) -> None:
        if self._clients is not None:
            await self._clients.shared.aclose()


def lifespan(
    connect: Callable[[], OASClient], *, per_request: bool, linked: LinkedAccounts | None = None
) -> Callable[[object], AbstractAsyncContextManager[State]]:
    """The server's lifespan: one :class:`State` while it runs, its clients closed when it stops."""

    @asynccontextmanager
    async def running(_: object) -> AsyncIterator[State]:
        state = State(connect, per_request=per_request, linked=linked)
        try:
            yield state
        finally:
            await state.aclose()

    return running


async def client_of(ctx: Context[Any, Any]) -> OASClient:
    """The OAS client for the call ``ctx`` serves. Raises ToolError when per-request credentials are on and the
    call carries no usable key (see :meth:`Clients.for_request`); with linked accounts, as
    :meth:`LinkedAccounts.client` does."""
    return await client_for(ctx.request_context)


async def client_for(request: ServerRequestContext[Any, Any], *, ask: bool = True) -> OASClient:
    """The OAS client for ``request``, a tool call or another request (a completion: ``ask=False``, for no link
    is offered then). Raises as :func:`client_of`.

    A request's own X-Api-Key (per-request credentials) wins; else, with linked accounts, the caller's linked
    account (never the server's); else the server's credentials."""
    state: State = request.lifespan_context
    clients = state.clients
    headers = getattr(request.request, "headers", None)
    if state.linked is None or clients.sent_key(headers):
        return clients.for_request(headers)
    return await state.linked.client(request, clients, ask=ask)
