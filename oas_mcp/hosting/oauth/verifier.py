"""Bearer tokens checked, for the SDK's TokenVerifier (:class:`Verifier`). Before anything else, a token longer than
``MAX_TOKEN`` or not of a bearer token's characters is refused. A JWT access token (RFC 9068) passes when it is
signed with an asymmetric algorithm by one of the issuer's keys, names the issuer in ``iss`` exactly and this server
(``OAS_PUBLIC_URL``) in ``aud``, and is within ``exp`` and ``nbf`` (with ``LEEWAY``). An opaque token is asked about
at the issuer's introspection endpoint (RFC 7662) when this server has a client ID and secret there; the answers are
kept a while, and made-up tokens cost the issuer a few requests at most (see :class:`Introspections`).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from ipaddress import IPv6Network, ip_address
from typing import Any, TypeGuard, TypeVar

import anyio
import jwt
from mcp.server.auth.provider import AccessToken

from oas_mcp.hosting.oauth.budgets import Budget, Budgets
from oas_mcp.hosting.oauth.issuer import FETCH_DEADLINE, Issuer, IssuerError, Refused
from oas_mcp.redact import remember

logger = logging.getLogger("oas_mcp.hosting.oauth")  # the package's name, which log lines show

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Asymmetric signatures only. ``none`` proves nothing, and an HS* signature is made with a shared secret: whoever
verifies one could forge one, and a verifier that took the issuer's public key as that secret would accept tokens
signed by anyone who has read the JWKS."""
LEEWAY = 30
"""Seconds of clock difference with the issuer allowed on ``exp`` and ``nbf``."""
MAX_TOKEN = 8192
"""Longest bearer token looked at, in characters: a longer one is refused before anything else is done with it.
JWTs with many group claims stay under it; it is also the most nginx takes in one header line by default."""
TOKEN_SYNTAX = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
"""What a bearer token is made of (RFC 6750's b64token); a token of other characters is refused likewise."""
INTROSPECTION_BUDGET = 10
"""Introspections in flight at once at most, and in a row from one address (see :func:`sent_from`) whose token is
refused (not active, not for this server, or asking failed) before asking for that address waits for its budget to
refill: made-up opaque tokens cost the issuer this many requests, then one per ``INTROSPECTION_REFILL`` seconds,
and lock no one else out. A token accepted gives its share back; one accepted before is asked about again whatever
the budgets (it is not made up)."""
INTROSPECTION_REFILL = 6.0
INTROSPECTION_BUDGET_ALL = 10 * INTROSPECTION_BUDGET
"""The same budget for all addresses together, refilled ten times as fast: strangers at many addresses cost the
issuer this many requests in a row, then some hundred a minute."""
BUDGET_SPENT = (
    "the issuer was not asked: too many tokens were refused lately (it is asked again within "
    f"{INTROSPECTION_REFILL:.0f} seconds)"
)
ACTIVE_FOR = 300.0
"""Seconds the issuer's answer that a token is active is used before it is asked again (less when the token expires
sooner): how long a token revoked at the issuer may still be accepted."""
INACTIVE_FOR = 30.0
"""Seconds the issuer's answer that a token is not active is used before it is asked again."""
KEPT_ANSWERS = 4096
"""Introspection answers kept at most, of each kind (active, not active): beyond it, the oldest go."""
NOT_ACTIVE = "the issuer says it is not active"


async def verified(issuer: Issuer, token: str, audience: str, required: list[str]) -> dict[str, Any]:
    """A JWT's claims, once its signature (by one of ``issuer``'s keys, with an asymmetric algorithm), ``iss`` (the
    issuer), ``aud`` (``audience``), ``exp`` and ``nbf`` are checked and the ``required`` claims are there.
    Raises Refused."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Refused("it is not a well-formed JWT") from None
    algorithm, key_id = header.get("alg"), header.get("kid")
    if algorithm not in ALGORITHMS:
        raise Refused(f"its alg {algorithm!r} is not an asymmetric signature ({', '.join(ALGORITHMS)})")
    if key_id is not None and not isinstance(key_id, str):
        raise Refused("its kid is not a string")
    key = await issuer.signing_key(key_id, algorithm)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer.url,
            leeway=LEEWAY,
            options={"require": required},
        )
    except jwt.InvalidTokenError as exc:
        raise Refused(_why(exc, issuer.url, audience)) from None
    return claims


def _why(exc: jwt.InvalidTokenError, issuer: str, audience: str) -> str:
    """What pyjwt found wrong with a token, in words."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "it has expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "it is not valid yet (nbf or iat in the future)"
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"its aud does not name {audience}"
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"its iss is not {issuer}"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"it has no {exc.claim} claim"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "its signature does not verify with the issuer's key"
    return f"it is not a valid JWT ({exc.__class__.__name__})"


