"""Signing in on the link page: the OpenID Connect authorization code flow with PKCE, as a client of the issuer.

The page sends the browser to the issuer's authorization endpoint (PKCE S256, with a state and a nonce kept in the
page's cookie), takes it back at its redirect URI, redeems the code at the token endpoint, and checks the ID token
(signature, issuer, audience, nonce) with :mod:`oas_mcp.hosting.oauth.client`. What the issuer says about a
failure goes to the log, never onto the page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio
from starlette.responses import RedirectResponse

from oas_mcp.accounts import Subject
from oas_mcp.accounts.page.html import HEADERS
from oas_mcp.accounts.page.refusal import PageRefusal
from oas_mcp.accounts.page.texts import (
    ISSUER_DOWN,
    NO_AUTHORIZATION,
    NOT_THIS_SIGN_IN,
    RETRY,
    SIGN_IN_ERROR,
    SIGN_IN_ERRORS,
    SIGN_IN_REFUSED,
    SIGNED_OUT,
    sign_ins_paused,
)
from oas_mcp.hosting.oauth import Budgets, Issuer, IssuerError, OAuthClient, Refused, id_token_claims, redeem
from oas_mcp.settings import SettingsError

if TYPE_CHECKING:
    from starlette.requests import Request

    from oas_mcp.accounts.page.cookie import Cookie

logger = logging.getLogger("oas_mcp.accounts.page")

MAX_SIGN_INS = 10
"""Codes one person's links may have the issuer redeem in a row (each as this server's client, which an issuer may
throttle or lock out: sent back in a loop, made-up codes would be), then one more each ``SIGN_IN_REFILL`` seconds."""
SIGN_IN_REFILL = 60.0


class SignIn:
    """Signing people in at ``issuer`` as its ``client``, the issuer sending them back to ``redirect_uri``; what a
    sign-in started is kept in ``cookie``, at the stage ``sign-in``."""

    def __init__(self, issuer: Issuer, client: OAuthClient, redirect_uri: str, cookie: Cookie) -> None:
        self.issuer = issuer
        self.client = client
        self.redirect_uri = redirect_uri
        self.cookie = cookie
        self._redeemed: Budgets[Subject] = Budgets(MAX_SIGN_INS, SIGN_IN_REFILL, anyio.current_time)

    def start(self, token: str, *, ask_who: bool = False) -> RedirectResponse:
        """Send the browser to the issuer to sign in for the link ``token`` (authorization code, PKCE S256, state
        and nonce); ``ask_who``: asking who signs in, even when someone is signed in there already
        (``prompt=login``). Raises PageRefusal before the issuer has told its endpoints."""
        endpoint = self.issuer.endpoint("authorization_endpoint")
        if endpoint is None:
            raise PageRefusal(503, "Try again soon", NO_AUTHORIZATION)
        code_verifier, state, nonce = (secrets.token_urlsafe(32) for _ in range(3))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": "openid",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                **({"prompt": "login"} if ask_who else {}),
            }
        )
        response = RedirectResponse(f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", 302, headers=HEADERS)
        self.cookie.set(response, "sign-in", link=token, state=state, nonce=nonce, verifier=code_verifier)
        return response

    def returned(self, request: Request) -> dict[str, str]:
        """The issuer sent the browser back: the sign-in this page started (``link``: the token of the link it is
        for). Raises PageRefusal when the sign-in is not one this page started, or the issuer says it did not
        complete."""
        started = self.cookie.read(request, "sign-in")
        if started is None:
            raise PageRefusal(400, "Sign-in expired", SIGNED_OUT)
        query = request.query_params
        if not hmac.compare_digest(query.get("state", "").encode(), started["state"].encode()):
            raise PageRefusal(400, "Sign-in refused", NOT_THIS_SIGN_IN)
        if "error" in query:
            said = SIGN_IN_ERRORS.get(query["error"], SIGN_IN_ERROR)
            raise PageRefusal(400, "Sign-in not completed", f"{said} {RETRY}")
        return started

    async def finish(self, request: Request, started: dict[str, str], owner: Subject) -> Subject:
        """Who signed in, in the sign-in ``started`` (see :meth:`returned`) on a link of ``owner``'s: the subject of
        the ID token the issuer gives for the request's code, checked. Raises PageRefusal when signing in failed, or
        when ``owner``'s links had the issuer redeem :data:`MAX_SIGN_INS` codes lately (then none is)."""
        if not self._redeemed[owner].take():
            raise PageRefusal(429, "Wait a minute", sign_ins_paused(SIGN_IN_REFILL))
        claims = await self._claims(request.query_params.get("code", ""), started)
        return Subject(claims["iss"], claims["sub"])

    async def _claims(self, code: str, started: dict[str, str]) -> dict[str, Any]:
        """The claims of the ID token the issuer gives for ``code``, checked. Raises PageRefusal when signing in
        failed, saying that the link still works (the issuer's own words and URLs are for the log)."""
        try:
            answer = await redeem(self.issuer, code, self.redirect_uri, started["verifier"], self.client)
            id_token = answer.get("id_token")
            if not isinstance(id_token, str):
                raise Refused("the issuer sent no ID token")
            return await id_token_claims(self.issuer, id_token, self.client.client_id, started["nonce"])
        except IssuerError as exc:
            logger.warning("a sign-in on the link page failed: %s", exc)
            raise PageRefusal(503, "Try again soon", ISSUER_DOWN) from None
        except Refused as exc:
            logger.warning("a sign-in on the link page was refused: %s", exc)
            raise PageRefusal(400, "Sign-in failed", SIGN_IN_REFUSED) from None


async def require_endpoints(issuer: Issuer) -> None:
    """Raises SettingsError when the issuer answers, without an authorization or a token endpoint (when it does
    not answer, serving starts anyway: the page waits for it, as tokens do)."""
    try:
        await issuer.discover()
    except IssuerError:
        return
    finally:
        await issuer.aclose()
    missing = [name for name in ("authorization_endpoint", "token_endpoint") if issuer.endpoint(name) is None]
    if missing:
        raise SettingsError(
            f"linked accounts need the OAuth issuer {issuer.url} to sign people in, and its metadata has no "
            f"{' and no '.join(missing)}: use an OpenID Connect provider's issuer URL"
        )
