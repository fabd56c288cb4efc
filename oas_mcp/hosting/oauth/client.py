"""oas-mcp as an OpenID Connect client of the issuer, for the link page's sign-in (see
:mod:`oas_mcp.accounts.page.signin`): an authorization code redeemed (with PKCE) and the ID token it gives checked.
"""

from __future__ import annotations

import hmac
from typing import Any

import httpx2

from oas_mcp.hosting.oauth.issuer import Issuer, IssuerError, OAuthClient, Refused
from oas_mcp.hosting.oauth.verifier import verified


async def redeem(
    issuer: Issuer, code: str, redirect_uri: str, code_verifier: str, client: OAuthClient
) -> dict[str, Any]:
    """``issuer``'s answer to an authorization code (RFC 6749 4.1.3, with PKCE's ``code_verifier``), redeemed
    as ``client``: tokens, an OpenID Connect ``id_token`` among them. Raises IssuerError."""
    endpoint = issuer.endpoint("token_endpoint")
    if endpoint is None:
        raise IssuerError(f"the issuer {issuer.url} publishes no token_endpoint")
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    return await issuer.fetch(
        endpoint, form=form, auth=httpx2.BasicAuth(client.client_id, client.secret.get_secret_value())
    )


async def id_token_claims(issuer: Issuer, token: str, client_id: str, nonce: str) -> dict[str, Any]:
    """An OpenID Connect ID token's claims, once its signature (by ``issuer``'s keys), ``iss``, ``aud`` (this
    client), ``exp`` and ``nonce`` are checked. Raises Refused."""
    try:
        claims = await verified(issuer, token, client_id, ["exp", "iat", "iss", "aud", "sub"])
    except Refused as why:
        raise Refused(f"the ID token: {why}") from None
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise Refused("the ID token's nonce is not this sign-in's")
    return claims
