"""A small OAuth authorization server for the tests: it publishes its metadata and signing keys, introspects opaque
tokens, and the tests sign its access tokens (or forge them) with keys made here by cryptography."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import anyio
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from support import serving_on

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
RESOURCE = "http://127.0.0.1:8000/mcp"
INTROSPECTOR = ("oas-mcp", "introspection-secret-0123456789")
"""oas-mcp's client at the issuer: its client ID and secret (for introspection, and the link page's sign-in)."""


_RSA_KEYS: list[rsa.RSAPrivateKey] = []
"""The RSA keys made in this process: making one takes 50 ms, and the tests ask for about a hundred."""
_given: list[rsa.RSAPrivateKey] = []
"""The keys given since the test began (see :func:`rewind_rsa_keys`)."""
_issuers: weakref.WeakValueDictionary[int, FakeIssuer] = weakref.WeakValueDictionary()  # by id()


def rsa_key() -> rsa.RSAPrivateKey:
    """A 2048-bit RSA key unlike every other key given in this test and every key of an issuer still in use (one
    a module's fixture made, say): made before if there is such a key, else now."""
    held = {id(key) for issuer in _issuers.values() for key in issuer.keys.values()} | {id(key) for key in _given}
    key = next((key for key in _RSA_KEYS if id(key) not in held), None)
    if key is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _RSA_KEYS.append(key)
    _given.append(key)
    return key


def rewind_rsa_keys() -> None:
    """A new test: the keys given in the last one may be given again, unless an issuer still in use holds them."""
    _given.clear()


def public_jwk(kid: str, key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None = None) -> str:
    """A JWT made by hand: with ``secret``, an HS256 signature keyed by it; without, none at all (``alg: none``).
    pyjwt refuses to make either with a public key, which is the point: an attacker does it by hand."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = b"" if secret is None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


@dataclass
class FakeIssuer:
    """The issuer at ``url``: its keys by key id (the first signs), and what it has been asked."""

    url: str
    keys: dict[str, PrivateKey] = field(default_factory=lambda: {"key-1": rsa_key()})
    metadata_at: str = "openid"  # "openid", "rfc8414" or "both": which discovery document it publishes
    opaque: dict[str, dict[str, Any]] = field(default_factory=dict)  # opaque token -> introspection answer
    jwks_fetches: int = 0
    introspections: int = 0
    introspecting: int = 0  # introspection requests being answered now
    most_introspecting: int = 0  # the most there were at once
    introspection_delay: float = 0.0  # seconds each takes to answer
    signs_in: bool = True  # whether it publishes authorization and token endpoints (OpenID Connect sign-in)
    browser_user: str = "alice"  # who is signed in at the issuer in "the browser": its authorization endpoint's user
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # authorization code -> what it was issued for
    down: bool = False  # whether its token endpoint answers 503, as an issuer down for a moment
    redemptions: int = 0  # requests its token endpoint got

    def __post_init__(self) -> None:
        _issuers[id(self)] = self  # its keys are given to no other issuer while it is in use

    def authorize(self, query: dict[str, str]) -> Response:
        """The authorization endpoint: ``browser_user`` signs in at once; back to the client with a code."""
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {**query, "sub": self.browser_user}
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query.get('state', '')})}"
        return Response(status_code=302, headers={"Location": target})

    def redeem(self, form: dict[str, str], authorization: str | None) -> Response:
        """The token endpoint: an authorization code (once), for the client it was issued to, with its PKCE
        verifier; answers an ID token for its user."""
        self.redemptions += 1
        if self.down:
            return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
        expected = "Basic " + base64.b64encode(":".join(INTROSPECTOR).encode()).decode()
        if authorization != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        issued = self.codes.pop(form.get("code", ""), None)
        challenge = _b64(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
        if (
            issued is None
            or issued["client_id"] != INTROSPECTOR[0]
            or issued["redirect_uri"] != form.get("redirect_uri")
            or issued["code_challenge"] != challenge
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse({"access_token": "unused", "token_type": "Bearer", "id_token": self.id_token(issued)})

    def id_token(self, issued: dict[str, str], **changes: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": INTROSPECTOR[0],
            "sub": issued["sub"],
            "nonce": issued.get("nonce"),
            "iat": now,
            "exp": now + 300,
            **changes,
        }
        kid = next(iter(self.keys))
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def claims(self, **changes: Any) -> dict[str, Any]:
        """An access token's claims for ``RESOURCE``, for alice with scope oas, valid for 5 minutes."""
        now = int(time.time())
        base = {
            "iss": self.url,
            "aud": RESOURCE,
            "sub": "alice",
            "client_id": "claude",
            "scope": "oas",
            "iat": now,
            "exp": now + 300,
        }
        return {name: value for name, value in {**base, **changes}.items() if value is not None}

    def token(
        self, *, kid: str | None = None, key: PrivateKey | None = None, alg: str = "RS256", **changes: Any
    ) -> str:
        """An access token signed by the issuer's first key (or ``key``, as key id ``kid``)."""
        kid = kid or next(iter(self.keys))
        key = key or self.keys[kid]
        return jwt.encode(self.claims(**changes), key, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})

    def rotate(self) -> str:
        """A new signing key replaces the old ones; its key id."""
        kid = f"key-{secrets.token_hex(4)}"
        self.keys = {kid: rsa_key()}
        return kid

    def opaque_token(self, **answer: Any) -> str:
        token = secrets.token_urlsafe(24)
        self.opaque[token] = {"active": True, **self.claims(**answer)}
        return token

    @property
    def app(self) -> Starlette:
        async def metadata(request: Request) -> Response:
            document = {
                "issuer": self.url,
                "jwks_uri": f"{self.url}/jwks",
                "introspection_endpoint": f"{self.url}/introspect",
                "token_endpoint": f"{self.url}/token",
            }
            if self.signs_in:
                document["authorization_endpoint"] = f"{self.url}/authorize"
            else:
                del document["token_endpoint"]
            wanted = "rfc8414" if "oauth-authorization-server" in request.url.path else "openid"
            if self.metadata_at not in (wanted, "both"):
                return JSONResponse({"error": "not found"}, status_code=404)
            return JSONResponse(document)

        async def jwks(request: Request) -> Response:
            self.jwks_fetches += 1
            return JSONResponse({"keys": [public_jwk(kid, key) for kid, key in self.keys.items()]})

        async def introspect(request: Request) -> Response:
            self.introspections += 1
            self.introspecting += 1
            self.most_introspecting = max(self.most_introspecting, self.introspecting)
            try:
                await anyio.sleep(self.introspection_delay)
            finally:
                self.introspecting -= 1
            expected = "Basic " + base64.b64encode(":".join(INTROSPECTOR).encode()).decode()
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            token = (await request.form()).get("token")
            answer = self.opaque.get(str(token), {"active": False})  # as json.dumps writes it: NaN and Infinity too
            return Response(json.dumps(answer), media_type="application/json")

        async def authorize(request: Request) -> Response:
            return self.authorize(dict(request.query_params))

        async def token(request: Request) -> Response:
            form = {name: str(value) for name, value in (await request.form()).items()}
            return self.redeem(form, request.headers.get("authorization"))

        path = self.url.split("/", 3)[3] if self.url.count("/") > 2 else ""
        suffix = f"/{path}" if path else ""
        return Starlette(
            routes=[
                Route(f"/.well-known/oauth-authorization-server{suffix}", metadata),
                Route(f"{suffix}/.well-known/openid-configuration", metadata),
                Route(f"{suffix}/jwks", jwks),
                Route(f"{suffix}/introspect", introspect, methods=["POST"]),
                Route(f"{suffix}/authorize", authorize),
                Route(f"{suffix}/token", token, methods=["POST"]),
            ]
        )


@contextmanager
def serving(issuer: FakeIssuer) -> Iterator[None]:
    """``issuer`` over HTTP on the loopback port its URL names, in a thread, until the block ends."""
    with serving_on(issuer.app, int(issuer.url.rsplit(":", 1)[1].split("/")[0])):
        yield
