"""Serving over HTTP: oas-mcp as Streamable HTTP (the SDK's transport), and the sandbox API for curl.

What this module adds to the SDK's transport is policy: clients present a bearer token (one shared token,
compared in constant time, or OAuth access tokens from an authorization server: see ``oauth``), Host and Origin
are checked against an allowlist (DNS-rebinding protection), and a non-loopback bind without either refuses to
start. Sessions are capped in number and idle time, in all and for each OAuth subject (or, with per-request
credentials and no OAuth, each API key), and belong to the OAuth subject and, with per-request credentials, the key
that opened them. ``GET /healthz`` answers load balancers without authentication. With OAuth
and an accounts key file, each person links their own OAS account on the link page (see ``linking``).
"""

from __future__ import annotations

import errno
import hmac
import logging
import math
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, principal_components
from mcp.server.auth.settings import AuthSettings
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types import INVALID_REQUEST, ErrorData, JSONRPCError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.middleware import Middleware

from oas_mcp import __version__
from oas_mcp.observability.logs import caller
from oas_mcp.redact import remember
from oas_mcp.server.credentials import API_KEY_HEADER, key_digest
from oas_mcp.settings import Settings, SettingsError, env_name, is_loopback

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from oas_mcp.accounts.page import LinkPage
    from oas_mcp.client import OASClient
    from oas_mcp.hosting.oauth import ResourceServer
    from oas_mcp.sandbox import Sandbox
    from oas_mcp.server.server import Server

logger = logging.getLogger("oas_mcp.hosting.app")

HEALTH_PATH = "/healthz"
LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
CLIENT_ID = "oas-mcp-client"
SHUTDOWN_GRACE = 5  # seconds open streams get to finish when the server stops
# Seconds a client refused for too many open sessions is told to wait (Retry-After): a slot frees whenever any
# session ends or idles out, which cannot be foreseen, so a short wait and another try.
RETRY_AFTER_FULL = b"10"
_BIND_HINTS = {
    errno.EADDRINUSE: "pick another --port, or stop what uses it",
    errno.EADDRNOTAVAIL: "no interface here has that address; check --host",
    errno.EACCES: "ports below 1024 need privileges; pick another --port",
}


class StaticToken:
    """The SDK's TokenVerifier for one shared bearer token, compared in constant time."""

    def __init__(self, token: SecretStr) -> None:
        self._expected = token.get_secret_value().encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self._expected):
            return AccessToken(token=token, client_id=CLIENT_ID, scopes=[])
        return None


@dataclass(frozen=True)
class Policy:
    """Who may talk to the HTTP endpoint: the bearer token or the OAuth resource server (neither: anyone who
    reaches it), and the allowlists."""

    token: SecretStr | None
    security: TransportSecuritySettings
    oauth: ResourceServer | None = None

    @property
    def authenticates(self) -> bool:
        return self.token is not None or self.oauth is not None

    @classmethod
    def of(cls, settings: Settings, *, insecure_no_auth: bool = False) -> Policy:
        """The policy the settings ask for; raises SettingsError when they are unsafe or contradictory."""
        token = client_token(settings)
        oauth = resource_server(settings, token, insecure_no_auth=insecure_no_auth)
        host = settings.host
        if token is not None and insecure_no_auth:
            raise SettingsError("--insecure-no-auth contradicts the client token that is set; drop one of them")
        loopback = is_loopback(host)
        if not loopback and token is None and oauth is None and not insecure_no_auth:
            raise SettingsError(
                f"refusing to serve MCP on {host} without authenticating clients: anyone who reaches the port "
                "could use the OAS account; set OAS_OAUTH_ISSUER (OAuth), or OAS_MCP_TOKEN or OAS_MCP_TOKEN_FILE "
                "(one shared token), or pass --insecure-no-auth when a proxy in front authenticates clients"
            )
        names = [*settings.allowed_hosts, *([public_host(settings.public_url)] if settings.public_url else [])]
        if not loopback and not names:
            raise SettingsError(
                f"serving MCP on {host} needs the host names clients reach it by (DNS-rebinding protection): "
                "pass --allowed-host NAME for each, e.g. --allowed-host mcp.example.com, or set OAS_ALLOWED_HOSTS"
            )
        hosts = [pattern for name in names for pattern in _host_patterns(name)]
        origins = list(settings.allowed_origins)
        if loopback:
            hosts += LOOPBACK_HOSTS
            origins += LOOPBACK_ORIGINS
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
        )
        return cls(token, security, oauth)

    def server_options(self, settings: Settings) -> dict[str, Any]:
        """What MCPServer needs to require the token: a verifier, and auth settings naming this server."""
        if self.oauth is not None:
            return {"token_verifier": self.oauth.verifier, "auth": self.oauth.auth}
        if self.token is None:
            return {}
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        auth = AuthSettings(issuer_url=f"http://{host}:{settings.port}", resource_server_url=None)
        return {"token_verifier": StaticToken(self.token), "auth": auth}


