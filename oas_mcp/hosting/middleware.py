"""The ASGI wrappers around the SDK's Streamable HTTP app, outermost first as :func:`oas_mcp.hosting.app.http_app`
stacks them: background tasks for as long as the server runs (:class:`WhileServing`), the address tokens come from
(:class:`SentFrom`), canonical Host and path
(:class:`CanonicalRequests`), ``Retry-After`` on the SDK's 503 (:class:`RetryAfterWhenFull`); and after the SDK's
authentication, sessions capped for each principal (:class:`SessionsPerPrincipal`), bound to the API key that opened
them (:class:`KeyBoundSessions`), and the caller named in the log (:class:`NamedCaller`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, principal_components
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import INVALID_REQUEST, ErrorData, JSONRPCError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.responses import Response

from oas_mcp.hosting.oauth import sent_from
from oas_mcp.hosting.policy import CLIENT_ID
from oas_mcp.observability.logs import caller
from oas_mcp.server._sdk import open_sessions
from oas_mcp.server.credentials import API_KEY_HEADER, key_digest

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from oas_mcp.server.server import Server
    from oas_mcp.settings import Settings

logger = logging.getLogger("oas_mcp.hosting.middleware")

# Seconds a client refused for too many open sessions is told to wait (Retry-After): a slot frees whenever any
# session ends or idles out, which cannot be foreseen, so a short wait and another try.
RETRY_AFTER_FULL = b"10"


class CanonicalRequests:
    """ASGI wrapper: the Host header as host names compare (case-insensitive, ``name.`` is ``name``), so the
    allowlist check sees ``mcp.example.com`` for ``MCP.Example.com.``; and a path without its trailing slash,
    so ``/mcp/`` is served as ``/mcp`` rather than redirected to a URL built from an unchecked Host.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(name, _canonical_host(value) if name == b"host" else value) for name, value in scope["headers"]]
            scope = {**scope, "headers": headers, "path": scope["path"].rstrip("/") or "/"}
        await self.app(scope, receive, send)


def _canonical_host(value: bytes) -> bytes:
    """``MCP.Example.com.:8443`` as ``mcp.example.com:8443``; an IPv6 literal in lower case."""
    host = value.lower()
    if host.startswith(b"["):
        return host
    name, colon, port = host.partition(b":")
    return name.removesuffix(b".") + colon + port