class Introspections:
    """The issuer's answers about opaque tokens, kept a while by the token's SHA-256 (never the token itself), and
    budgets for asking (see :data:`INTROSPECTION_BUDGET`), one for each address tokens come from and one for all: a
    flood of made-up tokens costs the issuer a few requests, so that this server's client is not throttled or locked
    out there, and locks out no one at another address; known tokens are not asked about again while their answer is
    kept, and real ones asking at once are not held back. Concurrent requests with one token make one
    introspection.

    ``accepted`` is what this server makes of an active token's answer: its claims, or Refused (a token for another
    server gives no share of the budget back). ``clock`` (monotonic seconds) is for tests."""

    def __init__(
        self,
        issuer: Issuer,
        accepted: Callable[[dict[str, Any]], dict[str, Any]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._issuer = issuer
        self._accepted = accepted
        self._clock = clock
        # Until when each answer that a token is active is used, the answer, and whether this server accepted it.
        self._active: OrderedDict[bytes, tuple[float, dict[str, Any], bool]] = OrderedDict()
        self._inactive: OrderedDict[bytes, float] = OrderedDict()  # until when
        self._asking: dict[bytes, anyio.Event] = {}  # set once the issuer has answered about that token
        self._all = Budget(INTROSPECTION_BUDGET_ALL, INTROSPECTION_REFILL / 10, clock)
        self._senders: Budgets[str] = Budgets(INTROSPECTION_BUDGET, INTROSPECTION_REFILL, clock)
        self._at_once = anyio.Semaphore(INTROSPECTION_BUDGET)
        self._in_flight = 0
        self._settled = anyio.Event()  # set (and replaced) whenever an introspection ends

    async def claims(self, token: str) -> dict[str, Any]:
        """The claims of ``token``, active and accepted. Raises Refused when it is not, or when the issuer cannot be
        asked (now)."""
        key = hashlib.sha256(token.encode()).digest()
        while (asking := self._asking.get(key)) is not None:
            await asking.wait()  # the same token, in another request: its answer will do
        known = self._known(key)
        if known is not None:
            return self._accepted(known)
        done = self._asking[key] = anyio.Event()
        try:
            return await self._ask(key, token)
        finally:
            del self._asking[key]
            done.set()

    def _known(self, key: bytes) -> dict[str, Any] | None:
        """The kept answer about the token of hash ``key`` if it is active; None when none is kept. Raises Refused
        when the kept one says it is not active."""
        now = self._clock()
        active = self._active.get(key)
        if active is not None and active[0] > now:
            return active[1]
        inactive = self._inactive.get(key)
        if inactive is not None and inactive > now:
            raise Refused(NOT_ACTIVE)
        return None

    async def _ask(self, key: bytes, token: str) -> dict[str, Any]:
        """The token's claims, the issuer asked within the budgets (and its answer kept); a token accepted before
        spends none, unless asking about it failed since. Raises Refused."""
        before = self._active.pop(key, None)
        budgets = () if before is not None and before[2] else await self._reserve(_sender.get())
        give_back = False
        self._in_flight += 1
        try:
            try:
                async with self._at_once:
                    answer = await self._issuer.introspect(token)
            except Refused:
                give_back = True  # nothing was sent
                raise
            except IssuerError as exc:
                raise Refused(f"introspection failed: {exc}") from None
            if answer.get("active") is not True:
                _keep(self._inactive, key, self._clock() + INACTIVE_FOR)
                raise Refused(NOT_ACTIVE)
            until = self._clock() + _active_for(answer)
            try:
                claims = self._accepted(answer)
            except Refused:
                _keep(self._active, key, (until, answer, False))
                raise
            _keep(self._active, key, (until, answer, True))
            give_back = True
            return claims
        finally:
            self._in_flight -= 1
            for budget in budgets if give_back else ():
                budget.give_back()
            self._settled.set()
            self._settled = anyio.Event()

    async def _reserve(self, sender: str) -> tuple[Budget, ...]:
        """Take a share of ``sender``'s budget and of all's; when either is spent but introspections are in flight
        (which may give theirs back), wait for them a while. The budgets a share was taken of; raises Refused when
        there is none."""
        mine = self._senders[sender]
        with anyio.move_on_after(FETCH_DEADLINE):
            while True:
                if mine.take():
                    if self._all.take():
                        return mine, self._all
                    mine.give_back()
                if not self._in_flight:
                    break
                await self._settled.wait()
        raise Refused(BUDGET_SPENT)


_sender: ContextVar[str] = ContextVar("oas_mcp_token_sender", default="")


@contextmanager
def sent_from(address: str) -> Iterator[None]:
    """Tokens verified in this context come from ``address`` (an IPv6 one counts as its /64: one host has them all;
    an IPv4-mapped one, as a dual-stack socket shows IPv4 clients, as its IPv4 address), whose introspection budget
    they spend."""
    try:
        host = ip_address(address)
    except ValueError:
        sender = address
    else:
        if host.version == 6 and host.ipv4_mapped is not None:
            host = host.ipv4_mapped
        sender = str(IPv6Network((host, 64), strict=False)) if host.version == 6 else str(host)
    token = _sender.set(sender)
    try:
        yield
    finally:
        _sender.reset(token)


_Kept = TypeVar("_Kept")


def _keep(kept: OrderedDict[bytes, _Kept], key: bytes, value: _Kept) -> None:
    """Keep ``value`` as the newest in ``kept``, dropping the oldest beyond :data:`KEPT_ANSWERS`."""
    kept[key] = value
    kept.move_to_end(key)
    while len(kept) > KEPT_ANSWERS:
        kept.popitem(last=False)


def _active_for(answer: dict[str, Any]) -> float:
    """Seconds an answer that a token is active is kept: until the token expires, at most :data:`ACTIVE_FOR`, at
    least :data:`INACTIVE_FOR` (a token that has expired is refused by its ``exp`` all the same)."""
    expires = answer.get("exp")
    left = expires + LEEWAY - time.time() if _number(expires) else ACTIVE_FOR
    return min(ACTIVE_FOR, max(INACTIVE_FOR, left))


def _number(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a finite JSON number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class Verifier:
    """The SDK's TokenVerifier for the issuer's access tokens, for the resource ``audience`` (OAS_PUBLIC_URL).
    ``clock`` (monotonic seconds) is for tests."""

    def __init__(self, issuer: Issuer, audience: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.issuer = issuer
        self.audience = audience
        self._introspections = Introspections(issuer, self._accepted, clock)

    async def verify_token(self, token: str) -> AccessToken | None:
        """The token's principal and scopes, or None (logged with the reason) when it is refused."""
        try:
            if len(token) > MAX_TOKEN:
                raise Refused(f"it is longer than {MAX_TOKEN} characters")
            if not TOKEN_SYNTAX.fullmatch(token):
                raise Refused("it has characters no bearer token has (RFC 6750)")
            claims = await (self._decode(token) if token.count(".") == 2 else self._introspect(token))
            return self._access_token(token, claims)
        except Refused as why:
            logger.info("refused a bearer token: %s", why)
            return None

    async def _decode(self, token: str) -> dict[str, Any]:
        """A JWT access token's claims, once its signature and claims are checked. Raises Refused."""
        return await verified(self.issuer, token, self.audience, ["exp", "iss", "aud", "sub"])

    async def _introspect(self, token: str) -> dict[str, Any]:
        """An opaque token's claims, as the issuer tells them, once checked as a JWT's would be. Raises Refused."""
        claims = await self._introspections.claims(token)
        remember(token, transient=True)  # a real token: masked in logs like any secret, whatever its shape
        return claims

    def _accepted(self, claims: dict[str, Any]) -> dict[str, Any]:
        """An active opaque token's claims as the issuer tells them, checked as a JWT's would be. Raises Refused."""
        audience = claims.get("aud")
        now = time.time()
        if "iss" in claims and claims["iss"] != self.issuer.url:
            raise Refused(f"its iss is not {self.issuer.url}")
        if self.audience not in (audience if isinstance(audience, list) else [audience]):
            raise Refused(f"its aud does not name {self.audience}")
        for name in ("exp", "nbf"):
            if name in claims and not _number(claims[name]):
                raise Refused(f"its {name} is not a number")
        if "exp" in claims and claims["exp"] < now - LEEWAY:
            raise Refused("it has expired")
        if "nbf" in claims and claims["nbf"] > now + LEEWAY:
            raise Refused("it is not valid yet (nbf)")
        if not any(isinstance(claims.get(name), str) for name in ("sub", "client_id")):
            raise Refused("it has neither a sub nor a client_id claim")
        return {"iss": self.issuer.url, **claims}

    def _access_token(self, token: str, claims: dict[str, Any]) -> AccessToken:
        """What the SDK keeps of a token: its principal (client, issuer, subject), scopes and expiry. The expiry
        includes the leeway, as the SDK checks it again without one."""
        client = next((claims[name] for name in ("client_id", "azp") if isinstance(claims.get(name), str)), None)
        # A client_credentials token may have no sub (RFC 7662 makes it optional): its client is its subject here,
        # and its claims keep saying it names no person (see oas_mcp.accounts.mcp.caller).
        subject = claims["sub"] if isinstance(claims.get("sub"), str) else claims["client_id"]
        expires = claims.get("exp")
        return AccessToken(
            token=token,
            client_id=client or subject,
            scopes=scopes_of(claims),
            expires_at=int(expires) + LEEWAY if isinstance(expires, int | float) else None,
            resource=self.audience,
            subject=subject,
            claims=claims,
        )


def scopes_of(claims: dict[str, Any]) -> list[str]:
    """A token's scopes: ``scope`` (RFC 9068, space-separated), and ``scp`` (Entra ID and Okta: a string or a
    list)."""
    found: list[str] = []
    for name in ("scope", "scp"):
        value = claims.get(name)
        words = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
        found += [word for word in words if isinstance(word, str) and word not in found]
    return found
