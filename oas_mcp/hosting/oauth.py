"""oas-mcp as an OAuth 2.1 resource server, as the MCP authorization specification defines it: an authorization
server (the issuer, e.g. the organisation's identity provider) gives MCP clients access tokens, and oas-mcp checks
them. It issues none itself.

The issuer's metadata is discovered (RFC 8414, then OpenID Connect discovery), and from it its signing keys (the
JWKS), which are kept and fetched again when a token names a key id not among them (at most once per
``REFETCH_COOLDOWN``), so a key rotation needs no restart. A JWT access token (RFC 9068) passes when it is signed
with an asymmetric algorithm by one of those keys, names the issuer in ``iss`` exactly and this server
(``OAS_PUBLIC_URL``) in ``aud``, and is within ``exp`` and ``nbf`` (with ``LEEWAY``). An opaque token is asked
about at the issuer's introspection endpoint (RFC 7662) when this server has a client ID and secret there; the
answers are kept a while, and made-up tokens cost the issuer a few requests at most (see :class:`Introspections`).
Before any of that, a token longer than ``MAX_TOKEN`` or not of a bearer token's characters is refused.

What the SDK does with the verifier's answer (see ``hosting``): 401 with ``WWW-Authenticate: Bearer`` naming the
protected-resource metadata (RFC 9728) when a token is missing or refused, 403 ``insufficient_scope`` when it lacks
a required scope, and each session bound to the (client, issuer, subject) that opened it.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from ipaddress import IPv6Network, ip_address
from typing import TYPE_CHECKING, Any, Generic, TypeGuard, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx2
import jwt
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from pydantic import SecretStr

from oas_mcp.redact import remember

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("oas_mcp.hosting.oauth")

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
"""Asymmetric signatures only. ``none`` proves nothing, and an HS* signature is made with a shared secret: whoever
verifies one could forge one, and a verifier that took the issuer's public key as that secret would accept tokens
signed by anyone who has read the JWKS."""
KEY_TYPES = ("RSA", "EC", "OKP")
LEEWAY = 30
"""Seconds of clock difference with the issuer allowed on ``exp`` and ``nbf``."""
REFETCH_COOLDOWN = 30.0
"""Seconds after a fetch of the keys that a token with an unknown key id causes (or after a failed fetch) before
another: a flood of made-up key ids costs the issuer one request per this many seconds."""
KEYS_MAX_AGE = 3600.0
"""Seconds the keys are trusted before they are fetched again (so a key the issuer withdrew stops working)."""
RETRY_FIRST, RETRY_MOST = 1.0, 60.0
"""Seconds before trying an unreachable issuer again: doubling from the first to the most."""
FETCH_TIMEOUT = 10.0
"""Seconds each step of a request to the issuer (connecting, each read) may take."""
FETCH_DEADLINE = 15.0
"""Seconds a request to the issuer may take in all: an issuer that trickles its answer is given up then."""
MAX_DOCUMENT = 1024 * 1024
"""Largest metadata, JWKS or introspection answer read, in bytes: reading stops there."""
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
KEPT_BUDGETS = 4096
"""Budgets of addresses (or of people, see :class:`Budgets`) kept at most, the most recently used (one that is
dropped starts afresh)."""
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


class IssuerError(Exception):
    """The issuer's metadata, keys or introspection could not be had; the message is one line, without secrets."""


class Refused(Exception):
    """A token is not accepted; the message says why, without the token."""


def discovery_urls(issuer: str) -> tuple[str, str]:
    """Where the issuer's metadata is: RFC 8414's well-known URL (inserted before the issuer's path), then OpenID
    Connect discovery's (appended to it)."""
    parts = urlsplit(issuer)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    rfc8414 = f"{origin}/.well-known/oauth-authorization-server{path}"
    return rfc8414, f"{origin}{path}/.well-known/openid-configuration"


@dataclass(frozen=True)
class Introspection:
    """This server's client at the issuer (client_secret_basic): for RFC 7662 introspection, and for signing people
    in on the link page (see ``oas_mcp.accounts.page``)."""

    client_id: str
    secret: SecretStr


