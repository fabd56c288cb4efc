"""The link page: where a person signed in through OAuth links their own OAS account to this server.

Linked accounts are on when serving over HTTP with OAuth (``OAS_OAUTH_ISSUER``) and an accounts key file
(``OAS_ACCOUNTS_KEY_FILE``). A tool call from a person who linked no account is answered with a single-use link to
``{origin}/link/{token}`` (see :mod:`oas_mcp.accounts.mcp`), valid :data:`LINK_TTL` seconds. The page makes sure
whoever completes the link is the person it was made for: it signs them in at the same issuer, as an OAuth client of
it (authorization code with PKCE, ``OAS_OAUTH_CLIENT_ID`` and its secret, redirect URI ``{origin}/link/callback``),
and compares the ID token's subject with the link's. Then it takes their OAS API key (and optionally the username,
email and password of the ``login`` tool), checks them with the OAS API, and stores them encrypted. The API is asked
about so many credentials alone: a link is given up once it was refused some (``MAX_FAILED_CHECKS``), and a person's
checks are paused once their links made some in the hour without linking an account (``MAX_SUBJECT_CHECKS``); each
check counts before the API is asked, so that forms sent at once cannot pass these limits. Likewise, a person's links
may have the issuer redeem so many sign-in codes in a row alone (``MAX_SIGN_INS``).

Routes: ``GET /link/{token}`` (sign in, then the form), ``GET /link/callback`` (the issuer's redirect),
``POST /link/{token}`` (the form), ``POST /link/unlink`` (delete the linked account). What the page remembers of a
browser is in one cookie, encrypted with the accounts keys, HttpOnly, SameSite=Lax (and Secure, named with the
``__Host-`` prefix, when the public URL is https): during sign-in its PKCE verifier, state and nonce; once signed
in, the subject and the form's CSRF token. Pages are plain HTML without scripts, under a strict policy.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import anyio
from cryptography.fernet import InvalidToken
from pydantic import SecretStr
from starlette.responses import HTMLResponse, RedirectResponse, Response

from oas_mcp.accounts import LINK_TTL, AccountsError, AccountStore, Link, LinkedAccount, LinkRefused, Subject
from oas_mcp.accounts.mcp import LinkedAccounts
from oas_mcp.accounts.store import CHECKS_WINDOW, MAX_FAILED_CHECKS, MAX_SUBJECT_CHECKS, Attempt, Refusal
from oas_mcp.hosting.oauth import Budgets, Introspection, Issuer, IssuerError, Refused
from oas_mcp.settings import SettingsError, key_problem

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet
    from starlette.requests import Request

    from oas_mcp.client import Credentials, OASClient
    from oas_mcp.settings import Settings

logger = logging.getLogger("oas_mcp.accounts.page")

PREFIX = "/link"
CALLBACK = f"{PREFIX}/callback"
UNLINK = f"{PREFIX}/unlink"
COOKIE = "oas_mcp_link"
COOKIE_TTL = 15 * 60
"""Seconds the page's cookie lasts: a sign-in started, or a person signed in on the page."""
MAX_FIELD = 512
"""Longest value a form field may have."""
MAX_FORM = 16 * 1024
"""Largest form body read, in bytes."""
PURPOSE = "oas-mcp link page"
"""Marks the cookie's contents, so that nothing else these keys encrypt is taken for it."""
MAX_SIGN_INS = 10
"""Sign-ins one person's links may send to the issuer in a row (each has oas-mcp redeem a code there as its client,
which an issuer may throttle or lock out), then one more each ``SIGN_IN_REFILL`` seconds."""
SIGN_IN_REFILL = 60.0