def _host_patterns(name: str) -> list[str]:
    """A name without a port matches it on any port (and bare, as behind a proxy on 80 or 443)."""
    has_port = ":" in name.rsplit("]", 1)[-1]
    return [name] if has_port else [name, f"{name}:*"]


OAUTH_ONLY = (
    "public_url",
    "oauth_scopes",
    "oauth_client_id",
    "oauth_client_secret",
    "accounts_key_file",
    "database_url",
    "accounts_path",
)
"""Settings that mean something only with OAuth on (when serving: linked accounts are for people signed in)."""


def resource_server(settings: Settings, token: SecretStr | None, *, insecure_no_auth: bool) -> ResourceServer | None:
    """The OAuth resource server the settings ask for (None: OAuth is off). Raises SettingsError when its settings
    are incomplete or contradict another way of authenticating clients."""
    if settings.oauth_issuer is None:
        if stray := next((name for name in OAUTH_ONLY if getattr(settings, name)), None):
            raise SettingsError(f"{env_name(stray)} is only used with OAuth: set OAS_OAUTH_ISSUER too, or drop it")
        return None
    if token is not None:
        raise SettingsError(
            "OAS_OAUTH_ISSUER and a client token (OAS_MCP_TOKEN or OAS_MCP_TOKEN_FILE) are two ways to "
            "authenticate clients; set one of them"
        )
    if insecure_no_auth:
        raise SettingsError("--insecure-no-auth contradicts OAS_OAUTH_ISSUER; drop one of them")
    if settings.public_url is None:
        raise SettingsError(
            "OAS_OAUTH_ISSUER needs OAS_PUBLIC_URL, the URL clients reach the MCP endpoint at "
            "(e.g. https://mcp.example.com/mcp): tokens must name it in their aud"
        )
    from oas_mcp.hosting.oauth import Introspection, ResourceServer

    client_id, secret = settings.oauth_client_id, settings.oauth_client_secret
    if (client_id is None) != (secret is None):
        raise SettingsError("introspection needs both OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET; set both")
    introspection = Introspection(client_id, secret) if client_id is not None and secret is not None else None
    if secret is not None:
        remember(secret.get_secret_value())
    return ResourceServer.of(settings.oauth_issuer, settings.public_url, settings.oauth_scopes, introspection)


def public_host(url: str) -> str:
    """The Host header clients send to reach ``url``: its host name, and its port when it names one."""
    return urlsplit(url).netloc.lower()


def client_token(settings: Settings) -> SecretStr | None:
    """The bearer token clients must present (OAS_MCP_TOKEN, or the contents of OAS_MCP_TOKEN_FILE), now masked."""
    token = settings.mcp_token
    if token is not None:
        remember(token.get_secret_value())
    return token


def http_app(server: Server, settings: Settings, policy: Policy, page: LinkPage | None = None) -> ASGIApp:
    """The Starlette app: MCP at ``settings.http_path``, ``GET /healthz``, and the link ``page``'s routes."""
    from starlette.responses import JSONResponse

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
    served = CanonicalRequests(RetryAfterWhenFull(app))
    tasks = [policy.oauth.issuer.run] if policy.oauth is not None else []
    if page is not None:
        tasks.append(page.accounts.run)
    return WhileServing(served, *tasks) if tasks else served


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
        ids = self.sessions.get(principal, set())
        ended = {session_id for session_id in ids if session_id not in manager._server_instances}
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
        from starlette.responses import Response

        transports = [manager._server_instances[session_id] for session_id in open_ids]
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


