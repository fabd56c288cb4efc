"""The authorization server (the issuer) as oas-mcp sees it: its metadata, discovered (RFC 8414, then OpenID Connect
discovery), and from it its signing keys (the JWKS), which are kept and fetched again when a token names a key id not
among them (at most once per ``REFETCH_COOLDOWN``), so a key rotation needs no restart; and the one question this
server asks it of a token, introspection (RFC 7662), as its client (:class:`OAuthClient`). What an answer means, and
how often one may be asked, is the verifier's. Every request to the issuer is bounded: in time (``FETCH_TIMEOUT`` per
step, ``FETCH_DEADLINE`` in all) and in size (``MAX_DOCUMENT``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
import jwt
from pydantic import SecretStr

from oas_mcp import tls

logger = logging.getLogger("oas_mcp.hosting.oauth")  # the package's name, which log lines show

KEY_TYPES = ("RSA", "EC", "OKP")
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
class OAuthClient:
    """This server as a client of the issuer: its client ID and secret (client_secret_basic), for RFC 7662
    introspection and for signing people in on the link page (see ``oas_mcp.accounts.page``)."""

    client_id: str
    secret: SecretStr


class Issuer:
    """The authorization server: its metadata and signing keys, fetched over HTTP and kept, and introspection asked.

    ``transport``, ``clock`` and ``deadline`` are for tests (an in-process issuer, a clock they move, a shorter
    :data:`FETCH_DEADLINE`).
    """

    def __init__(
        self,
        url: str,
        *,
        client: OAuthClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        deadline: float = FETCH_DEADLINE,
    ) -> None:
        self.url = url
        self.client = client
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
                metadata = await self.fetch(url)
            except IssuerError as exc:
                failures.append(str(exc))
                continue
            if metadata.get("issuer") != self.url:
                raise IssuerError(
                    f"the metadata at {url} is for issuer {metadata.get('issuer')!r}, not {self.url!r}: "
                    "OAS_OAUTH_ISSUER must be the issuer exactly as it names itself"
                )
            if not isinstance(metadata.get("jwks_uri"), str) and self.client is None:
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
        """What the issuer says of an opaque ``token`` (RFC 7662), active or not: one request each time (the
        verifier's :class:`~oas_mcp.hosting.oauth.verifier.Introspections` keeps the answers). Raises Refused when it
        cannot be asked (nothing is sent), IssuerError when asking failed."""
        endpoint = (self.metadata or {}).get("introspection_endpoint")
        if self.client is None:
            raise Refused("it is not a JWT, and introspection needs OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET")
        if not isinstance(endpoint, str):
            raise Refused(f"it is not a JWT, and the issuer {self.url} publishes no introspection_endpoint")
        auth = httpx2.BasicAuth(self.client.client_id, self.client.secret.get_secret_value())
        form = {"token": token, "token_type_hint": "access_token"}
        return await self.fetch(endpoint, form=form, auth=auth)

    def endpoint(self, name: str) -> str | None:
        """The URL of the issuer's ``name`` endpoint (``authorization_endpoint``, ``token_endpoint``), as its
        metadata gives it; None before it is discovered, or when it has none."""
        url = (self.metadata or {}).get(name)
        return url if isinstance(url, str) else None

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
        document = await self.fetch(url)
        listed = document.get("keys")
        if not isinstance(listed, list):
            raise IssuerError(f"{url} is not a JWKS (no keys list)")
        usable = [key for key in listed if isinstance(key, dict) and _signs(key)]
        self._keys = {str(key.get("kid", "")): key for key in usable}
        self._parsed = {}
        self._stale_at = self._clock() + KEYS_MAX_AGE

    async def fetch(
        self, url: str, *, form: dict[str, str] | None = None, auth: httpx2.BasicAuth | None = None
    ) -> dict[str, Any]:
        """The JSON object at ``url``, one of the issuer's (POSTed ``form`` when given), read up to
        :data:`MAX_DOCUMENT` bytes and within the deadline. Raises IssuerError."""
        if self._http is None:
            self._http = httpx2.AsyncClient(
                transport=self._transport, timeout=FETCH_TIMEOUT, follow_redirects=False, verify=tls.context()
            )
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
