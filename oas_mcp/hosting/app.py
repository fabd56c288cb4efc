"""The Starlette app oas-mcp serves over HTTP: the SDK's Streamable HTTP transport at ``settings.http_path``,
``GET /healthz`` for load balancers (no authentication), and with OAuth and an accounts key file the link page, where
each person links their own OAS account (see :mod:`oas_mcp.accounts.page`); wrapped in the access policy
(:mod:`oas_mcp.hosting.policy`) and the middleware (:mod:`oas_mcp.hosting.middleware`). Sessions are capped in
number and idle time, in all and for each OAuth subject (or, with per-request credentials and no OAuth, each API
key), and belong to the OAuth subject and, with per-request credentials, the key that opened them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.middleware import Middleware
from starlette.responses import JSONResponse

from oas_mcp import __version__
from oas_mcp.accounts.page import link_page
from oas_mcp.hosting.middleware import (
    CanonicalRequests,
    KeyBoundSessions,
    NamedCaller,
    RetryAfterWhenFull,
    SentFrom,
    SessionsPerPrincipal,
    WhileServing,
)

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp

    from oas_mcp.accounts.page import LinkPage
    from oas_mcp.client import OASClient
    from oas_mcp.hosting.oauth import ResourceServer
    from oas_mcp.hosting.policy import Policy
    from oas_mcp.server.server import Server
    from oas_mcp.settings import Settings

HEALTH_PATH = "/healthz"


def http_app(server: Server, settings: Settings, policy: Policy, page: LinkPage | None = None) -> ASGIApp:
    """The Starlette app: MCP at ``settings.http_path``, ``GET /healthz``, and the link ``page``'s routes."""

    @server.custom_route(HEALTH_PATH, methods=["GET"], include_in_schema=False)  # type: ignore[untyped-decorator]
    async def healthz(request: Request) -> Response:
        """Liveness for load balancers: no authentication, no Host check, no upstream call, no secret."""
        return JSONResponse({"status": "ok", "version": __version__})

    for path, method, handler in page.routes() if page is not None else ():
        server.custom_route(path, methods=[method], include_in_schema=False)(handler)
    app = server.streamable_http_app(
        streamable_http_path=settings.http_path,
        stateless_http=settings.stateless,
        json_response=settings.stateless,
        max_sessions=settings.max_sessions,
        session_idle_timeout=settings.session_idle_timeout,
        transport_security=policy.security,
        host=settings.host,
    )
    # Innermost, so after the SDK's authentication and before its session manager; in this order, so the caller
    # is named by the token's own subject.
    if policy.oauth is not None:
        app.user_middleware.append(Middleware(NamedCaller))
    if not settings.stateless and (policy.oauth is not None or settings.per_request_credentials):
        # Before the key joins the subject: with OAuth, a person is one principal whatever keys they send.
        by_key = policy.oauth is None
        cap = Middleware(
            SessionsPerPrincipal, server=server, settings=settings, by_key=by_key, anonymous=not policy.authenticates
        )
        app.user_middleware.append(cap)
    if settings.per_request_credentials:
        app.user_middleware.append(Middleware(KeyBoundSessions, anonymous=not policy.authenticates))
    served: ASGIApp = CanonicalRequests(RetryAfterWhenFull(app))
    tasks = []
    if policy.oauth is not None:
        served = SentFrom(served)  # whose introspection budget each request's token spends
        tasks.append(policy.oauth.issuer.run)
    if page is not None:
        tasks.append(page.accounts.run)
    return WhileServing(served, *tasks) if tasks else served


def linked_accounts(
    settings: Settings, oauth: ResourceServer, connect: Callable[[], OASClient]
) -> tuple[Callable[[], OASClient], LinkPage]:
    """Linked accounts: the link page (with the MCP side it tells of links used), and ``connect`` made to give the
    one client the tools and the page share. Raises SettingsError (see :func:`oas_mcp.accounts.page.link_page`)."""
    shared = functools.cache(connect)
    return shared, link_page(settings, oauth.issuer, shared)