def serve(
    settings: Settings,
    connect: Callable[[], OASClient],
    *,
    insecure_no_auth: bool = False,
    instrument: Callable[[Server], None] | None = None,
) -> None:
    """Serve MCP over Streamable HTTP until interrupted; ``instrument`` adds metrics to the server (see
    :mod:`oas_mcp.observability.telemetry`)."""
    from oas_mcp.server import build_server

    policy = Policy.of(settings, insecure_no_auth=insecure_no_auth)
    page = None
    if policy.oauth is not None and settings.accounts_key_file is not None:
        connect, page = linked_accounts(settings, policy.oauth, connect)
    server = build_server(settings, connect, linked=page.accounts if page else None, **policy.server_options(settings))
    if instrument is not None:
        instrument(server)
    app = http_app(server, settings, policy, page)

    def announce(url: str) -> None:
        if policy.oauth is not None:
            auth = f"OAuth access tokens from {policy.oauth.issuer.url} for {policy.oauth.verifier.audience}"
        else:
            auth = "bearer token required" if policy.token else "no client authentication"
        notes = ["stateless, JSON responses" if settings.stateless else "sessions, streamed responses", auth]
        if settings.per_request_credentials:
            notes.append("each request's X-Api-Key header is its OAS API key")
        if page is not None:
            notes.append(f"linked OAS accounts, linked at {page.url('…')}")
        logger.info("oas-mcp %s serves MCP at %s%s (%s)", __version__, url, settings.http_path, "; ".join(notes))
        if not policy.authenticates and not is_loopback(settings.host):
            logger.warning("clients are not authenticated (--insecure-no-auth): only a proxy in front protects it")

    try:
        run(app, settings.host, settings.port, announce, trusted_proxies=settings.trusted_proxies)
    finally:
        if page is not None:
            page.store.close()


def linked_accounts(
    settings: Settings, oauth: ResourceServer, connect: Callable[[], OASClient]
) -> tuple[Callable[[], OASClient], LinkPage]:
    """Linked accounts: the link page (with the MCP side it tells of links used), and ``connect`` made to give the
    one client the tools and the page share. Raises SettingsError (see :func:`oas_mcp.accounts.page.link_page`)."""
    import functools

    from oas_mcp.accounts.page import link_page

    shared = functools.cache(connect)
    return shared, link_page(settings, oauth.issuer, shared)


def serve_sandbox(host: str, port: int) -> None:
    """Serve the sandbox API over HTTP (for curl, Postman, and oas-mcp with OAS_BASE_URL) until interrupted."""
    from starlette.middleware.cors import CORSMiddleware

    from oas_mcp.sandbox import Sandbox

    sandbox = Sandbox()
    # Browser tools (Hoppscotch on the web) send a CORS preflight first; the demo data is no secret.
    app = CORSMiddleware(
        sandbox,
        allow_origins=["*"],
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type", "X-Api-Key"],
    )
    logging.getLogger("uvicorn.access").setLevel(logging.INFO)  # show each request, as a dev server does
    run(app, host, port, lambda url: print(sandbox_banner(sandbox, url), flush=True))


def sandbox_banner(sandbox: Sandbox, url: str) -> str:
    """Where the sandbox listens, its users' credentials (demo data, not secrets), and what to try first."""
    store = sandbox.store
    lines = [f"OAS API sandbox at {url} (in memory, demo data, not secret; Ctrl-C stops it)"]
    for user in store.users.values():
        lines.append(
            f"  user {user.username}: API key {user.api_key}  email {user.email}  password {user.password}  "
            f"({len(store.organisations_of(user))} organisations)"
        )
    key = store.users[1].api_key
    lines += [
        f'Try:        curl {url}/helloworld -H "X-Api-Key: {key}"',
        f"MCP on it:  OAS_BASE_URL={url} OAS_API_KEY={key} oas-mcp",
    ]
    return "\n".join(lines)


def run(
    app: ASGIApp, host: str, port: int, announce: Callable[[str], None], trusted_proxies: Sequence[str] = ()
) -> None:
    """Run ``app`` with uvicorn on ``host:port``; ``announce(url)`` once the port is bound. Logs go to stderr.
    X-Forwarded-For and X-Forwarded-Proto are believed from ``trusted_proxies`` only (uvicorn's default, and its
    FORWARDED_ALLOW_IPS variable, would believe them from any local process)."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,  # keep oas-mcp's logging: stderr only, secrets masked
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies),
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Named TCP, so that asyncio sets TCP_NODELAY on each connection accepted: else a response written in two parts
    # waits for the client's delayed ACK of the first (some 40 ms each).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(config.backlog)  # connections queue from now on, before uvicorn accepts them
    except OSError as exc:
        sock.close()
        hint = _BIND_HINTS.get(exc.errno or 0, "check --host and --port")
        raise SettingsError(f"cannot listen on {host} port {port}: {exc.strerror or exc}; {hint}") from None
    where = f"[{host}]" if family == socket.AF_INET6 else host
    announce(f"http://{where}:{sock.getsockname()[1]}")
    sys.stderr.flush()
    uvicorn.Server(config).run(sockets=[sock])
