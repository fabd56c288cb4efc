"""oas-mcp as an OAuth 2.1 resource server, as the MCP authorization specification defines it: an authorization
server (the issuer, e.g. the organisation's identity provider) gives MCP clients access tokens, and oas-mcp checks
them. It issues none itself.

The issuer's metadata and signing keys are fetched and kept by :mod:`~oas_mcp.hosting.oauth.issuer`; tokens are
checked by :mod:`~oas_mcp.hosting.oauth.verifier` (JWTs with those keys, opaque tokens by introspection). With linked
accounts, oas-mcp is also an OpenID Connect client of the issuer, signing people in on the link page
(:mod:`~oas_mcp.hosting.oauth.client`).

What the SDK does with the verifier's answer (see ``hosting``): 401 with ``WWW-Authenticate: Bearer`` naming the
protected-resource metadata (RFC 9728) when a token is missing or refused, 403 ``insufficient_scope`` when it lacks
a required scope, and each session bound to the (client, issuer, subject) that opened it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp.server.auth.settings import AuthSettings

from oas_mcp.hosting.oauth.budgets import Budgets
from oas_mcp.hosting.oauth.client import id_token_claims, redeem
from oas_mcp.hosting.oauth.issuer import Issuer, IssuerError, OAuthClient, Refused
from oas_mcp.hosting.oauth.verifier import Verifier, sent_from


@dataclass(frozen=True)
class ResourceServer:
    """What serving as a resource server takes: the issuer (whose :meth:`Issuer.run` runs while serving), the
    verifier, and the SDK's auth settings (RFC 9728 metadata, required scopes)."""

    issuer: Issuer
    verifier: Verifier
    auth: AuthSettings

    @classmethod
    def of(
        cls, issuer_url: str, public_url: str, scopes: list[str], client: OAuthClient | None = None
    ) -> ResourceServer:
        issuer = Issuer(issuer_url, client=client)
        auth = AuthSettings.model_validate(
            {
                "issuer_url": issuer_url,  # as given: an issuer is compared exactly, a slash more or less counts
                "resource_server_url": public_url,
                "required_scopes": scopes or None,
                "validate_token_resource": True,
            }
        )
        return cls(issuer, Verifier(issuer, public_url), auth)


__all__ = [
    "Budgets",
    "Issuer",
    "IssuerError",
    "OAuthClient",
    "Refused",
    "ResourceServer",
    "Verifier",
    "id_token_claims",
    "redeem",
    "sent_from",
]
