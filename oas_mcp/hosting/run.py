"""Running over HTTP: ``oas-mcp --transport http`` (:func:`serve`) and ``oas-mcp sandbox`` (:func:`serve_sandbox`),
each with uvicorn on a port bound before it starts (:func:`run`), and what each says once it listens.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import uvicorn
from starlette.middleware.cors import CORSMiddleware

from oas_mcp import __version__
from oas_mcp.hosting.app import http_app, linked_accounts
from oas_mcp.hosting.policy import Policy
from oas_mcp.sandbox import Sandbox
from oas_mcp.server import build_server
from oas_mcp.settings import SettingsError, is_loopback

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from oas_mcp.client import OASClient
    from oas_mcp.server.server import Server
    from oas_mcp.settings import Settings

logger = logging.getLogger("oas_mcp.hosting.run")

SHUTDOWN_GRACE = 5  # seconds open streams get to finish when the server stops
_BIND_HINTS = {
    errno.EADDRINUSE: "pick another --port, or stop what uses it",
    errno.EADDRNOTAVAIL: "no interface here has that address; check --host",
    errno.EACCES: "ports below 1024 need privileges; pick another --port",
}


def serve(
    settings: Settings,
    connect: Callable[[], OASClient],
    *,
    insecure_no_auth: bool = False,
    instrument: Callable[[Server], None] | None = None,
) -> None:
    """Serve MCP over Streamable HTTP until interrupted; ``instrument`` adds metrics to the server (see
    :mod:`oas_mcp.observability.telemetry`)."""
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


def serve_sandbox(host: str, port: int) -> None:
    """Serve the sandbox API over HTTP (for curl, Postman, and oas-mcp with OAS_BASE_URL) until interrupted."""
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