class RetryAfterWhenFull:
    """ASGI wrapper: the SDK's 503 to a client that would open a session past ``max_sessions`` (its only 503)
    says when to try again, in ``Retry-After``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_retry_after(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                message = {**message, "headers": [*message.get("headers", []), (b"retry-after", RETRY_AFTER_FULL)]}
            await send(message)

        await self.app(scope, receive, send_with_retry_after)


class WhileServing:
    """ASGI wrapper: ``tasks`` run in the background from start-up until shutdown (for as long as the lifespan)."""

    def __init__(self, app: ASGIApp, *tasks: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.app = app
        self.tasks = tasks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        async with anyio.create_task_group() as group:
            for task in self.tasks:
                group.start_soon(task)
            await self.app(scope, receive, send)
            group.cancel_scope.cancel()


class NamedCaller:
    """Starlette middleware, after authentication: the OAuth token's subject names the caller in every line logged
    while its request is served (tool calls included: the SDK carries the request's context to them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if not isinstance(user, AuthenticatedUser) or not user.access_token.subject:
            await self.app(scope, receive, send)
            return
        with caller(user.access_token.subject):
            await self.app(scope, receive, send)


class KeyBoundSessions:
    """Starlette middleware, after authentication, for per-request credentials: a request's principal includes
    a hash of its X-Api-Key header. The SDK binds each session to the principal that opened it, answers any
    other exactly as it answers an unknown session (404), and forgets the owner when the session ends.
    """

    def __init__(self, app: ASGIApp, *, anonymous: bool) -> None:
        self.app = app
        self.anonymous = anonymous  # no client token: the SDK checks no authentication, so none is forged here

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if isinstance(user, AuthenticatedUser):
            token = user.access_token
        elif self.anonymous and scope["type"] == "http":
            token = AccessToken(token="", client_id=CLIENT_ID, scopes=[])
        else:  # not authenticated: left to the SDK to refuse
            await self.app(scope, receive, send)
            return
        digest = _key_digest(scope).hex()
        subject = f"{token.subject} {digest}" if token.subject else digest
        owner = AuthenticatedUser(token.model_copy(update={"subject": subject}))
        await self.app({**scope, "user": owner}, receive, send)


def _key_digest(scope: Scope) -> bytes:
    """What identifies the request's X-Api-Key header (with per-request credentials, its OAS API key)."""
    return key_digest(Headers(scope=scope).get(API_KEY_HEADER, "").strip())


Principal = tuple[str | None, ...]
_SESSION_ID = MCP_SESSION_ID_HEADER.lower().encode()
_PROTOCOL_VERSION = MCP_PROTOCOL_VERSION_HEADER.encode()


class SessionsPerPrincipal:
    """Starlette middleware, after authentication: no principal may hold more than
    ``settings.max_sessions_per_principal`` of the server's sessions (``max_sessions``), so one user opening
    sessions in a loop does not lock everyone else out. A principal is an OAuth subject (its issuer and ``sub``,
    whatever client it signs in with: anyone may register clients at many issuers) or, ``by_key``, an X-Api-Key.
    Past its share, a request that would open a session is answered 429 with a JSON-RPC error saying what to do.

    Each principal's sessions are learnt from the answers that opened them (their ``Mcp-Session-Id``), and forgotten
    once the SDK no longer has them; openings still in flight count too, so concurrent ones cannot overshoot.
    """

    def __init__(self, app: ASGIApp, *, server: Server, settings: Settings, by_key: bool, anonymous: bool) -> None:
        self.app = app
        self.server = server
        self.path = settings.http_path
        self.most = settings.max_sessions_per_principal
        self.forget_after = 2 * settings.max_sessions  # session IDs kept before the ended ones are swept out
        self.by_key = by_key
        self.anonymous = anonymous  # no client authentication: the key alone names the principal
        self.sessions: dict[Principal, set[str]] = {}  # the IDs of the sessions each opened, some perhaps ended
        self.kept = 0  # how many IDs ``sessions`` holds
        self.opening: dict[Principal, int] = {}  # requests in flight that may open a session, by principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = self._principal(scope) if self._opens_session(scope) else None
        if principal is None:
            await self.app(scope, receive, send)
            return
        manager = self.server.session_manager
        open_ids = self._open(principal, manager)
        held = len(open_ids) + self.opening.get(principal, 0)
        if held >= self.most:
            await self._refuse(held, open_ids, manager)(scope, receive, send)
            return
        self.opening[principal] = self.opening.get(principal, 0) + 1
        in_flight = True

        async def recording(message: Message) -> None:
            nonlocal in_flight
            if message["type"] == "http.response.start" and in_flight:
                in_flight = False
                self._answered(principal, message)
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            if in_flight:
                self._answered(principal, None)

    def _opens_session(self, scope: Scope) -> bool:
        """Whether the SDK would open a session for the request: one to the MCP endpoint without a session ID, in a
        protocol version of the handshake era (a later one has no sessions)."""
        if scope["type"] != "http" or scope["path"] != self.path:
            return False
        names = [name for name, _ in scope["headers"]]
        # The version the SDK goes by: the first header's, should there be several.
        version = next((value for name, value in scope["headers"] if name == _PROTOCOL_VERSION), None)
        return _SESSION_ID not in names and (
            version is None or version.decode("latin-1") in HANDSHAKE_PROTOCOL_VERSIONS
        )

    def _principal(self, scope: Scope) -> Principal | None:
        """Whose the request is; None when it is not authenticated (the SDK refuses it)."""
        user = scope.get("user")
        if not isinstance(user, AuthenticatedUser):
            return ("key", _key_digest(scope).hex()) if self.by_key and self.anonymous else None
        if self.by_key:
            return ("key", _key_digest(scope).hex())
        _, issuer, subject = principal_components(user.access_token)
        return ("subject", issuer, subject)

    def _open(self, principal: Principal, manager: StreamableHTTPSessionManager) -> set[str]:
        """The IDs of the sessions ``principal`` opened that are still open."""
        ids, still_open = self.sessions.get(principal, set()), open_sessions(manager)
        ended = {session_id for session_id in ids if session_id not in still_open}
        ids -= ended
        self.kept -= len(ended)
        if not ids:
            self.sessions.pop(principal, None)
        return ids

    def _answered(self, principal: Principal, start: Message | None) -> None:
        """``principal``'s opening request is answered (``start``: the answer's start; None: it got none): the
        session it opened, if it did, is theirs."""
        left = self.opening.pop(principal) - 1
        if left:
            self.opening[principal] = left
        session_id = Headers(raw=start["headers"]).get(MCP_SESSION_ID_HEADER) if start is not None else None
        if start is None or start["status"] >= 400 or session_id is None:
            return
        self.sessions.setdefault(principal, set()).add(session_id)
        self.kept += 1
        if self.kept > self.forget_after:  # forget the ended sessions of those who left
            manager = self.server.session_manager
            for owner in list(self.sessions):
                self._open(owner, manager)

    def _refuse(self, held: int, open_ids: set[str], manager: StreamableHTTPSessionManager) -> ASGIApp:
        """The 429 answer: what to do, and when a session of theirs idles out (when one will: none is in use)."""
        transports = [open_sessions(manager)[session_id] for session_id in open_ids]
        idle_ends = [transport.idle_scope.deadline for transport in transports if transport.idle_scope is not None]
        soonest = min(idle_ends, default=math.inf)
        message = f"Too many open sessions: you have {held} open, the most one user may have at once."
        headers = {}
        if math.isfinite(soonest):
            wait = max(1, math.ceil(soonest - anyio.current_time()))
            headers["Retry-After"] = str(wait)
            message += (
                " Close those you no longer use (quit idle clients; a client ends its session with an HTTP DELETE), "
                f"or retry in {wait} s, when your least recently used one idles out."
            )
        else:
            message += (
                " Each is in use (a request or stream is open): close one you no longer use (quit its client; a "
                "client ends its session with an HTTP DELETE), then retry."
            )
        logger.warning("refused a new MCP session: this caller has %d open (OAS_MAX_SESSIONS_PER_PRINCIPAL)", held)
        body = JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=INVALID_REQUEST, message=message))
        text = body.model_dump_json(by_alias=True, exclude_unset=True)
        return Response(text, status_code=429, headers=headers, media_type="application/json")


class SentFrom:
    """ASGI wrapper: each HTTP request's tokens come from its client's address (as uvicorn has it: from
    X-Forwarded-For when the peer is among OAS_TRUSTED_PROXIES), for the introspection budgets (see
    :func:`sent_from`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        with sent_from(str(client[0]) if client else ""):
            await self.app(scope, receive, send)
