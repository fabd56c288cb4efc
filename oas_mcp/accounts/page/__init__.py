"""The link page: where a person signed in through OAuth links their own OAS account to this server.

Linked accounts are on when serving over HTTP with OAuth (``OAS_OAUTH_ISSUER``) and an accounts key file
(``OAS_ACCOUNTS_KEY_FILE``). A tool call from a person who linked no account is answered with a single-use link to
``{origin}/link/{token}`` (see :mod:`oas_mcp.accounts.mcp`), valid :data:`~oas_mcp.accounts.LINK_TTL` seconds. The
page makes sure whoever completes the link is the person it was made for: it signs them in at the same issuer, as an
OAuth client of it (authorization code with PKCE, ``OAS_OAUTH_CLIENT_ID`` and its secret, redirect URI
``{origin}/link/callback``), and compares the ID token's subject with the link's. Then it takes their OAS API key
(and optionally the username, email and password of the ``login`` tool), checks them with the OAS API, and stores
them encrypted. The API is asked about so many credentials alone: a link is given up once it was refused some
(``MAX_FAILED_CHECKS``), and a person's checks are paused once their links made some in the hour without linking an
account (``MAX_SUBJECT_CHECKS``); each check counts before the API is asked, so that forms sent at once cannot pass
these limits. Likewise, a person's links may have the issuer redeem so many sign-in codes in a row alone
(``MAX_SIGN_INS``).

Routes: ``GET /link/{token}`` (sign in, then the form), ``GET /link/callback`` (the issuer's redirect),
``POST /link/{token}`` (the form), ``POST /link/unlink`` (delete the linked account). What the page remembers of a
browser is in one cookie (:mod:`~oas_mcp.accounts.page.cookie`). Pages are plain HTML without scripts, under a
strict policy (:mod:`~oas_mcp.accounts.page.html`).

This package holds the routes and what they need: :mod:`~oas_mcp.accounts.page.signin` signs people in,
:mod:`~oas_mcp.accounts.page.check` checks the credentials with the API, :mod:`~oas_mcp.accounts.page.texts` is
what the page says. Where a route refuses, it raises :class:`~oas_mcp.accounts.page.refusal.PageRefusal`, which
one handler around every route answers with the page saying why.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
from starlette.responses import RedirectResponse, Response

from oas_mcp.accounts import AccountStore, Subject, connect_store
from oas_mcp.accounts.mcp import LinkedAccounts
from oas_mcp.accounts.page.check import Checked, check, not_checkable
from oas_mcp.accounts.page.cookie import Cookie
from oas_mcp.accounts.page.html import HEADERS, MAX_FIELD, form, linked, unlinked
from oas_mcp.accounts.page.refusal import PageRefusal, link_refused, store_refusals
from oas_mcp.accounts.page.signin import SignIn, require_endpoints
from oas_mcp.accounts.page.texts import (
    FORM_TOO_LARGE,
    NOT_FROM_THIS_PAGE,
    NOTHING_TO_UNLINK,
    SIGNED_OUT,
    unlinked_account,
)
from oas_mcp.accounts.store import MAX_FAILED_CHECKS, MAX_SUBJECT_CHECKS, Attempt
from oas_mcp.hosting.oauth import Issuer, OAuthClient
from oas_mcp.settings import LINK_PAGE_PATH, SettingsError, origin_of

if TYPE_CHECKING:
    from starlette.requests import Request

    from oas_mcp.client import OASClient
    from oas_mcp.settings import Settings

logger = logging.getLogger("oas_mcp.accounts.page")

PREFIX = LINK_PAGE_PATH
CALLBACK = f"{PREFIX}/callback"
UNLINK = f"{PREFIX}/unlink"
MAX_FORM = 16 * 1024
"""Largest form body read, in bytes."""


class LinkPage:
    """The link page's routes, with what they need: the accounts ``store``, the ``issuer`` people sign in at as
    ``client``, the public ``origin``, and ``shared``, the OAS client whose connection pool checks the credentials;
    and the MCP side of linked accounts (``accounts``: it makes the links, and is told when one is used)."""

    def __init__(
        self,
        store: AccountStore,
        issuer: Issuer,
        client: OAuthClient,
        origin: str,
        shared: Callable[[], OASClient],
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.client = client
        self.origin = origin
        self.shared = shared
        self.cookie = Cookie(store.keys, secure=origin.startswith("https:"))
        self.sign_in = SignIn(issuer, client, f"{origin}{CALLBACK}", self.cookie)
        self.accounts = LinkedAccounts(store, self.url)

    def url(self, token: str) -> str:
        """The page of the link ``token``, as the person opens it."""
        return f"{self.origin}{PREFIX}/{token}"

    def routes(self) -> list[tuple[str, str, Callable[[Request], Awaitable[Response]]]]:
        """Each route: its path, method and handler (the fixed paths first: a token is never one of them), which
        answers a :class:`PageRefusal` with the page saying why."""
        return [
            (CALLBACK, "GET", _answering(self.callback)),
            (UNLINK, "POST", _answering(self.unlink)),
            (f"{PREFIX}/{{token}}", "GET", _answering(self.open)),
            (f"{PREFIX}/{{token}}", "POST", _answering(self.submit)),
        ]

    # -- the routes (each raises PageRefusal where the page refuses) ------------------------------------------

    async def open(self, request: Request) -> Response:
        """``GET /link/{token}``: the form, for the person the link was made for once signed in; else sign in."""
        token = request.path_params["token"]
        with store_refusals():
            link = await self.store.open_link(token)
        signed_in = self.cookie.read(request, "signed-in")
        if signed_in is not None and _subject(signed_in) == link.subject:
            return form(f"{PREFIX}/{token}", signed_in)
        refused = self.cookie.read(request, "refused")  # this browser signed in as someone else for it before
        return self.sign_in.start(token, ask_who=refused is not None and refused.get("link") == token)

    async def callback(self, request: Request) -> Response:
        """``GET /link/callback``: the issuer sends the person back; check who signed in, then show the form."""
        started = self.sign_in.returned(request)
        with store_refusals():  # before a code is redeemed: none is for a link that cannot be used
            link = await self.store.open_link(started["link"])
        subject = await self.sign_in.finish(request, started, link.subject)
        if subject != link.subject:
            logger.warning("%s signed in on the link page of a link made for %s", subject.sub, link.subject)
            refused = link_refused("someone else").response()
            # They are not signed in here: the link waits for its owner, and its next sign-in asks who signs in.
            self.cookie.set(refused, "refused", link=link.token)
            return refused
        response = RedirectResponse(self.url(link.token), status_code=303, headers=HEADERS)
        self.cookie.set(response, "signed-in", iss=subject.issuer, sub=subject.sub, csrf=secrets.token_urlsafe(32))
        return response

    async def submit(self, request: Request) -> Response:
        """``POST /link/{token}``: check the credentials with the OAS API, then link them and use up the link."""
        token = request.path_params["token"]
        signed_in, posted = await self._posted(request)
        with store_refusals():
            link = await self.store.open_link(token)
        subject = _subject(signed_in)
        if subject != link.subject:
            raise link_refused("someone else")
        if problem := not_checkable(posted):
            return form(f"{PREFIX}/{token}", signed_in, problem, posted, status=400)
        with store_refusals():  # counted as refused before the API is asked: posts sent at once cannot pass the limits
            attempt = await self.store.reserve_check(token, subject)
        checked = await check(self.shared(), posted)
        if checked.account is None:
            return await self._refused_credentials(token, signed_in, posted, checked, attempt)
        with store_refusals():
            await self.store.complete_link(token, subject, checked.account)
        logger.info("%s linked OAS account @%s", subject, checked.account.oas_username)
        await self.accounts.notify_completed(link.elicitation_id)
        return linked(checked.account.oas_username, signed_in["csrf"], UNLINK)

    async def unlink(self, request: Request) -> Response:
        """``POST /link/unlink``: delete the signed-in person's linked account."""
        signed_in, _ = await self._posted(request)
        subject = _subject(signed_in)
        with store_refusals():
            account = await self.accounts.remove(subject)
        if account is None:
            return unlinked(NOTHING_TO_UNLINK)
        logger.info("%s unlinked OAS account @%s", subject, account.oas_username)
        return unlinked(unlinked_account(account.oas_username))

    # -- their parts ---------------------------------------------------------------------------------------------

    async def _refused_credentials(
        self, token: str, signed_in: dict[str, str], posted: dict[str, str], checked: Checked, attempt: Attempt
    ) -> Response:
        """The form again, saying why the credentials were not linked (a check the API could not judge no longer
        counts for the link). Raises PageRefusal once the API refused them :data:`MAX_FAILED_CHECKS` times for
        this link (it was given up)."""
        subject = _subject(signed_in)
        if attempt.by_subject == MAX_SUBJECT_CHECKS:
            logger.warning("checks of credentials on the links of %s are paused: too many linked no account", subject)
        if not checked.counts:
            with store_refusals():
                await self.store.release_check(token)
        elif attempt.on_link >= MAX_FAILED_CHECKS:
            logger.warning("a link of %s was given up: its credentials were refused too often", subject)
            raise link_refused("tried too often")
        return form(f"{PREFIX}/{token}", signed_in, checked.error, posted, status=checked.status)

    async def _posted(self, request: Request) -> tuple[dict[str, str], dict[str, str]]:
        """The signed-in cookie and the form of a POST. Raises PageRefusal without a sign-in, for a body too large,
        or when the form's CSRF token is missing or not the cookie's."""
        signed_in = self.cookie.read(request, "signed-in")
        if signed_in is None:
            raise PageRefusal(403, "Sign-in expired", SIGNED_OUT)
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM:
            raise PageRefusal(413, "Form too large", FORM_TOO_LARGE)
        async with request.form(max_files=0, max_fields=10) as sent:
            posted = {name: value.strip()[: MAX_FIELD + 1] for name, value in sent.items() if isinstance(value, str)}
        if not hmac.compare_digest(posted.get("csrf", "").encode(), signed_in["csrf"].encode()):
            raise PageRefusal(403, "Not sent from this page", NOT_FROM_THIS_PAGE)
        return signed_in, posted


def _answering(route: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """``route``, answering the page saying why where it raises PageRefusal."""

    async def answer(request: Request) -> Response:
        try:
            return await route(request)
        except PageRefusal as refusal:
            return refusal.response()

    return answer


def _subject(signed_in: dict[str, str]) -> Subject:
    return Subject(signed_in["iss"], signed_in["sub"])


# -- wiring, for the HTTP host -------------------------------------------------------------------------------------


def link_page(settings: Settings, issuer: Issuer, shared: Callable[[], OASClient]) -> LinkPage:
    """The link page the settings ask for, its accounts database open and migrated (close it with the page's
    store), its issuer checked when it answers. Raises SettingsError when the client of the issuer is not set, the
    issuer has no authorization or token endpoint, or the database cannot be opened."""
    client_id, secret = settings.oauth_client_id, settings.oauth_client_secret
    if client_id is None or secret is None:  # refused by check_combination, before serving
        raise SettingsError("linked accounts need OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET")
    anyio.run(require_endpoints, Issuer(issuer.url))
    store = connect_store(settings)
    return LinkPage(store, issuer, OAuthClient(client_id, secret), origin_of(settings.public_url or ""), shared)
