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

import oas_mcp.client._telemetry as telemetry
from oas_mcp import DEFAULT_BASE_URL, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_PAGE_CONCURRENCY, counted
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
from oas_mcp.client._retry import Deadline, RetryPolicy, budget, enclosing_deadline
from oas_mcp.client._routes import ACTIVATE, HELLO, LOGIN, ORGANISATIONS
from oas_mcp.redact import masking, remember
from oas_mcp.untrusted import clean

logger = logging.getLogger("oas_mcp.client")
T = TypeVar("T")

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
    body may hold at most ``max_response_bytes``. Cookies are never kept nor sent. Use it as an async context
    manager, or call :meth:`aclose`.

    Every failure to get an answer is an :class:`~oas_mcp.client.OASError`. Any call may raise, once retries
    are spent: :class:`APIConnectionError` (no answer; :class:`APITimeoutError`: not in time,
    :class:`BudgetExhaustedError`: not within the call's budget), :class:`APIStatusError` (an error status:
    :class:`AuthenticationError` when the credentials are refused, :class:`PermissionDeniedError`,
    :class:`RateLimitError`, :class:`ServerError`, ...) and :class:`UnexpectedResponseError` (an answer unlike
    the guide's; :class:`ResponseTooLargeError`: too big). Each method says what it raises of its own.
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
        self._start(
            Connection(base_url, timeout, transport, max_response_bytes),
            RetryPolicy(max_retries=max_retries),
            Credentials.of(api_key, username, email, password),
            budget=budget,
            page_concurrency=page_concurrency,
            per_user=False,
        )

    def _start(
        self,
        connection: Connection,
        retry: RetryPolicy,
        credentials: Credentials,
        *,
        budget: float,
        page_concurrency: int,
        per_user: bool,
    ) -> None:
        """Every client is made here: on ``connection``, retrying as ``retry`` says, with ``credentials``.

        A client made ``per_user`` (by :meth:`with_credentials`) leaves the connection open when it closes, and
        its secrets are masked in logs only while recent; any other closes it, and its secrets are masked for
        the life of the process.
        """
        self._connection = connection
        self._retry = retry
        self._budget = budget
        self._page_concurrency = page_concurrency
        self._owns_connection = not per_user
        self._credentials = credentials
        self._secrets = credentials.secrets()
        remember(*self._secrets, transient=per_user)
        self._token: Token | None = None
        self._login_lock = anyio.Lock()
        self._login_failure: _LoginFailure | None = None
        self._active: int | None = None

    def with_credentials(self, credentials: Credentials) -> OASClient:
        """A client for ``credentials`` (``Credentials()``: none) on the same connection pool, with its own
        session and state.

        Closing it leaves the pool open; the pool closes with the client that made it. Made per user, its
        secrets are masked in all text made while it serves a call, and in other logs while recent (API-key-shaped
        text always is), not for the life of the process.
        """
        other = OASClient.__new__(OASClient)  # not __init__: it would make a connection and a retry policy
        other._start(
            self._connection,
            self._retry,
            credentials,
            budget=self._budget,
            page_concurrency=self._page_concurrency,
            per_user=True,
        )
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

        Raises AuthenticationError when the API key was refused (without one, when signing in was, or there are no
        credentials), UnexpectedResponseError when the answer is not a greeting (an HTML page, an empty body),
        OASError on any other failure of a call (see the class).
        """
        with self._serving() as deadline:
            response = await self._send("GET", HELLO, deadline, session=self._credentials.api_key is None)
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
        (as :attr:`session` then does).

        Raises CredentialsError when the username (or email) or the password is not set (nothing is sent),
        AuthenticationError when the API refused them (HTTP 400 or 401; PermissionDeniedError on 403: for a while,
        1 s doubling up to a minute, the same error is raised again without asking the API), UnexpectedResponseError
        when the answer holds no access token, or no user, OASError on any other failure of a call (see the class).
        """
        stale = self._token
        with self._serving() as deadline:
            return await self._retry.run(
                lambda: self._renew(stale, deadline), idempotent=True, what=f"POST {LOGIN}", deadline=deadline
            )

    async def iter_organisations(self) -> AsyncIterator[Organisation]:
        """Every organisation, each once, fetching one page at a time as you iterate.

        Not a call: it has no time budget of its own, only that of a :func:`budget` it is iterated in, if any.

        Raises UnexpectedResponseError when a page is not a page of organisations with integer ids, OASError on any
        other failure of a call (see the class), where the page that failed would come.
        """
        pager = self._organisation_pager(enclosing_deadline(), concurrency=1)
        async with aclosing(pager.pages(ORGANISATIONS)) as pages:
            async for batch in pages:
                for organisation in batch.items:
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
        once (half as many each time the API answers that it is overloaded), never more than ``limit`` can use.
        ``progress`` is awaited after each page with the pages read, the pages in all (None when unknown) and the
        organisations kept so far.

        Raises UnexpectedResponseError when a page is not a page of organisations with integer ids, OASError on any
        other failure of a call (see the class). What ``progress`` raises ends the listing too.
        """
        started = time.perf_counter()
        keep = _matcher(name_contains, currency)
        found: list[Organisation] = []
        spare = False  # whether the last page read had matches past the limit

        def wanted() -> int | None:
            return None if limit is None else limit - len(found)

        with self._serving() as deadline:
            pager = self._organisation_pager(deadline, self._page_concurrency)
            async with aclosing(pager.pages(ORGANISATIONS, wanted)) as pages:
                async for batch in pages:
                    matches = [organisation for organisation in batch.items if keep(organisation)]
                    room = wanted()
                    found.extend(matches[:room])
                    spare = room is not None and len(matches) > room
                    if progress is not None:
                        await progress(batch.pages, batch.total, len(found))
                    if wanted() == 0:
                        break
        summary = pager.summary()
        logger.info(
            "listed %s (of %d) from %s (%d prefetched) in %.0f ms",
            counted(len(found), "organisation"),
            summary.count,
            counted(summary.pages, "page"),
            summary.prefetched,
            (time.perf_counter() - started) * 1000,
        )
        truncated = limit is not None and len(found) >= limit and (spare or summary.more)
        if truncated and limit is not None:
            logger.info("listing stopped at its limit of %s; more may match", counted(limit, "organisation"))
        return OrganisationList(summary.count, found, truncated, summary.pages, summary.note)

    async def same_named(self, name: str) -> list[Organisation]:
        """The organisations named ``name``, trimmed and in any case: what :meth:`create_organisation` would
        duplicate. One listing (every page, filtered while flattening).

        Raises UnexpectedResponseError when a page is not a page of organisations with integer ids, OASError on any
        other failure of a call (see the class).
        """
        wanted = name.strip().casefold()
        listing = await self.list_organisations(name_contains=name)
        return [
            organisation for organisation in listing.organisations if organisation.name.strip().casefold() == wanted
        ]

    async def create_organisation(
        self,
        name: str,
        base_currency: str,
        currencies: list[str],
        image: str | None = None,
        *,
        same_named: list[Organisation] | None = None,
    ) -> CreatedOrganisation:
        """``POST /api/organisations/``, never sent twice. The body is validated first (see :class:`NewOrganisation`).

        Before sending, it notes which organisations already match (from ``same_named``, what :meth:`same_named`
        listed just before, or else from a listing of its own). The request is resent only when it certainly never
        reached the API. When its reply is lost (connection dropped, timeout, gateway error, unreadable body), a
        listing decides: the matching organisation that was not there before is returned (``recovered_after`` says
        why), or OutcomeUnknownError is raised.

        Raises pydantic.ValidationError when the arguments do not make a valid organisation (nothing is sent),
        BadRequestError when the API refused it (``field_errors`` says why, field by field), OutcomeUnknownError
        when its reply was lost and a listing afterwards shows no new match, or fails too, OASError on any other
        failure of a call (see the class: the organisation was not created).
        """
        draft = NewOrganisation(name=name, base_currency=base_currency, currencies=currencies, image=image)
        with self._serving() as deadline:
            known = same_named if same_named is not None else await self.same_named(draft.name)
            before = {organisation.id for organisation in known if draft.matches(organisation)}
            try:
                response = await self._send("POST", ORGANISATIONS, deadline, json=draft.body(), idempotent=False)
                return _read(_CREATED, read_json(response), response)
            except (APIConnectionError, ServerError, UnexpectedResponseError) as lost:
                if isinstance(lost, APIConnectionError) and not lost.request_sent:
                    raise
                return await self._reconcile(draft, before, lost)

    async def activate_organisation(self, organisation_id: int) -> str:
        """``POST /api/organisations/{id}/make_active/``; returns the API's confirmation message. Raises
        NotFoundError when no organisation has that id (for these credentials), OASError on any other failure of a
        call (see the class)."""
        with self._serving() as deadline:
            response = await self._send("POST", ACTIVATE.format(id=int(organisation_id)), deadline)
            self._active = organisation_id
            try:
                body = read_json(response)
            except UnexpectedResponseError:  # the status says it worked; the message is optional
                body = None
            return detail_of(body, "") or f"Organisation {organisation_id} is now active."

    async def _reconcile(self, draft: NewOrganisation, before: set[int], lost: OASError) -> CreatedOrganisation:
        """After a lost reply: the new matching organisation if a listing shows one, else OutcomeUnknownError."""
        logger.warning("the reply to creating %r was lost (%s); checking whether it exists", draft.name, lost)
        try:
            now = await self.same_named(draft.name)
            new = [
                organisation for organisation in now if draft.matches(organisation) and organisation.id not in before
            ]
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
    def _serving(self) -> Iterator[Deadline]:
        """One call: this client's secrets masked in every text (error, log line) made in it, and its deadline
        (that of an enclosing budget, if any), for everything the call does."""
        with budget(self._budget) as deadline, masking(self._secrets):
            yield deadline

    # -- pagination -------------------------------------------------------------------------------

    def _organisation_pager(self, deadline: Deadline | None, concurrency: int) -> Pager[Organisation]:
        """Pages of organisations on the configured origin only, each read before ``deadline``, up to
        ``concurrency`` at once; repeated ids dropped."""

        async def fetch(path: str) -> httpx2.Response:
            with masking(self._secrets):  # already so in a call; iter_organisations is not one
                return await self._send("GET", path, deadline)

        return Pager(fetch, self._connection.base_path, _organisations, _id, concurrency)

    # -- sending ----------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        deadline: Deadline | None,
        *,
        json: Any = None,
        idempotent: bool = True,
        session: bool = True,
    ) -> httpx2.Response:
        """One API call, retried as :class:`RetryPolicy` allows, all before ``deadline``; raises on error
        statuses. Without ``session``, only the API key is sent: no session token, and no signing in."""
        return await self._retry.run(
            lambda: self._send_once(method, path, json, session, deadline),
            idempotent=idempotent,
            what=f"{method} {urlsplit(path).path}",
            deadline=deadline,
        )

    async def _send_once(
        self, method: str, path: str, json: Any, session: bool, deadline: Deadline | None
    ) -> httpx2.Response:
        """Authenticate, send, sign in again once on 401 when possible, raise on error statuses."""
        token = await self._current_token(deadline) if session else None
        sign_in = session and self._credentials.can_login
        fresh = token is None and self._credentials.api_key is None and sign_in
        if fresh:
            token = await self._renew(None, deadline)
        response, carried = await self._attempt(method, path, token, json, deadline)
        if response.status_code == 401 and sign_in and not fresh:
            token = await self._renew(token, deadline)
            response, carried = await self._attempt(method, path, token, json, deadline)
        if response.is_error:
            raise status_error(response, carried)
        if response.is_redirect:
            raise self._redirected(response)
        return response

    async def _attempt(
        self, method: str, path: str, token: Token | None, json: Any, deadline: Deadline | None
    ) -> tuple[httpx2.Response, tuple[Credential, ...]]:
        headers, carried = headers_for(self._credentials, token)
        return await self._connection.send(method, path, headers, json, deadline), carried

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

    async def _current_token(self, deadline: Deadline | None) -> Token | None:
        """The session token, renewed first when most of its lifetime is over (failing that, the old one)."""
        token = self._token
        if token is None or not token.renewal_due() or not self._credentials.can_login:
            return token
        try:
            return await self._renew(token, deadline)
        except OASError as error:
            logger.warning("could not renew the session before it expires (%s); using it while it lasts", error)
            return token

    async def _renew(self, stale: Token | None, deadline: Deadline | None) -> Token:
        """Sign in, once for all callers that saw the same ``stale`` token (single flight).

        A refused sign-in is not repeated for a while (1 s, doubling up to a minute): callers get the same error.
        """
        async with self._login_lock:
            if self._token is not None and self._token is not stale:
                return self._token
            failure = self._login_failure
            if failure is not None and time.monotonic() < failure.retry_at:
                telemetry.held_back(failure.retry_at - time.monotonic())
                raise failure.error.with_traceback(None)  # each raise would add its frames to the shared error
            outcome = "error"
            try:
                self._token = await self._login(deadline)
                outcome = "ok"
            except (AuthenticationError, PermissionDeniedError) as error:
                outcome = "refused"
                count = failure.count + 1 if failure else 1
                self._login_failure = _LoginFailure(error, time.monotonic() + min(60.0, 2.0 ** (count - 1)), count)
                raise
            finally:
                telemetry.signed_in(renewal=stale is not None, outcome=outcome)
            self._login_failure = None
            self._secrets[:] = [*self._credentials.secrets(), self._token.access.get_secret_value()]
            return self._token

    async def _login(self, deadline: Deadline | None) -> Token:
        body = self._credentials.login_body()
        headers, _ = headers_for(self._credentials, None)
        response = await self._connection.send("POST", LOGIN, headers, body, deadline)
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
