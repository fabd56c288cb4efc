"""Who may call the HTTP endpoint, and how: the access policy the settings ask for.

Clients present a bearer token: one shared token (OAS_MCP_TOKEN, compared in constant time by
:class:`StaticToken`) or OAuth access tokens from an authorization server (the resource server of
:mod:`oas_mcp.hosting.oauth`). Host and Origin are checked against an allowlist (DNS-rebinding protection): loopback
names on loopback, else the names the settings give. A bind beyond loopback without either refuses to start.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr

from oas_mcp.redact import remember
from oas_mcp.settings import Settings, SettingsError, env_name, is_loopback

if TYPE_CHECKING:
    from oas_mcp.hosting.oauth import ResourceServer

LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
CLIENT_ID = "oas-mcp-client"


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
