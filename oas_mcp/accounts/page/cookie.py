"""The link page's cookie: all it remembers of a browser, encrypted and authenticated with the accounts keys.

HttpOnly, SameSite=Lax (and Secure, named with the ``__Host-`` prefix, when the public URL is https). It holds one
stage: ``sign-in`` (a sign-in started: the link, and its PKCE verifier, state and nonce), ``signed-in`` (the
issuer and subject signed in, and the form's CSRF token), or ``refused`` (this browser signed in as someone else
for the link).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from cryptography.fernet import InvalidToken

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet
    from starlette.requests import Request
    from starlette.responses import Response

COOKIE = "oas_mcp_link"
COOKIE_TTL = 15 * 60
"""Seconds the page's cookie lasts: a sign-in started, or a person signed in on the page."""
PURPOSE = "oas-mcp link page"
"""Marks the cookie's contents, so that nothing else these keys encrypt is taken for it."""


class Cookie:
    """The page's cookie: JSON of one ``stage`` (``sign-in``, ``signed-in`` or ``refused``), encrypted and
    authenticated with the accounts ``keys``, refused once older than :data:`COOKIE_TTL`."""

    def __init__(self, keys: MultiFernet, *, secure: bool) -> None:
        self._keys = keys
        self.secure = secure
        self.name = f"__Host-{COOKIE}" if secure else COOKIE

    def read(self, request: Request, stage: str) -> dict[str, str] | None:
        """What the request's cookie holds, when it is this page's, at ``stage``, and recent; else None."""
        sealed = request.cookies.get(self.name, "")
        try:
            value = json.loads(self._keys.decrypt(sealed.encode(), ttl=COOKIE_TTL))
        except (InvalidToken, ValueError):
            return None
        if not isinstance(value, dict) or value.pop("purpose", None) != PURPOSE or value.pop("stage", None) != stage:
            return None
        return {name: item for name, item in value.items() if isinstance(item, str)}

    def set(self, response: Response, stage: str, **values: str) -> None:
        sealed = self._keys.encrypt(json.dumps({"purpose": PURPOSE, "stage": stage, **values}).encode()).decode()
        response.set_cookie(
            self.name, sealed, max_age=COOKIE_TTL, path="/", secure=self.secure, httponly=True, samesite="lax"
        )
