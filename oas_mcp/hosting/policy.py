"""Who may call the HTTP endpoint, and how: the access policy the settings ask for.

Clients present a bearer token: one shared token (OAS_MCP_TOKEN, compared in constant time by
:class:`StaticToken`) or OAuth access tokens from an authorization server (the resource server of
:mod:`oas_mcp.hosting.oauth`). Host and Origin are checked against an allowlist (DNS-rebinding protection): loopback
names on loopback, else the names the settings give. A bind beyond loopback without either refuses to start (the
rules of what may go with what are :func:`oas_mcp.settings.check_combination`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr

from oas_mcp.hosting.oauth import OAuthClient, ResourceServer
from oas_mcp.redact import remember
from oas_mcp.settings import Settings, check_combination, is_loopback

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
        """The policy the settings ask for; raises SettingsError when they are unsafe or contradictory (see
        :func:`~oas_mcp.settings.check_combination`)."""
        check_combination(settings, "serve", insecure_no_auth=insecure_no_auth)
        token = client_token(settings)
        oauth = _resource_server(settings)
        names = [*settings.allowed_hosts, *([public_host(settings.public_url)] if settings.public_url else [])]
        hosts = [pattern for name in names for pattern in _host_patterns(name)]
        origins = list(settings.allowed_origins)
        loopback = is_loopback(settings.host)
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


def _resource_server(settings: Settings) -> ResourceServer | None:
    """The OAuth resource server the settings ask for (None: OAuth is off), once :meth:`Policy.of` has checked them
    (with an issuer, they name the public URL)."""
    if settings.oauth_issuer is None or settings.public_url is None:
        return None

    client_id, secret = settings.oauth_client_id, settings.oauth_client_secret
    client = OAuthClient(client_id, secret) if client_id is not None and secret is not None else None
    if secret is not None:
        remember(secret.get_secret_value())
    return ResourceServer.of(settings.oauth_issuer, settings.public_url, settings.oauth_scopes, client)


def public_host(url: str) -> str:
    """The Host header clients send to reach ``url``: its host name, and its port when it names one."""
    return urlsplit(url).netloc.lower()


def client_token(settings: Settings) -> SecretStr | None:
    """The bearer token clients must present (OAS_MCP_TOKEN, or the contents of OAS_MCP_TOKEN_FILE), now masked."""
    token = settings.mcp_token
    if token is not None:
        remember(token.get_secret_value())
    return token