STYLE = """
body{margin:0;background:#f4f5f7;color:#1d2330;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:32rem;margin:3rem auto;padding:2rem 2.25rem;background:#fff;border-radius:12px;
box-shadow:0 1px 3px rgba(20,30,50,.12),0 8px 24px rgba(20,30,50,.06)}
h1{font-size:1.35rem;margin:0 0 .75rem}
p{margin:.5rem 0}
.who{color:#4a5468;font-size:.95rem}
label{display:block;margin:1rem 0 .25rem;font-weight:600}
input{box-sizing:border-box;width:100%;padding:.6rem .7rem;border:1px solid #c4cad6;border-radius:8px;font:inherit}
input:focus{outline:2px solid #3d6fd8;outline-offset:1px;border-color:#3d6fd8}
fieldset{border:1px solid #e1e5ec;border-radius:10px;margin:1.25rem 0 0;padding:.25rem 1rem 1rem}
legend{padding:0 .35rem;color:#4a5468;font-size:.95rem}
button{margin-top:1.5rem;padding:.65rem 1.4rem;border:0;border-radius:8px;background:#2f5fc4;color:#fff;
font:inherit;font-weight:600;cursor:pointer}
button.quiet{background:#fff;color:#a12c2c;border:1px solid #d9a5a5}
.error{padding:.6rem .8rem;border-radius:8px;background:#fdecec;color:#8a1f1f}
.done{padding:.6rem .8rem;border-radius:8px;background:#e8f5ec;color:#1d5b33;font-weight:600}
small{display:block;margin-top:1.5rem;color:#6b7589}
"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the link's URL holds its token: never sent on to the issuer
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
ASK_AGAIN = "Ask your assistant again for a new link."
REFUSALS: dict[Refusal, tuple[int, str]] = {
    "unknown": (404, f"This link is not known here: it may be mistyped, or so old that it was removed. {ASK_AGAIN}"),
    "used": (410, f"This link was already used: each link works once. {ASK_AGAIN}"),
    "expired": (410, f"This link has expired: links work for {LINK_TTL // 60} minutes. {ASK_AGAIN}"),
    "someone else": (
        403,
        "This link was made for someone else: sign in as the person who asked for it, or ask your assistant for a "
        "link of your own. Nothing was changed.",
    ),
    "tried too often": (
        410,
        f"This link no longer works: the credentials given on it were refused {MAX_FAILED_CHECKS} times, so it was "
        f"given up to protect your accounts. Nothing was stored. {ASK_AGAIN}",
    ),
    "checked too often": (
        429,
        f"Credentials given on your links were checked {MAX_SUBJECT_CHECKS} times within {CHECKS_WINDOW // 60} "
        f"minutes without linking an account, so checking is paused for up to {CHECKS_WINDOW // 60} minutes to "
        "protect your accounts. Nothing was stored. Ask your assistant again for a new link then.",
    ),
}
SIGN_IN_ERRORS = {
    "access_denied": "The sign-in was declined, at the identity provider.",
    "login_required": "The identity provider needs you to sign in, and could not ask you.",
    "interaction_required": "The identity provider needs something of you, and could not ask you.",
    "consent_required": "The identity provider needs your consent, and could not ask you.",
    "account_selection_required": "The identity provider needs you to choose an account, and could not ask you.",
    "temporarily_unavailable": "The identity provider is busy or down for a moment.",
    "server_error": "The identity provider failed.",
}
"""What the page says of each OAuth error code the issuer may send back (RFC 6749 4.1.2.1, OpenID Connect 3.1.2.6);
never the text sent with it, which whoever sends a browser here may have written."""
SIGN_IN_ERROR = "The identity provider did not complete the sign-in."
RETRY = "Nothing was changed, and your link still works: open it again to try again."
ISSUER_DOWN = (
    "The identity provider could not complete your sign-in right now. Nothing was changed, and your link still "
    "works: open it again in a moment."
)
SIGN_IN_REFUSED = f"The identity provider's answer could not be verified, so you are not signed in here. {RETRY}"
SIGNED_OUT = "Your sign-in on this page is missing or has expired. Open the link from your assistant again."
SIGN_INS_PAUSED = (
    f"Your links were signed in with too often in a short time. Nothing was changed: wait {SIGN_IN_REFILL:.0f} "
    "seconds, then open the link again."
)
NOT_FROM_THIS_PAGE = (
    "This form was not sent from this page (its security token is missing or wrong), so nothing was stored. "
    "Open the link from your assistant again."
)
KEY_REFUSED = (
    "The API refused this key: copy the whole key from your OAS welcome email (41 characters). Nothing was stored."
)
NOT_A_KEY = "This is not an API key: paste the 41-character key from your OAS welcome email. Nothing was stored."
LOGIN_REFUSED = (
    "The API refused this username, email and password for the login tool: give those of the key's account. "
    "Nothing was stored."
)
"""Whatever was wrong with them (another account's, a wrong password): the page tells no more than this."""
LOGIN_INCOMPLETE = (
    "For the login tool, give your username, email and password together (the API asks for all three), or leave "
    "all three empty. Nothing was stored."
)
API_FAILED = "The OAS API could not check this right now; nothing was stored. Try again in a minute."


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class Cookie:
    """The page's cookie: JSON of one ``stage`` (``sign-in`` or ``signed-in``), encrypted and authenticated with the
    accounts keys, refused once older than :data:`COOKIE_TTL`."""

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

    def clear(self, response: Response) -> None:
        response.delete_cookie(self.name, path="/", secure=self.secure, httponly=True, samesite="lax")


@dataclass(frozen=True)
class Checked:
    """What the OAS API said of the credentials given on the form: an account to link, or why not (``counts``:
    the credentials were refused, which only so many times are for one link; else the API could not say)."""

    account: LinkedAccount | None = None
    error: str | None = None
    status: int = 400
    counts: bool = False


class LinkPage:
    """The link page's routes, with what they need: the accounts ``store``, the ``issuer`` people sign in at as
    ``client``, the public ``origin``, and ``shared``, the OAS client whose connection pool checks the credentials;
    and the MCP side of linked accounts (``accounts``: it makes the links, and is told when one is used)."""

    def __init__(
        self,
        store: AccountStore,
        issuer: Issuer,
        client: Introspection,
        origin: str,
        shared: Callable[[], OASClient],
    ) -> None:
        self.store = store
        self.issuer = issuer
        self.client = client
        self.origin = origin
        self.shared = shared
        self.cookie = Cookie(store.keys, secure=origin.startswith("https:"))
        self.accounts = LinkedAccounts(store, self.url)
        self._sign_ins: Budgets[Subject] = Budgets(MAX_SIGN_INS, SIGN_IN_REFILL, anyio.current_time)

    def url(self, token: str) -> str:
        """The page of the link ``token``, as the person opens it."""
        return f"{self.origin}{PREFIX}/{token}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.origin}{CALLBACK}"

    def routes(self) -> list[tuple[str, str, Callable[[Request], Awaitable[Response]]]]:
        """Each route: its path, method and handler (the fixed paths first: a token is never one of them)."""
        return [
            (CALLBACK, "GET", self.callback),
            (UNLINK, "POST", self.unlink),
            (f"{PREFIX}/{{token}}", "GET", self.open),
            (f"{PREFIX}/{{token}}", "POST", self.submit),
        ]

    # -- the routes ----------------------------------------------------------------------------------------------

    async def open(self, request: Request) -> Response:
        """``GET /link/{token}``: the form, for the person the link was made for once signed in; else sign in."""
        token = request.path_params["token"]
        link = await self._open(token)
        if isinstance(link, Response):
            return link
        signed_in = self.cookie.read(request, "signed-in")
        if signed_in is not None and _subject(signed_in) == link.subject:
            return _form(token, signed_in)
        refused = self.cookie.read(request, "refused")  # this browser signed in as someone else for it before
        return self._sign_in(token, ask_who=refused is not None and refused.get("link") == token)

    async def callback(self, request: Request) -> Response:
        """``GET /link/callback``: the issuer sends the person back; check who signed in, then show the form."""
        started = self.cookie.read(request, "sign-in")
        if started is None:
            return _page("Sign-in expired", _error(SIGNED_OUT), 400)
        query = request.query_params
        if not hmac.compare_digest(query.get("state", "").encode(), started["state"].encode()):
            return _page("Sign-in refused", _error(f"This sign-in is not the one this page started. {ASK_AGAIN}"), 400)
        if "error" in query:
            said = SIGN_IN_ERRORS.get(query["error"], SIGN_IN_ERROR)
            return _page("Sign-in not completed", _error(f"{said} {RETRY}"), 400)
        link = await self._open(started["link"])
        if isinstance(link, Response):
            return link
        if not self._sign_ins.of(link.subject).take():
            return _page("Wait a minute", _error(SIGN_INS_PAUSED), 429)
        claims = await self._signed_in(query.get("code", ""), started)
        if isinstance(claims, Response):
            return claims
        if Subject(claims["iss"], claims["sub"]) != link.subject:
            logger.warning("%s signed in on the link page of a link made for %s", claims["sub"], link.subject)
            refused = self._refused("someone else")
            # They are not signed in here: the link waits for its owner, and its next sign-in asks who signs in.
            self.cookie.set(refused, "refused", link=link.token)
            return refused
        response = RedirectResponse(self.url(link.token), status_code=303, headers=HEADERS)
        self.cookie.set(response, "signed-in", iss=claims["iss"], sub=claims["sub"], csrf=secrets.token_urlsafe(32))
        return response

    async def submit(self, request: Request) -> Response:
        """``POST /link/{token}``: check the credentials with the OAS API, then link them and use up the link."""
        token = request.path_params["token"]
        signed_in, form = await self._posted(request)
        if isinstance(signed_in, Response):
            return signed_in
        link = await self._open(token)
        if isinstance(link, Response):
            return link
        subject = _subject(signed_in)
        if subject != link.subject:
            return self._refused("someone else")
        if error := _not_checkable(form):
            return _form(token, signed_in, error, form, status=400)
        try:  # counted as refused before the API is asked, so that posts sent at once cannot pass the limits
            attempt = await self.store.reserve_check(token, subject)
        except LinkRefused as refused:
            return self._refused(refused.reason)
        except AccountsError as exc:
            return _store_failed(exc)
        checked = await self._check(form)
        if checked.account is None:
            return await self._refused_credentials(token, signed_in, form, checked, attempt)
        try:
            await self.store.complete_link(token, subject, checked.account)
        except LinkRefused as refused:
            return self._refused(refused.reason)
        except AccountsError as exc:
            return _store_failed(exc)
        logger.info("%s linked OAS account @%s", subject, checked.account.oas_username)
        await self.accounts.completed(link.elicitation_id)
        return _linked(checked.account.oas_username, signed_in["csrf"])

    async def unlink(self, request: Request) -> Response:
        """``POST /link/unlink``: delete the signed-in person's linked account."""
        signed_in, _ = await self._posted(request)
        if isinstance(signed_in, Response):
            return signed_in
        subject = _subject(signed_in)
        try:
            account = await self.accounts.remove(subject)
        except AccountsError as exc:
            return _store_failed(exc)
        if account is None:
            text = "No OAS account is linked to you here: nothing was deleted."
        else:
            logger.info("%s unlinked OAS account @%s", subject, account.oas_username)
            text = (
                f"Unlinked OAS account @{account.oas_username}: its credentials are deleted from this server. "
                "Your OAS account itself is unchanged."
            )
        body = (
            f'<p class="done" id="unlinked">{escape(text)}</p><p>Your assistant asks you to link again next time.</p>'
        )
        return _page("Unlinked", body)

    # -- their parts ---------------------------------------------------------------------------------------------

    async def _open(self, token: str) -> Link | Response:
        """The link ``token`` names, or the page saying why it cannot be used."""
        try:
            return await self.store.open_link(token)
        except LinkRefused as refused:
            return self._refused(refused.reason)
        except AccountsError as exc:
            return _store_failed(exc)

    async def _signed_in(self, code: str, started: dict[str, str]) -> dict[str, Any] | Response:
        """The claims of the ID token the issuer gives for ``code``, checked; or the page saying signing in failed
        (and that the link still works: the issuer's own words and URLs are for the log)."""
        try:
            answer = await self.issuer.redeem(code, self.redirect_uri, started["verifier"], self.client)
            id_token = answer.get("id_token")
            if not isinstance(id_token, str):
                raise Refused("the issuer sent no ID token")
            return await self.issuer.id_token_claims(id_token, self.client.client_id, started["nonce"])
        except IssuerError as exc:
            logger.warning("a sign-in on the link page failed: %s", exc)
            return _page("Try again soon", _error(ISSUER_DOWN), 503)
        except Refused as exc:
            logger.warning("a sign-in on the link page was refused: %s", exc)
            return _page("Sign-in failed", _error(SIGN_IN_REFUSED), 400)

    async def _refused_credentials(
        self, token: str, signed_in: dict[str, str], form: dict[str, str], checked: Checked, attempt: Attempt
    ) -> Response:
        """The form again, saying why the credentials were not linked (a check the API could not judge no longer
        counts for the link); once the API refused them :data:`MAX_FAILED_CHECKS` times for this link, the page
        saying it was given up."""
        subject = _subject(signed_in)
        if attempt.by_subject == MAX_SUBJECT_CHECKS:
            logger.warning("checks of credentials on the links of %s are paused: too many linked no account", subject)
        if not checked.counts:
            try:
                await self.store.release_check(token)
            except AccountsError as exc:
                return _store_failed(exc)
        elif attempt.on_link >= MAX_FAILED_CHECKS:
            logger.warning("a link of %s was given up: its credentials were refused too often", subject)
            return self._refused("tried too often")
        return _form(token, signed_in, checked.error, form, status=checked.status)

    def _refused(self, reason: Refusal) -> Response:
        status, text = REFUSALS[reason]
        return _page("This link cannot be used", _error(text), status)

    def _sign_in(self, token: str, *, ask_who: bool = False) -> Response:
        """Send the browser to the issuer to sign in (authorization code, PKCE S256, state and nonce); ``ask_who``:
        asking who signs in, even when someone is signed in there already (``prompt=login``)."""
        endpoint = self.issuer.endpoint("authorization_endpoint")
        if endpoint is None:
            text = "Signing in is not available yet: the identity provider has not answered. Try again in a minute."
            return _page("Try again soon", _error(text), 503)
        verifier, state, nonce = (secrets.token_urlsafe(32) for _ in range(3))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
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
        self.cookie.set(response, "sign-in", link=token, state=state, nonce=nonce, verifier=verifier)
        return response

    async def _posted(self, request: Request) -> tuple[dict[str, str] | Response, dict[str, str]]:
        """The signed-in cookie and the form of a POST, or the page refusing it (no sign-in, or a CSRF token
        that is missing or not the cookie's)."""
        signed_in = self.cookie.read(request, "signed-in")
        if signed_in is None:
            return _page("Sign-in expired", _error(SIGNED_OUT), 403), {}
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM:
            return _page("Form too large", _error("This form is larger than the page sends."), 413), {}
        async with request.form(max_files=0, max_fields=10) as posted:
            form = {name: value.strip()[: MAX_FIELD + 1] for name, value in posted.items() if isinstance(value, str)}
        if not hmac.compare_digest(form.get("csrf", "").encode(), signed_in["csrf"].encode()):
            return _page("Not sent from this page", _error(NOT_FROM_THIS_PAGE), 403), {}
        return signed_in, form

    async def _check(self, form: dict[str, str]) -> Checked:
        """The account the form's credentials are, once the OAS API accepts them: the key with ``/helloworld``,
        then, when given, the username, email and password with ``login`` (as the same account). The form is one
        :func:`_not_checkable` found nothing wrong with."""
        from oas_mcp.client import AuthenticationError, Credentials, OASError

        key, username, email, password = _given(form)
        shared = self.shared()
        try:
            owner = _owner(await shared.with_credentials(Credentials.of(api_key=key)).hello())
        except AuthenticationError:
            return Checked(error=KEY_REFUSED, counts=True)
        except OASError as exc:
            logger.warning("cannot check an API key on the link page: %s", exc)
            return Checked(error=API_FAILED, status=502)
        if owner is None:
            return Checked(error=API_FAILED, status=502)
        if password:
            login = Credentials.of(username=username, email=email, password=password)
            refused = await _check_login(shared, login, owner)
            if refused is not None:
                return refused
        account = LinkedAccount(
            oas_username=owner,
            api_key=SecretStr(key),
            username=username or None,
            email=email or None,
            password=SecretStr(password) if password else None,
        )
        return Checked(account)


def _not_checkable(form: dict[str, str]) -> str | None:
    """What is wrong with the form that the API need not be asked about: no key, or not one; some of the login
    tool's credentials without the others."""
    key, username, email, password = _given(form)
    if not key or key_problem(key):
        return NOT_A_KEY
    if any((username, email, password)) and not all((username, email, password)):
        return LOGIN_INCOMPLETE
    return None


def _given(form: dict[str, str]) -> tuple[str, str, str, str]:
    """The form's key, username, email and password; empty when not given."""
    return form.get("api_key", ""), form.get("username", ""), form.get("email", ""), form.get("password", "")


async def _check_login(shared: OASClient, login: Credentials, owner: str) -> Checked | None:
    """None when the ``login`` credentials sign in (on ``shared``'s pool) as ``owner``, the key's account; else why
    not, in one message for every refusal. Another account's are refused before the API is asked: the page must not
    tell anyone whether a password of someone else's is right. (The API tells a key's username, not its email: the
    email is checked once signed in.)"""
    from oas_mcp.client import AuthenticationError, OASError

    if (login.username or "").casefold() != owner.casefold():
        return Checked(error=LOGIN_REFUSED, counts=True)
    try:
        user = (await shared.with_credentials(login).login()).user
    except AuthenticationError:
        return Checked(error=LOGIN_REFUSED, counts=True)
    except OASError as exc:
        logger.warning("cannot check a sign-in on the link page: %s", exc)
        return Checked(error=API_FAILED, status=502)
    if user.username != owner or (user.email is not None and user.email.casefold() != (login.email or "").casefold()):
        return Checked(error=LOGIN_REFUSED, counts=True)
    return None


def _owner(greeting: str) -> str | None:
    """Whom ``Hello world @username`` greets."""
    from oas_mcp.server.results import Greeting

    return Greeting.of(greeting, "api_key").username


def _subject(signed_in: dict[str, str]) -> Subject:
    return Subject(signed_in["iss"], signed_in["sub"])


def _store_failed(exc: AccountsError) -> Response:
    logger.error("the link page cannot use the accounts database: %s", exc)
    text = "The server's database of linked accounts failed; nothing was stored. Try again in a minute."
    return _page("Try again soon", _error(text), 503)


# -- the HTML ------------------------------------------------------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · oas-mcp</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}<small>oas-mcp · linked OAS accounts</small></main></body></html>"
    )
    return HTMLResponse(html, status, headers=HEADERS)


