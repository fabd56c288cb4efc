"""OASClient: the OAS API from async Python, with auth, typed errors and pagination handled."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx2
from pydantic import SecretStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from oas_mcp import DEFAULT_BASE_URL, DEFAULT_MAX_RESPONSE_BYTES
from oas_mcp.client._auth import Credentials, Token, headers_for
from oas_mcp.client._connection import Connection
from oas_mcp.client._errors import (
    APIConnectionError,
    AuthenticationError,
    Credential,
    OASError,
    OutcomeUnknownError,
    PermissionDeniedError,
    ServerError,
    UnexpectedResponseError,
)
from oas_mcp.client._models import (
    CreatedOrganisation,
    NewOrganisation,
    Organisation,
    OrganisationList,
    User,
)
from oas_mcp.client._pagination import Pager
from oas_mcp.client._responses import (
    describe_body,
    detail_of,
    read_json,
    request_line,
    status_error,
    unexpected_shape,
)
from oas_mcp.client._retry import RetryPolicy, budget
from oas_mcp.redact import masking
from oas_mcp.text import clean

logger = logging.getLogger("oas_mcp.client")
T = TypeVar("T")

HELLO = "/helloworld"
LOGIN = "/api/auth/login/"
ORGANISATIONS = "/api/organisations/"
DEFAULT_PAGE_CONCURRENCY = 8

Progress = Callable[[int, int | None, int], Awaitable[None]]
"""Called after each page of a list: pages read, pages in all (None when unknown), items kept so far."""


def _matcher(name_contains: str | None, currency: str | None) -> Callable[[Organisation], bool]:
    needle = name_contains.strip().casefold() if name_contains else ""
    code = currency.strip().upper() if currency else ""
    return lambda org: needle in org.name.casefold() and (not code or org.supports(code))


@dataclass(frozen=True)
class _LoginFailure:
    """A refused sign-in, and when trying again is allowed."""

    error: OASError
    retry_at: float
    count: int


_CREATED = TypeAdapter(CreatedOrganisation)
_ORGANISATIONS = TypeAdapter(list[Organisation])


def _organisations(results: list[Any], response: httpx2.Response) -> list[Organisation]:
    return _read(_ORGANISATIONS, results, response)


def _read(shape: TypeAdapter[T], data: object, response: httpx2.Response) -> T:
    """``data`` read as ``shape``; UnexpectedResponseError when it is not organisations as the guide describes them."""
    try:
        return shape.validate_python(data)
    except PydanticValidationError:
        raise unexpected_shape(response, "an organisation with an integer id") from None


def _id(organisation: Organisation) -> int:
    return organisation.id


class OASClient:
    """An async client for the OAS API.

    Sends ``X-Api-Key`` when a key is set, and ``Authorization: Bearer`` once signed in. Signs in by itself
    when there is no key, or when a request gets 401 and login credentials are set (then retries it once),
    and again before the session token expires. Transient failures are retried (see :class:`RetryPolicy`);
    each call (retries and waits included) fits in ``budget`` seconds, each request in ``timeout``, and a response
    body may hold at most ``max_response_bytes``. Cookies are never kept nor sent. Every failure is an
    :class:`~oas_mcp.client.OASError`. Use it as an async context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        api_key: str | SecretStr | None = None,
        username: str | None = None,
        email: str | None = None,
        password: str | SecretStr | None = None,
        timeout: float = 30.0,
        max_retries: int = 2,
        budget: float = 60.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        page_concurrency: int = DEFAULT_PAGE_CONCURRENCY,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._connection = Connection(base_url, timeout, transport, max_response_bytes)
        self._retry = RetryPolicy(max_retries=max_retries)
        self._budget = budget
        self._page_concurrency = page_concurrency
        self._owns_connection = True
        self._credentials = Credentials.of(api_key, username, email, password)
        self._secrets = self._credentials.secrets()
        self._token: Token | None = None
        self._login_lock = anyio.Lock()
        self._login_failure: _LoginFailure | None = None
        self._active: int | None = None

    def with_credentials(
        self,
        *,
        api_key: str | SecretStr | None = None,
        username: str | None = None,
        email: str | None = None,
        password: str | SecretStr | None = None,
    ) -> OASClient:
        """A client for other credentials on the same connection pool, with its own session and state.

        Closing it leaves the pool open; the pool closes with the client that made it. Made per user, its
        secrets are masked in all text made while it serves a call, and in other logs while recent (API-key-shaped
        text always is), not for the life of the process.
        """
        other = OASClient(self.base_url, page_concurrency=self._page_concurrency)
        other._credentials = Credentials.of(api_key, username, email, password, transient=True)
        other._secrets = other._credentials.secrets()
        other._connection = self._connection
        other._retry = self._retry
        other._budget = self._budget
        other._owns_connection = False
        return other

    def __repr__(self) -> str:
        return f"OASClient(base_url={self.base_url!r}, {self._credentials!r})"

    @property
    def base_url(self) -> str:
        return self._connection.base_url

    @property
    def credentials(self) -> Credentials:
        return self._credentials

    @property
    def session(self) -> Token | None:
        """The current sign-in (user and expiry), or None before the first login."""
        return self._token

    @property
    def active_organisation(self) -> int | None:
        """The id last activated through this client (the API has no route to read it back)."""
        return self._active

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_connection:
            await self._connection.aclose()

    # -- the API's routes -------------------------------------------------------------------------

    async def hello(self) -> str:
        """``GET /helloworld``, the guide's API-key check: the API's greeting, ``Hello world @username``.

        With an API key set, the key alone is sent (no session token, no sign-in on 401), so a wrong key fails
        even when signing in would work; without one, the session is checked (signing in first).
        """
        with self._serving():
            response = await self._send("GET", HELLO, session=self._credentials.api_key is None)
            content_type = response.headers.get("content-type", "")
            if "html" in content_type or response.text.lstrip().startswith("<"):
                raise UnexpectedResponseError(
                    f"GET {HELLO} answered HTTP {response.status_code} with {describe_body(response)}, not a greeting",
                    method="GET",
                    path=HELLO,
                    status_code=response.status_code,
                )
            body: object = read_json(response) if "json" in content_type else response.text
            text = body if isinstance(body, str) else detail_of(body, "")
            if not text:
                raise unexpected_shape(response, "a greeting")
            return clean(text)

    async def login(self) -> Token:
        """``POST /api/auth/login/`` with the configured username, email and password; returns the new session
        (as :attr:`session` then does)."""
        stale = self._token
        with self._serving():
            return await self._retry.run(lambda: self._renew(stale), idempotent=True, what=f"POST {LOGIN}")

    async def iter_organisations(self) -> AsyncIterator[Organisation]:
        """Every organisation, each once, fetching one page at a time as you iterate."""
        pager = self._organisation_pager()
        async with aclosing(pager.follow(ORGANISATIONS)) as pages:
            async for batch in pages:
                for organisation in batch:
                    yield organisation

    async def list_organisations(
        self,
        *,
        limit: int | None = None,
        name_contains: str | None = None,
        currency: str | None = None,
        progress: Progress | None = None,
    ) -> OrganisationList:
        """Organisations flattened across pages, filtered while flattening, stopping once ``limit`` match.

        ``name_contains`` matches case-insensitively; ``currency`` matches the base currency or any currency.
        Once the first page shows how many pages there are, up to ``page_concurrency`` pages are fetched at
        once, never more than ``limit`` can use. ``progress`` is awaited after each page with the pages read,
        the pages in all (None when unknown) and the organisations kept so far.
        """
        started = time.perf_counter()
        wanted = _matcher(name_contains, currency)
        found: list[Organisation] = []
        truncated = False
        pager = self._organisation_pager()

        async def take(batch: list[Organisation]) -> int | None:
            nonlocal truncated
            matches = [organisation for organisation in batch if wanted(organisation)]
            room = len(matches) if limit is None else limit - len(found)
            found.extend(matches[:room])
            if limit is not None and len(found) >= limit:
                truncated = len(matches) > room or pager.trail.has_next
            if progress is not None:
                await progress(pager.trail.pages, pager.trail.total, len(found))
            return None if limit is None else limit - len(found)

        with self._serving():
            await pager.flatten(ORGANISATIONS, take)
        trail = pager.trail
        count = trail.count if trail.count is not None else len(trail.seen)
        logger.info(
            "listed %d organisations (of %d) from %d pages (%d prefetched) in %.0f ms",
            len(found),
            count,
            trail.pages,
            trail.prefetched,
            (time.perf_counter() - started) * 1000,
        )
        return OrganisationList(count, found, truncated, trail.pages, trail.note)

    async def create_organisation(
        self, name: str, base_currency: str, currencies: list[str], image: str | None = None
    ) -> CreatedOrganisation:
        """``POST /api/organisations/``, never sent twice. The body is validated first (see :class:`NewOrganisation`).

        The request is resent only when it certainly never reached the API. When its reply is lost (connection
        dropped, timeout, gateway error, unreadable body), a listing decides: the matching organisation that was
        not there before is returned (``recovered_after`` says why), or OutcomeUnknownError is raised.
        """
        draft = NewOrganisation(name=name, base_currency=base_currency, currencies=currencies, image=image)
        with self._serving():
            before = {organisation.id for organisation in await self._matching(draft)}
            try:
                response = await self._send("POST", ORGANISATIONS, json=draft.body(), idempotent=False)
                return _read(_CREATED, read_json(response), response)
            except (APIConnectionError, ServerError, UnexpectedResponseError) as lost:
                if isinstance(lost, APIConnectionError) and not lost.request_sent:
                    raise
                return await self._reconcile(draft, before, lost)

    async def activate_organisation(self, organisation_id: int) -> str:
        """``POST /api/organisations/{id}/make_active/``; returns the API's confirmation message."""
        with self._serving():
            response = await self._send("POST", f"{ORGANISATIONS}{int(organisation_id)}/make_active/")
            self._active = organisation_id
            try:
                body = read_json(response)
            except UnexpectedResponseError:  # the status says it worked; the message is optional
                body = None
            return detail_of(body, "") or f"Organisation {organisation_id} is now active."

    async def _matching(self, draft: NewOrganisation) -> list[Organisation]:
        listing = await self.list_organisations(name_contains=draft.name)
        return [organisation for organisation in listing.organisations if draft.matches(organisation)]

    async def _reconcile(self, draft: NewOrganisation, before: set[int], lost: OASError) -> CreatedOrganisation:
        """After a lost reply: the new matching organisation if a listing shows one, else OutcomeUnknownError."""
        logger.warning("the reply to creating %r was lost (%s); checking whether it exists", draft.name, lost)
        try:
            new = [organisation for organisation in await self._matching(draft) if organisation.id not in before]
        except OASError as failed:
            raise OutcomeUnknownError(
                f"creating {draft.name!r}: {lost}; checking afterwards failed too: {failed}",
                name=draft.name,
                cause=lost,
                checked=False,
            ) from lost
        if not new:
            raise OutcomeUnknownError(
                f"creating {draft.name!r}: {lost}; a listing afterwards shows no new {draft.name!r}",
                name=draft.name,
                cause=lost,
                checked=True,
            ) from lost
        return CreatedOrganisation.recovered(new[-1], str(lost))

    @contextmanager
    def _serving(self) -> Iterator[None]:
        """One call: its time budget, and this client's secrets masked in every text (error, log line) made in it."""
        with budget(self._budget), masking(self._secrets):
            yield

    # -- pagination -------------------------------------------------------------------------------

    def _organisation_pager(self) -> Pager[Organisation]:
        """Pages of organisations on the configured origin only; repeated ids dropped."""

        async def fetch(path: str) -> httpx2.Response:
            with masking(self._secrets):  # already so in a call; iter_organisations is not one
                return await self._send("GET", path)

        return Pager(fetch, self._connection.base_path, _organisations, _id, self._page_concurrency)

    # -- sending ----------------------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, *, json: Any = None, idempotent: bool = True, session: bool = True
    ) -> httpx2.Response:
        """One API call, retried as :class:`RetryPolicy` allows; raises on error statuses. Without ``session``,
        only the API key is sent: no session token, and no signing in."""
        return await self._retry.run(
            lambda: self._send_once(method, path, json, session),
            idempotent=idempotent,
            what=f"{method} {urlsplit(path).path}",
        )

    async def _send_once(self, method: str, path: str, json: Any, session: bool) -> httpx2.Response:
        """Authenticate, send, sign in again once on 401 when possible, raise on error statuses."""
        token = await self._current_token() if session else None
        sign_in = session and self._credentials.can_login
        fresh = token is None and self._credentials.api_key is None and sign_in
        if fresh:
            token = await self._renew(stale=None)
        response, carried = await self._attempt(method, path, token, json)
        if response.status_code == 401 and sign_in and not fresh:
            token = await self._renew(stale=token)
            response, carried = await self._attempt(method, path, token, json)
        if response.is_error:
            raise status_error(response, carried)
        if response.is_redirect:
            raise self._redirected(response)
        return response

    async def _attempt(
        self, method: str, path: str, token: Token | None, json: Any
    ) -> tuple[httpx2.Response, tuple[Credential, ...]]:
        headers, carried = headers_for(self._credentials, token)
        return await self._connection.send(method, path, headers, json), carried

    def _redirected(self, response: httpx2.Response) -> UnexpectedResponseError:
        method, path = request_line(response)
        target = urlsplit(response.headers.get("location", ""))
        where = f" to {target.scheme}://{target.netloc}" if target.netloc else ""
        return UnexpectedResponseError(
            f"{method} {path} answered HTTP {response.status_code}, a redirect{where}; "
            "the base URL is probably not the API's own address",
            method=method,
            path=path,
            status_code=response.status_code,
        )

    # -- signing in -------------------------------------------------------------------------------

    async def _current_token(self) -> Token | None:
        """The session token, renewed first when most of its lifetime is over (failing that, the old one)."""
        token = self._token
        if token is None or not token.renewal_due() or not self._credentials.can_login:
            return token
        try:
            return await self._renew(stale=token)
        except OASError as error:
            logger.warning("could not renew the session before it expires (%s); using it while it lasts", error)
            return token

    async def _renew(self, stale: Token | None) -> Token:
        """Sign in, once for all callers that saw the same ``stale`` token (single flight).

        A refused sign-in is not repeated for a while (1 s, doubling up to a minute): callers get the same error.
        """
        async with self._login_lock:
            if self._token is not None and self._token is not stale:
                return self._token
            failure = self._login_failure
            if failure is not None and time.monotonic() < failure.retry_at:
                raise failure.error
            try:
                self._token = await self._login()
            except (AuthenticationError, PermissionDeniedError) as error:
                count = failure.count + 1 if failure else 1
                self._login_failure = _LoginFailure(error, time.monotonic() + min(60.0, 2.0 ** (count - 1)), count)
                raise
            self._login_failure = None
            self._secrets[:] = [*self._credentials.secrets(), self._token.access.get_secret_value()]
            return self._token

    async def _login(self) -> Token:
        body = self._credentials.login_body()
        headers, _ = headers_for(self._credentials, None)
        response = await self._connection.send("POST", LOGIN, headers, body)
        if response.status_code in (400, 401, 403):
            detail = status_error(response, ("login",)).detail
            kind = PermissionDeniedError if response.status_code == 403 else AuthenticationError
            raise kind(
                f"login failed: {detail or f'HTTP {response.status_code}'}",
                method="POST",
                path=LOGIN,
                status_code=response.status_code,
                detail=detail,
                credentials=("login",),
            )
        if response.is_error:
            raise status_error(response, ("login",))
        data = read_json(response)
        access = data.get("access") if isinstance(data, dict) else None
        if not isinstance(access, str) or not access.strip():
            raise unexpected_shape(response, "a login answer with an access token")
        try:
            user = User.model_validate(data.get("user") or {})
        except PydanticValidationError:
            raise unexpected_shape(response, "a login answer with a user") from None
        refresh = data.get("refresh")
        token = Token.from_login(access.strip(), refresh if isinstance(refresh, str) else None, user)
        logger.info(
            "signed in as %s; session expires %s", clean(user.username or "?", 60), token.expires_at or "unknown"
        )
        return token