class Issuer:
    """The authorization server: its metadata and signing keys, fetched over HTTP and kept.

    ``transport``, ``clock`` and ``deadline`` are for tests (an in-process issuer, a clock they move, a shorter
    :data:`FETCH_DEADLINE`).
    """

    def __init__(
        self,
        url: str,
        *,
        introspection: Introspection | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        deadline: float = FETCH_DEADLINE,
    ) -> None:
        self.url = url
        self.introspection = introspection
        self.metadata: dict[str, Any] | None = None
        self._transport = transport
        self._clock = clock
        self._http: httpx2.AsyncClient | None = None
        self._keys: dict[str, dict[str, Any]] = {}  # by key id ("" for a key without one)
        self._parsed: dict[tuple[str, str], jwt.PyJWK] = {}  # by key id and algorithm
        self._stale_at = 0.0  # when the keys are to be fetched again
        self._refetch_after = 0.0  # when an unknown key id may next cause a fetch
        self._lock = anyio.Lock()
        self._deadline = deadline
        self._background: anyio.abc.TaskGroup | None = None  # while :meth:`run` runs: where stale keys are renewed

    async def discover(self) -> None:
        """Read the issuer's metadata, then its keys. Raises IssuerError."""
        failures = []
        for url in discovery_urls(self.url):
            try:
                metadata = await self._get(url)
            except IssuerError as exc:
                failures.append(str(exc))
                continue
            if metadata.get("issuer") != self.url:
                raise IssuerError(
                    f"the metadata at {url} is for issuer {metadata.get('issuer')!r}, not {self.url!r}: "
                    "OAS_OAUTH_ISSUER must be the issuer exactly as it names itself"
                )
            if not isinstance(metadata.get("jwks_uri"), str) and self.introspection is None:
                raise IssuerError(f"the metadata at {url} has no jwks_uri, so no token could be checked")
            self.metadata = metadata
            if isinstance(metadata.get("jwks_uri"), str):
                await self._fetch_keys()
            return
        raise IssuerError("; ".join(failures))

    async def keep_trying(self) -> None:
        """Discover the issuer, trying again with growing waits until it answers. Says so in one line when it
        cannot at first, and in one more when it then can; meanwhile every token is refused."""
        wait, failed = RETRY_FIRST, False
        while True:
            try:
                await self.discover()
            except IssuerError as exc:
                if not failed:
                    logger.warning(
                        "cannot use the OAuth issuer %s (%s); serving anyway, refusing tokens until it answers, "
                        "and retrying",
                        self.url,
                        exc,
                    )
                logger.debug("OAuth issuer %s: %s; next try in %.0f s", self.url, exc, wait)
                failed = True
                await anyio.sleep(wait)
                wait = min(wait * 2, RETRY_MOST)
                continue
            logger.info(
                "OAuth issuer %s%s: %d signing keys", self.url, " reached at last" if failed else "", len(self._keys)
            )
            return

    async def run(self) -> None:
        """Keep trying (see :meth:`keep_trying`), then hold the HTTP client open until cancelled: for the life of
        the server."""
        try:
            async with anyio.create_task_group() as self._background:
                await self.keep_trying()
                await anyio.sleep_forever()
        finally:
            self._background = None
            with anyio.CancelScope(shield=True):
                await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (made again if the issuer is asked anything more)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def signing_key(self, key_id: str | None, algorithm: str) -> jwt.PyJWK:
        """The issuer's key with ``key_id`` (or its only key, when the token names none) for ``algorithm``;
        the keys are fetched again when stale or when none has that id (at most once per cool-down). While
        :meth:`run` runs, a known key is used at once and stale keys are renewed in the background, so a slow
        issuer holds up only the tokens whose keys it has yet to give. Raises Refused."""
        if self.metadata is None:
            raise Refused(f"the issuer {self.url} has not been reached yet")
        if not isinstance(self.metadata.get("jwks_uri"), str):
            raise Refused(f"it is a JWT, and the issuer {self.url} publishes no keys (jwks_uri)")
        if self._stale():
            if self._background is None or self._find(key_id) is None:
                await self._refresh(self._stale)
            else:  # renewed in the background, once: meanwhile the keys count as fresh for a cool-down
                self._stale_at = self._clock() + REFETCH_COOLDOWN
                self._background.start_soon(self._refresh, lambda: True)
        key = self._find(key_id)
        if key is None and self._clock() >= self._refetch_after:
            self._refetch_after = self._clock() + REFETCH_COOLDOWN
            await self._refresh(lambda: self._find(key_id) is None)
            key = self._find(key_id)
        if key is None:
            raise Refused(f"no signing key of the issuer has the token's key id {key_id!r}")
        return self._parse(key_id or "", key, algorithm)

    async def introspect(self, token: str) -> dict[str, Any]:
        """What the issuer says of an opaque ``token`` (RFC 7662), active or not: one request each time (see
        :class:`Introspections`). Raises Refused when it cannot be asked (nothing is sent), IssuerError when asking
        failed."""
        endpoint = (self.metadata or {}).get("introspection_endpoint")
        if self.introspection is None:
            raise Refused("it is not a JWT, and introspection needs OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET")
        if not isinstance(endpoint, str):
            raise Refused(f"it is not a JWT, and the issuer {self.url} publishes no introspection_endpoint")
        auth = httpx2.BasicAuth(self.introspection.client_id, self.introspection.secret.get_secret_value())
        form = {"token": token, "token_type_hint": "access_token"}
        return await self._get(endpoint, form=form, auth=auth)

    def endpoint(self, name: str) -> str | None:
        """The URL of the issuer's ``name`` endpoint (``authorization_endpoint``, ``token_endpoint``), as its
        metadata gives it; None before it is discovered, or when it has none."""
        url = (self.metadata or {}).get(name)
        return url if isinstance(url, str) else None

    async def redeem(self, code: str, redirect_uri: str, verifier: str, client: Introspection) -> dict[str, Any]:
        """The issuer's answer to an authorization code (RFC 6749 4.1.3, with PKCE's ``code_verifier``), redeemed
        as ``client``: tokens, an OpenID Connect ``id_token`` among them. Raises IssuerError."""
        endpoint = self.endpoint("token_endpoint")
        if endpoint is None:
            raise IssuerError(f"the issuer {self.url} publishes no token_endpoint")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        return await self._get(
            endpoint, form=form, auth=httpx2.BasicAuth(client.client_id, client.secret.get_secret_value())
        )

    async def id_token_claims(self, token: str, client_id: str, nonce: str) -> dict[str, Any]:
        """An OpenID Connect ID token's claims, once its signature (by the issuer's keys), ``iss``, ``aud`` (this
        client), ``exp`` and ``nonce`` are checked. Raises Refused."""
        try:
            claims = await self.verified(token, client_id, ["exp", "iat", "iss", "aud", "sub"])
        except Refused as why:
            raise Refused(f"the ID token: {why}") from None
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
            raise Refused("the ID token's nonce is not this sign-in's")
        return claims

    async def verified(self, token: str, audience: str, required: list[str]) -> dict[str, Any]:
        """A JWT's claims, once its signature (by one of these keys, with an asymmetric algorithm), ``iss`` (this
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
        key = await self.signing_key(key_id, algorithm)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=audience,
                issuer=self.url,
                leeway=LEEWAY,
                options={"require": required},
            )
        except jwt.InvalidTokenError as exc:
            raise Refused(_why(exc, self.url, audience)) from None
        return claims

    def _stale(self) -> bool:
        return self._clock() >= self._stale_at

    def _find(self, key_id: str | None) -> dict[str, Any] | None:
        if key_id is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(key_id)

    def _parse(self, key_id: str, key: dict[str, Any], algorithm: str) -> jwt.PyJWK:
        """``key`` as pyjwt's for ``algorithm``; raises Refused when they do not fit (an RSA key for ES256, a key
        that declares another ``alg``)."""
        cached = self._parsed.get((key_id, algorithm))
        if cached is not None:
            return cached
        if key.get("alg", algorithm) != algorithm:
            raise Refused(f"the token's alg {algorithm} is not its key's ({key['alg']})")
        try:
            parsed = jwt.PyJWK(key, algorithm)
        except (jwt.PyJWKError, jwt.InvalidKeyError):
            raise Refused(f"the token's alg {algorithm} does not fit its key (kty {key.get('kty')})") from None
        self._parsed[(key_id, algorithm)] = parsed
        return parsed

    async def _refresh(self, still_needed: Callable[[], bool]) -> None:
        """Fetch the keys unless another task did meanwhile; on failure keep the ones there are (and log it)."""
        async with self._lock:
            if not still_needed():
                return
            try:
                await self._fetch_keys()
            except IssuerError as exc:
                self._stale_at = self._clock() + REFETCH_COOLDOWN
                known = len(self._keys)
                logger.warning("cannot fetch the OAuth issuer's keys again (%s); keeping the %d known", exc, known)

    async def _fetch_keys(self) -> None:
        """Raises IssuerError."""
        url = (self.metadata or {})["jwks_uri"]
        document = await self._get(url)
        listed = document.get("keys")
        if not isinstance(listed, list):
            raise IssuerError(f"{url} is not a JWKS (no keys list)")
        usable = [key for key in listed if isinstance(key, dict) and _signs(key)]
        self._keys = {str(key.get("kid", "")): key for key in usable}
        self._parsed = {}
        self._stale_at = self._clock() + KEYS_MAX_AGE

    async def _get(
        self, url: str, *, form: dict[str, str] | None = None, auth: httpx2.BasicAuth | None = None
    ) -> dict[str, Any]:
        """The JSON object at ``url`` (POSTed ``form`` when given), read up to :data:`MAX_DOCUMENT` bytes and
        within the deadline. Raises IssuerError."""
        if self._http is None:
            self._http = httpx2.AsyncClient(transport=self._transport, timeout=FETCH_TIMEOUT, follow_redirects=False)
        method, sent = "GET" if form is None else "POST", auth or httpx2.USE_CLIENT_DEFAULT
        body = bytearray()
        with anyio.move_on_after(self._deadline) as waited:
            try:
                async with self._http.stream(
                    method, url, data=form, auth=sent, headers={"Accept": "application/json"}
                ) as response:
                    if response.status_code != 200:
                        raise IssuerError(f"{url} answered HTTP {response.status_code}")
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > MAX_DOCUMENT:
                            raise IssuerError(f"{url} answered more than {MAX_DOCUMENT} bytes")
            except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
                raise IssuerError(f"cannot reach {url}: {exc.__class__.__name__}") from None
        if waited.cancelled_caught:
            raise IssuerError(f"{url} did not answer in full within {self._deadline:g} s")
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python goes
            document = None
        if not isinstance(document, dict):
            raise IssuerError(f"{url} answered no JSON object")
        return document


def _signs(key: dict[str, Any]) -> bool:
    """Whether a JWKS entry is a public key for signatures."""
    return key.get("kty") in KEY_TYPES and key.get("use", "sig") == "sig" and "d" not in key


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
        mine = self._senders.of(sender)
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


class Budget:
    """A budget of requests: at most ``most`` shares, one more each ``refill`` seconds of ``clock`` (monotonic)."""

    def __init__(self, most: int, refill: float, clock: Callable[[], float]) -> None:
        self.most = most
        self.refill = refill
        self._clock = clock
        self.left = float(most)
        self.at = clock()

    def take(self) -> bool:
        """Take a share; False when there is none."""
        now = self._clock()
        self.left, self.at = min(self.most, self.left + (now - self.at) / self.refill), now
        if self.left < 1:
            return False
        self.left -= 1
        return True

    def give_back(self) -> None:
        self.left = min(self.most, self.left + 1)


_Key = TypeVar("_Key")


class Budgets(Generic[_Key]):
    """A :class:`Budget` for each key (an address, a person), made when first asked for; the most recently used
    :data:`KEPT_BUDGETS` are kept."""

    def __init__(self, most: int, refill: float, clock: Callable[[], float]) -> None:
        self._made = functools.partial(Budget, most, refill, clock)
        self._kept: OrderedDict[_Key, Budget] = OrderedDict()  # least recently used first

    def of(self, key: _Key) -> Budget:
        budget = self._kept.pop(key, None) or self._made()
        self._kept[key] = budget
        while len(self._kept) > KEPT_BUDGETS:
            self._kept.popitem(last=False)
        return budget


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


class SentFrom:
    """ASGI wrapper: each HTTP request's tokens come from its client's address (as uvicorn has it: from
    X-Forwarded-For when the peer is among OAS_TRUSTED_PROXIES), for the introspection budgets (see
    :func:`sent_from`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") if scope["type"] == "http" else None
        with sent_from(str(client[0]) if client else ""):
            await self.app(scope, receive, send)


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
        return await self.issuer.verified(token, self.audience, ["exp", "iss", "aud", "sub"])

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


@dataclass(frozen=True)
class ResourceServer:
    """What serving as a resource server takes: the issuer (whose :meth:`Issuer.run` runs while serving), the
    verifier, and the SDK's auth settings (RFC 9728 metadata, required scopes)."""

    issuer: Issuer
    verifier: Verifier
    auth: AuthSettings

    @classmethod
    def of(
        cls, issuer_url: str, public_url: str, scopes: list[str], introspection: Introspection | None = None
    ) -> ResourceServer:
        issuer = Issuer(issuer_url, introspection=introspection)
        auth = AuthSettings.model_validate(
            {
                "issuer_url": issuer_url,  # as given: an issuer is compared exactly, a slash more or less counts
                "resource_server_url": public_url,
                "required_scopes": scopes or None,
                "validate_token_resource": True,
            }
        )
        return cls(issuer, Verifier(issuer, public_url), auth)


def scopes_of(claims: dict[str, Any]) -> list[str]:
    """A token's scopes: ``scope`` (RFC 9068, space-separated), and ``scp`` (Entra ID and Okta: a string or a
    list)."""
    found: list[str] = []
    for name in ("scope", "scp"):
        value = claims.get(name)
        words = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
        found += [word for word in words if isinstance(word, str) and word not in found]
    return found


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