def _error(text: str) -> str:
    return f'<p class="error" id="error">{escape(text)}</p>'


def _form(
    token: str,
    signed_in: dict[str, str],
    error: str | None = None,
    given: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The form: the key, then the optional sign-in of the login tool. A key or password is never shown again."""
    given = given or {}

    def field(name: str, label: str, kind: str, *, required: bool = False, keep: bool = False) -> str:
        value = f' value="{escape(given.get(name, "")[:MAX_FIELD])}"' if keep and given.get(name) else ""
        return (
            f'<label for="{name}">{escape(label)}</label><input id="{name}" name="{name}" type="{kind}"'
            f'{value}{" required" if required else ""} autocomplete="off" maxlength="{MAX_FIELD}">'
        )

    body = (
        f'<p class="who">Signed in as <strong>{escape(signed_in["sub"])}</strong>.</p>'
        "<p>Paste the API key from your OAS welcome email. oas-mcp checks it with the OAS API, then keeps it "
        "encrypted, for your calls alone.</p>"
        f"{_error(error) if error else ''}"
        f'<form method="post" action="{PREFIX}/{escape(token)}">'
        f'<input type="hidden" name="csrf" value="{escape(signed_in["csrf"])}">'
        f"{field('api_key', 'OAS API key', 'password', required=True)}"
        "<fieldset><legend>For the login tool (optional)</legend>"
        f"{field('username', 'Username', 'text', keep=True)}"
        f"{field('email', 'Email', 'email', keep=True)}"
        f"{field('password', 'Password', 'password')}"
        '</fieldset><button type="submit" id="link">Link account</button></form>'
    )
    return _page("Link your OAS account", body, status)


def _linked(oas_username: str, csrf: str) -> HTMLResponse:
    body = (
        f'<p class="done" id="linked">Linked: Hello world @{escape(oas_username)}</p>'
        "<p>Your assistant now acts as this OAS account. You can close this page, and go back to the conversation.</p>"
        f'<form method="post" action="{UNLINK}"><input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit" class="quiet" id="unlink">Unlink</button></form>'
    )
    return _page("OAS account linked", body)


# -- wiring, for the HTTP host -------------------------------------------------------------------------------------


def link_page(settings: Settings, issuer: Issuer, shared: Callable[[], OASClient]) -> LinkPage:
    """The link page the settings ask for, its accounts database open and migrated (close it with the page's
    store), its issuer checked when it answers. Raises SettingsError when the client of the issuer is not set, the
    issuer has no authorization or token endpoint, or the database cannot be opened."""
    from oas_mcp.accounts import connect_store

    client_id, secret = settings.oauth_client_id, settings.oauth_client_secret
    if client_id is None or secret is None:
        raise SettingsError(
            "linked accounts (OAS_ACCOUNTS_KEY_FILE) need OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET (or "
            "OAS_OAUTH_CLIENT_SECRET_FILE): the link page signs people in as that client of the issuer, with "
            f"redirect URI {origin_of(settings.public_url or '')}{CALLBACK}"
        )
    anyio.run(_check_endpoints, Issuer(issuer.url))
    store = connect_store(settings)
    return LinkPage(store, issuer, Introspection(client_id, secret), origin_of(settings.public_url or ""), shared)


async def _check_endpoints(issuer: Issuer) -> None:
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
