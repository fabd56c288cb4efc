"""Linked accounts, attacked: what a hostile user, a victim's browser, a careless operator or two racing replicas
can make the link page and the store do. Each test shows what a user would see; the fixtures are
tests/test_linking.py's."""

from __future__ import annotations

import contextlib
import html
import json
import secrets
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from cryptography.fernet import Fernet
from mcp import Client, MCPError
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.connection import Connection
from mcp.server.session import ServerSession
from mcp.shared.exceptions import UrlElicitationRequiredError
from mcp_types import ClientCapabilities, ElicitationCapability, ElicitResult, UrlElicitationCapability
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Route

import oas_mcp.accounts.store
from oas_mcp.accounts import AccountStore, Link, LinkedAccount, LinkRefused, Subject, open_store
from oas_mcp.accounts.databases import Session
from oas_mcp.accounts.mcp import MAX_WATCHED, NO_PERSON, LinkedAccounts
from oas_mcp.accounts.page import LinkPage
from oas_mcp.accounts.page.signin import MAX_SIGN_INS, SIGN_IN_REFILL
from oas_mcp.accounts.page.texts import sign_ins_paused
from oas_mcp.accounts.store import MAX_FAILED_CHECKS, MAX_SUBJECT_CHECKS
from oas_mcp.cli.options import make_client
from oas_mcp.client import OASClient
from oas_mcp.client._routes import LOGIN
from oas_mcp.hosting.oauth import Issuer, OAuthClient
from oas_mcp.redact import MASK
from oas_mcp.sandbox import (
    DEMO2_EMAIL,
    DEMO2_PASSWORD,
    DEMO2_USERNAME,
    DEMO_API_KEY,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    Sandbox,
)
from oas_mcp.server import build_server
from oas_mcp.server.credentials import Clients
from oas_mcp.settings import Settings

from http_clients import in_session as in_mcp_session
from http_clients import post_initialize, post_message, session
from pg_server import fresh_schema
from support import client_for, error_text, settings_for
from test_linking import (
    Linking,
    asked_to_link,
    browser,
    link,
    linking,
    login,
    mcp_as,
    person,
    replica,
    shown,
)

pytestmark = pytest.mark.anyio

__all__ = ["linking"]  # the fixture, used by name

ISSUER = "https://login.example.com/realms/team"


# --- The link page ------------------------------------------------------------------------------------------------


async def test_the_callback_does_not_show_an_attackers_text_to_a_browser_signing_in(linking: Linking) -> None:
    """Alice opened her link (her browser holds the page's sign-in cookie); a page of mallory's then sends her
    browser to the callback with an "error" of mallory's wording, and no state of this sign-in."""
    alice = person()
    lure = "Your OAS key was revoked: email it to support@evil.example to restore access"
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
    async with browser(linking, alice) as opened:
        await opened.http.get(url, follow_redirects=False)  # the sign-in cookie is set; the issuer is not visited
        forged = await opened.http.get(
            f"{linking.server.url}/link/callback", params={"error": "access_denied", "error_description": lure}
        )

    assert forged.status_code == 400
    assert lure not in forged.text


# --- The store, raced ---------------------------------------------------------------------------------------------


async def test_made_up_sign_in_codes_sent_back_in_a_loop_reach_the_issuer_a_few_times(linking: Linking) -> None:
    """A person opens a link of theirs and, signed in nowhere, sends its sign-in back to the page with made-up codes,
    in a loop: each would have oas-mcp redeem a code at the issuer as its client, which an issuer may throttle or
    lock out. A few do; the rest are told to wait a while."""
    alice = person()
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
    async with httpx2.AsyncClient(timeout=60) as http:  # its cookies kept, redirects not followed
        started = await http.get(url)
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        before = linking.fake.redemptions
        answers = [
            (await http.get(f"{linking.server.url}/link/callback", params={"state": state, "code": code})).status_code
            for code in (secrets.token_urlsafe(16) for _ in range(2 * MAX_SIGN_INS))
        ]
        reached = linking.fake.redemptions - before
        waited = await http.get(f"{linking.server.url}/link/callback", params={"state": state, "code": "x"})

    assert answers == [503] * MAX_SIGN_INS + [429] * MAX_SIGN_INS  # 503: the issuer refused the code
    assert reached == MAX_SIGN_INS
    assert html.unescape(waited.text).count(sign_ins_paused(SIGN_IN_REFILL)) == 1


def account(name: str, key: str) -> LinkedAccount:
    return LinkedAccount(oas_username=name, api_key=SecretStr(key))


@pytest.mark.parametrize("database", ["SQLite", "PostgreSQL"])
async def test_one_link_posted_on_two_replicas_at_once_links_one_account(
    database: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two POSTs of one form reach two replicas at once (a double click behind a load balancer, or two tabs): each
    reads the link as unused before either marks it used. The link is single-use: one of them must be refused.
    (SQLite's transactions take its write lock first: there the second cannot read before the first commits.)"""
    keys = tmp_path / "keys"
    keys.write_bytes(Fernet.generate_key())
    monkeypatch.setenv("OAS_ACCOUNTS_KEY_FILE", str(keys))
    if database == "PostgreSQL":
        monkeypatch.setenv("OAS_DATABASE_URL", fresh_schema(request.getfixturevalue("postgres")))
    else:
        monkeypatch.setenv("OAS_ACCOUNTS_PATH", str(tmp_path / "accounts.sqlite3"))
    both_read = threading.Barrier(2)
    usable = oas_mcp.accounts.store._usable

    def read_together(session: Session, token: str) -> oas_mcp.accounts.store.Link:
        link = usable(session, token)
        if database == "PostgreSQL":  # on SQLite, the first one's read holds the other back
            both_read.wait(timeout=10)  # both replicas have read the link now
        return link

    monkeypatch.setattr(oas_mcp.accounts.store, "_usable", read_together)
    alice = Subject(ISSUER, "alice")
    settings = Settings.load()
    outcomes: dict[str, str] = {}
    async with open_store(settings) as one, open_store(settings) as two:
        link = await one.start_link(alice)

        async def post(store: AccountStore, key: str) -> None:
            try:
                await store.complete_link(link.token, alice, account(key, key))
                outcomes[key] = "linked"
            except LinkRefused as refused:
                outcomes[key] = refused.reason

        async with anyio.create_task_group() as group:
            group.start_soon(post, one, "first-key")
            group.start_soon(post, two, "second-key")
        events = await one.events(alice)

    assert sorted(outcomes.values()) == ["linked", "used"]
    assert [event.event for event in events] == ["link"]


# --- Secrets in the log -------------------------------------------------------------------------------------------


async def test_an_operator_debugging_finds_no_link_token_key_or_password_in_the_log(linking: Linking) -> None:
    """An operator turns on DEBUG to see why linking fails for someone; the log is shipped to a log service many
    read. It must not hold what links an account: the link's token, the key, the password."""
    alice = person()
    assert linking.environment["OAS_LOG_LEVEL"] == "DEBUG"
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
        async with browser(linking, alice) as opened:
            form = await opened.open(url)
            linked = await opened.submit(form, api_key=DEMO_API_KEY, **login(DEMO_USERNAME, DEMO_EMAIL, DEMO_PASSWORD))
    log = linking.server.output()

    assert shown(linked, "linked") == f"Linked: Hello world @{DEMO_USERNAME}"
    token = url.rsplit("/", 1)[1]
    assert [
        name
        for name, secret in (("link token", token), ("API key", DEMO_API_KEY), ("password", DEMO_PASSWORD))
        if secret in log
    ] == []


async def test_what_clients_and_issuers_send_forges_no_log_line_and_the_sign_in_code_is_not_logged(
    linking: Linking,
) -> None:
    """The operator debugging reads the text log. A client names a tool and a notification with a newline and a made-up
    line after it; mallory signs in at the issuer as a subject named so, on alice's link. Every line must be one
    oas-mcp wrote, and the access line of the sign-in's callback must not show its authorization code or state."""
    forged = "2099-01-01 00:00:00,000 WARNING oas_mcp.accounts.page: forged"
    alice = person()
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
        called = await client.call_tool(f"hello\n{forged}", {})
    authorization = {"Authorization": f"Bearer {linking.token(alice)}"}
    session_id = post_initialize(linking.server.mcp, **authorization).headers["mcp-session-id"]
    notification = json.dumps({"jsonrpc": "2.0", "method": f"notifications/x\n{forged}"})
    post_message(linking.server.mcp, notification, **authorization, **in_mcp_session(session_id))
    async with browser(linking, f"mallory\n{forged}") as opened:
        refused = await opened.open(url)
    log = linking.server.output()  # each line was written before its response was sent

    assert called.is_error
    assert refused.status_code == 403  # the link was made for alice
    assert [line for line in log.splitlines() if line.startswith("2099")] == []
    assert f"no handler for notification notifications/x\\n{forged}\n" in log
    assert f"mallory\\n{forged} signed in on the link page" in log
    code, state = refused.url.params["code"], refused.url.params["state"]
    assert f'"GET /link/callback?code={MASK}&state={MASK} HTTP/1.1" 403' in log
    assert [secret for secret in (code, state) if secret in log] == []


# --- Who the MCP side takes a caller for --------------------------------------------------------------------------


async def test_a_service_token_without_a_subject_does_not_act_as_the_person_its_client_id_names(
    linking: Linking,
) -> None:
    """An opaque token with no ``sub`` (a client_credentials token, say) is taken as subject = its client_id. Alice
    linked her account; a service client whose client ID happens to be (or was registered as) alice's subject must not
    act as alice's OAS account."""
    alice = person()
    async with mcp_as(linking, alice) as client:
        await link(linking, (await asked_to_link(client)).url, alice, DEMO_API_KEY)
    service = linking.fake.opaque_token(sub=None, client_id=alice, aud=linking.environment["OAS_PUBLIC_URL"])
    async with session(linking.server.mcp, token=service, mode="legacy") as client:
        hello = await client.call_tool("hello", {})

    assert hello.is_error
    assert DEMO_USERNAME not in str(hello.content)
    assert error_text(hello).startswith(NO_PERSON)


def service_token(linking: Linking, name: str, claims: dict[str, Any] | None = None) -> str:
    """A JWT of the service ``name``'s own: client_credentials, as RFC 9068 shapes it (its subject is its client
    ID), unless ``claims`` say otherwise."""
    shaped = {"aud": linking.environment["OAS_PUBLIC_URL"], "sub": name, "client_id": name, **(claims or {})}
    return linking.fake.token(**shaped)


@pytest.mark.parametrize(
    "claims",
    [
        lambda name: {},  # RFC 9068: sub is client_id (node-oidc-provider, Okta)
        lambda name: {"client_id": None, "azp": name},  # the client in azp instead
        lambda name: {"client_id": "pipeline", "gty": "client-credentials"},  # Auth0: sub is "{client_id}@clients"
        lambda name: {"client_id": "pipeline", "idtyp": "app"},  # Entra ID, with the idtyp optional claim
    ],
    ids=["sub is client_id", "sub is azp", "gty", "idtyp"],
)
async def test_a_services_own_token_is_never_asked_to_link(
    linking: Linking, claims: Callable[[str], dict[str, Any]]
) -> None:
    service = person()
    token = service_token(linking, service, claims(service))
    async with session(linking.server.mcp, token=token, mode="legacy", elicitation_callback=elicited) as client:
        hello = await client.call_tool("hello", {})

    assert error_text(hello) == NO_PERSON


async def test_an_account_a_person_linked_under_a_services_name_never_applies_to_the_service(linking: Linking) -> None:
    """A person signs in under the subject that is also a pipeline's client ID (an issuer where both are names
    people pick) and links their account: the pipeline's client_credentials token names that subject too, and must
    not act as their account."""
    name = person()
    async with mcp_as(linking, name) as client:
        await link(linking, (await asked_to_link(client)).url, name, DEMO_API_KEY)
        own = await client.call_tool("hello", {})
    async with session(linking.server.mcp, token=service_token(linking, name), mode="legacy") as client:
        hello = await client.call_tool("hello", {})
        unlinked = await client.call_tool("unlink_account", {})
    async with mcp_as(linking, name) as client:
        still = await client.call_tool("hello", {})

    assert DEMO_USERNAME in str(own.content)
    assert error_text(hello) == NO_PERSON
    assert error_text(unlinked) == NO_PERSON
    assert DEMO_USERNAME in str(still.content)  # the service could not unlink the person's account either


# --- The form as an oracle ----------------------------------------------------------------------------------------


async def test_the_form_does_not_tell_whether_a_password_of_someone_elses_account_is_right(linking: Linking) -> None:
    """Mallory, with her own key, types demo2's username and email and guesses at the password: the page tries each
    guess at the API's login from the server, as often as she likes, and says which one signs in ("These sign in as
    @demo2"). The login fields must be the key's account's; another account's are refused the same way whatever the
    password."""
    mallory = person()
    async with mcp_as(linking, mallory) as client:
        url = (await asked_to_link(client)).url
    async with browser(linking, mallory) as opened:
        form = await opened.open(url)
        wrong = await opened.submit(form, api_key=DEMO_API_KEY, **login(DEMO2_USERNAME, DEMO2_EMAIL, "a-wrong-guess"))
        right = await opened.submit(form, api_key=DEMO_API_KEY, **login(DEMO2_USERNAME, DEMO2_EMAIL, DEMO2_PASSWORD))

    assert (right.status_code, shown(right, "error")) == (wrong.status_code, shown(wrong, "error"))


# --- Pending elicitations -----------------------------------------------------------------------------------------


class NobodyLinked:
    """A store where nobody has linked an account yet, and links are made without a database."""

    async def get(self, subject: Subject) -> None:
        return None

    async def start_link(self, subject: Subject) -> Link:
        return Link(secrets.token_urlsafe(32), subject, secrets.token_urlsafe(16))


class Told:
    """A client's stream, as far as the MCP side writes to it: the elicitations it was told completed."""

    def __init__(self) -> None:
        self.told: list[str] = []
        self.was_told = anyio.Event()

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: object = None) -> None:
        assert method == "notifications/elicitation/complete"
        assert params is not None
        self.told.append(params["elicitationId"])
        self.was_told.set()

    async def send_raw_request(self, method: str, params: Mapping[str, Any] | None, opts: object = None) -> Any:
        raise NotImplementedError


class Stalled(Told):
    """The stream of a client that stopped reading: writing anything to it never ends."""

    async def notify(self, method: str, params: Mapping[str, Any] | None, opts: object = None) -> None:
        await anyio.sleep_forever()


def connection(stream: Told) -> Connection:
    """The SDK's connection of a client that declared URL elicitation, writing to ``stream``."""
    made = Connection.for_loop(stream)
    made.client_capabilities = ClientCapabilities(elicitation=ElicitationCapability(url=UrlElicitationCapability()))
    return made


@contextlib.contextmanager
def calling_as(sub: str) -> Iterator[None]:
    """The current request is ``sub``'s, signed in at ``ISSUER``."""
    claims = {"iss": ISSUER, "sub": sub}  # as the verifier keeps them
    token = AccessToken(token="t", client_id="claude", scopes=[], subject=sub, claims=claims)
    reset = auth_context_var.set(AuthenticatedUser(token))
    try:
        yield
    finally:
        auth_context_var.reset(reset)


def on(connection: Connection) -> Any:
    """A request on ``connection``, as the MCP side reads one: with a session of its own, as the SDK makes them."""
    return cast("Any", SimpleNamespace(session=ServerSession(cast("Any", None), connection)))


async def asked(linked: LinkedAccounts, sub: str, connection: Connection) -> str:
    """``sub`` calls a tool on ``connection``: the elicitation id of the link it is asked to open."""
    with calling_as(sub), pytest.raises(UrlElicitationRequiredError) as required:
        await linked.client(on(connection), cast("Clients", None))
    elicitation_id = required.value.elicitations[0].elicitation_id
    assert elicitation_id is not None
    return elicitation_id


def link_url(token: str) -> str:
    return f"https://mcp.example.com/link/{token}"


async def test_one_person_calling_in_a_loop_does_not_cost_another_their_completion_notice() -> None:
    """Mallory's client calls tools in a loop without ever linking: each call makes a link, watched for completion.
    The store keeps her newest links alone (older ones can never complete), but every call is watched; past the
    replica's cap the oldest watches are dropped, alice's among them, so alice's client is never told her link was
    used. (Each also stays in mallory's session's exit stack for as long as it lives.)"""
    linked = LinkedAccounts(cast("AccountStore", NobodyLinked()), link_url)
    alices, mallorys = Told(), Told()
    alice_asked = await asked(linked, "alice", connection(alices))
    mallorys_connection = connection(mallorys)
    for _ in range(MAX_WATCHED):
        await asked(linked, "mallory", mallorys_connection)

    await linked.notify_completed(alice_asked)  # alice used her link, on this replica

    assert alices.told == [alice_asked]


async def elicited(context: Any, params: Any) -> ElicitResult:
    return ElicitResult(action="accept")  # a client that declares URL elicitation


async def test_a_long_session_leaves_one_teardown_behind_and_its_end_stops_its_watches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client keeps one session open for days, and calls tools unlinked again and again, through the real SDK
    (which makes a session object per request, on the session's one connection): what the session's end must undo
    is registered once, not once per call (before, 5 calls left 5 entries, each with its own teardown); and once
    the session ended, nothing of it is watched."""
    linked = LinkedAccounts(cast("AccountStore", NobodyLinked()), link_url)
    teardowns: list[Connection] = []
    end = linked._ended

    def ended(connection: Connection) -> None:  # what the session's end calls back
        teardowns.append(connection)
        end(connection)

    monkeypatch.setattr(linked, "_ended", ended)
    sandbox = Sandbox()
    server = build_server(settings_for(), lambda: client_for(sandbox), linked=linked)
    asked_for: list[str | None] = []
    with calling_as("mallory"):  # the server's tasks, started within, are mallory's
        async with Client(server, mode="legacy", elicitation_callback=elicited) as client:
            for _ in range(5):
                with pytest.raises(MCPError) as required:
                    await client.call_tool("hello", {})
                (elicitation,) = UrlElicitationRequiredError.from_error(required.value.error).elicitations
                asked_for.append(elicitation.elicitation_id)
            watched, torn_down_meanwhile = len(linked._watched), len(teardowns)

    assert (len(set(asked_for)), watched, torn_down_meanwhile) == (5, 5, 0)
    assert len(teardowns) == 1
    assert linked._watched == {}


class UsedElsewhere(NobodyLinked):
    """A store where the links ``used`` names were used (on another replica), in that order."""

    def __init__(self) -> None:
        self.used: list[str] = []

    async def completed_links(self, elicitation_ids: Collection[str]) -> list[str]:
        return [used for used in self.used if used in elicitation_ids]


async def test_a_stalled_session_holds_up_neither_the_page_nor_anyone_elses_notice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bob's client stopped reading its session, with links pending: telling it that they were used never ends. The
    page that completed one must still answer, and alice, whose link was used at the same time, must be told."""
    monkeypatch.setattr(oas_mcp.accounts.mcp, "NOTIFY_TIMEOUT", 0.05)
    monkeypatch.setattr(oas_mcp.accounts.mcp, "POLL_INTERVAL", 0.01)
    store = UsedElsewhere()
    linked = LinkedAccounts(cast("AccountStore", store), link_url)
    bobs, alices = connection(Stalled()), Told()
    on_the_page, elsewhere = await asked(linked, "bob", bobs), await asked(linked, "bob", bobs)
    alice_asked = await asked(linked, "alice", connection(alices))
    store.used = [elsewhere, alice_asked]

    with anyio.fail_after(10):  # a hang, not a measure
        await linked.notify_completed(on_the_page)
        async with anyio.create_task_group() as serving:
            serving.start_soon(linked.run)
            await alices.was_told.wait()
            serving.cancel_scope.cancel()

    assert alices.told == [alice_asked]


class AliceLinked(NobodyLinked):
    """A store where alice linked the demo account, until she unlinks it."""

    def __init__(self) -> None:
        self.account: LinkedAccount | None = account(DEMO_USERNAME, DEMO_API_KEY)

    async def get(self, subject: Subject) -> LinkedAccount | None:  # type: ignore[override]
        return self.account

    async def unlink(self, subject: Subject) -> bool:
        self.account = None
        return True


async def test_unlinking_drops_the_client_of_the_account_at_once() -> None:
    """Alice unlinks: the client made for her credentials goes with them, not when a thousand others push it out."""
    linked = LinkedAccounts(cast("AccountStore", AliceLinked()), link_url)
    shared = SimpleNamespace(with_credentials=lambda credentials: SimpleNamespace(credentials=credentials))
    clients = Clients(cast("OASClient", shared), per_request=False)
    with calling_as("alice"):
        await linked.client(on(connection(Told())), clients)
        cached = len(clients)
        said = await linked.unlink()

    assert said.startswith(f"Unlinked OAS account @{DEMO_USERNAME}")
    assert (cached, len(clients)) == (1, 0)


# --- The page, when things go wrong -------------------------------------------------------------------------------


async def test_a_sign_in_error_is_told_in_the_pages_own_words_and_the_link_still_works(linking: Linking) -> None:
    """The issuer sends alice back with an error, and text with it (which anyone who made her browser come here
    could have written): the page says what the error code means, in its own words, and the link still works."""
    alice = person()
    lure = "Your OAS key was revoked: email it to support@evil.example to restore access"
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
    async with browser(linking, alice) as opened:
        started = await opened.http.get(url, follow_redirects=False)
        state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
        callback = f"{linking.server.url}/link/callback"
        declined = await opened.http.get(
            callback, params={"error": "access_denied", "error_description": lure, "state": state}
        )
        unheard_of = await opened.http.get(callback, params={"error": lure, "state": state})
        form = await opened.open(url)

    retry = "Nothing was changed, and your link still works: open it again to try again."
    assert (declined.status_code, shown(declined, "error")) == (
        400,
        f"The sign-in was declined, at the identity provider. {retry}",
    )
    assert (unheard_of.status_code, shown(unheard_of, "error")) == (
        400,
        f"The identity provider did not complete the sign-in. {retry}",
    )
    assert form.status_code == 200
    assert 'id="api_key"' in form.text


async def opened_while_the_issuer(linking: Linking, **changed: Any) -> tuple[httpx2.Response, httpx2.Response]:
    """Someone opens their new link while the issuer's attributes are ``changed``, then again once they are back:
    both pages."""
    alice = person()
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
    with pytest.MonkeyPatch.context() as patched:
        for name, value in changed.items():
            patched.setattr(linking.fake, name, value)
        async with browser(linking, alice) as opened:
            failed = await opened.open(url)
    async with browser(linking, alice) as opened:
        return failed, await opened.open(url)


async def test_when_the_issuer_is_down_the_page_says_the_link_still_works_and_shows_no_issuer_url(
    linking: Linking,
) -> None:
    down, form = await opened_while_the_issuer(linking, down=True)

    assert (down.status_code, shown(down, "error")) == (
        503,
        "The identity provider could not complete your sign-in right now. Nothing was changed, and your link still "
        "works: open it again in a moment.",
    )
    assert linking.fake.url not in down.text
    assert form.status_code == 200


async def test_a_stranger_without_the_pages_cookie_is_refused_everywhere_and_stores_nothing(linking: Linking) -> None:
    """Mallory posts a key to alice's link, asks to unlink, and comes back from the issuer, all without ever
    signing in on the page: each is refused, and nothing is stored."""
    alice = person()
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
    async with httpx2.AsyncClient() as mallory:
        posted = await mallory.post(url, data={"api_key": DEMO_API_KEY, "csrf": "guessed"})
        unlinked = await mallory.post(f"{linking.server.url}/link/unlink", data={"csrf": "guessed"})
        back = await mallory.get(f"{linking.server.url}/link/callback", params={"code": "stolen", "state": "guessed"})

    signed_out = "Your sign-in on this page is missing or has expired. Open the link from your assistant again."
    assert [(page.status_code, shown(page, "error")) for page in (posted, unlinked, back)] == [
        (403, signed_out),
        (403, signed_out),
        (400, signed_out),
    ]
    assert linking.query(f"SELECT * FROM oas_mcp_accounts WHERE sub = '{alice}'") == []


async def test_an_id_token_the_page_cannot_verify_signs_nobody_in_and_the_link_still_works(linking: Linking) -> None:
    """The issuer answers the sign-in with an ID token for another sign-in (its nonce is not this one's): nobody is
    signed in, the page says so in its own words, and the link still works."""
    issued = linking.fake.id_token
    refused, form = await opened_while_the_issuer(linking, id_token=lambda sign_in: issued(sign_in, nonce="another"))

    assert (refused.status_code, shown(refused, "error")) == (
        400,
        "The identity provider's answer could not be verified, so you are not signed in here. Nothing was changed, "
        "and your link still works: open it again to try again.",
    )
    assert "<title>Sign-in failed · oas-mcp</title>" in refused.text
    assert 'id="api_key"' in form.text


async def test_when_the_accounts_database_fails_the_page_says_so_and_no_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table of links is gone from under a running page (a careless operator): opening a link is answered
    503, in the page's words, with nothing of the database's."""
    keys = tmp_path / "keys"
    keys.write_bytes(Fernet.generate_key())
    monkeypatch.setenv("OAS_ACCOUNTS_KEY_FILE", str(keys))
    monkeypatch.setenv("OAS_ACCOUNTS_PATH", str(tmp_path / "accounts.sqlite3"))
    async with open_store(Settings.load()) as store:
        with sqlite3.connect(tmp_path / "accounts.sqlite3") as database:
            database.execute("DROP TABLE oas_mcp_links")
        client = OAuthClient("oas-mcp", SecretStr("secret"))
        page = LinkPage(store, Issuer(ISSUER), client, "https://mcp.example.com", lambda: make_client(Settings.load()))
        app = Starlette(routes=[Route(path, handler, methods=[method]) for path, method, handler in page.routes()])
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="https://mcp.example.com") as http:
            opened = await http.get(f"/link/{secrets.token_urlsafe(32)}")

    assert (opened.status_code, shown(opened, "error")) == (
        503,
        "The server's database of linked accounts failed; nothing was stored. Try again in a minute.",
    )
    assert "oas_mcp_links" not in opened.text
    assert opened.headers["cache-control"] == "no-store"


async def test_a_link_is_given_up_after_five_refused_checks(linking: Linking) -> None:
    """Mallory guesses keys, then another account's password, on her own link: after the fifth refusal the link no
    longer works, whatever she sends next, and nothing was stored."""
    mallory = person()
    async with mcp_as(linking, mallory) as client:
        url = (await asked_to_link(client)).url
    async with browser(linking, mallory) as opened:
        form = await opened.open(url)
        guesses = [await opened.submit(form, api_key="x" * 41) for _ in range(3)]
        others = login(DEMO2_USERNAME, DEMO2_EMAIL, DEMO2_PASSWORD)
        guesses += [await opened.submit(form, api_key=DEMO_API_KEY, **others) for _ in range(2)]
        reopened = await opened.open(url)
        right = await opened.submit(form, api_key=DEMO_API_KEY)

    assert [guess.status_code for guess in guesses] == [400, 400, 400, 400, 410]
    assert shown(guesses[-1], "error") == (
        f"This link no longer works: the credentials given on it were refused {MAX_FAILED_CHECKS} times, so it was "
        "given up to protect your accounts. Nothing was stored. Ask your assistant again for a new link."
    )
    assert (reopened.status_code, right.status_code) == (410, 410)
    assert linking.query(f"SELECT * FROM oas_mcp_accounts WHERE sub = '{mallory}'") == []


@contextlib.asynccontextmanager
async def replica_on(api: Sandbox, linking: Linking, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Linking]:
    """Another replica of ``linking`` (see test_linking.replica) whose OAS API is ``api``: a test counts what reaches
    it."""
    monkeypatch.setattr(
        "oas_mcp.cli.options.connector", lambda settings, sandbox: lambda: make_client(settings, api.transport())
    )
    async with replica(linking, monkeypatch) as other:
        yield other


def logins(api: Sandbox) -> int:
    """How many sign-ins reached ``api``."""
    return sum(url.endswith(LOGIN) for _, url in api.requests)


async def posted_at_once(
    linking: Linking, other: Linking, sub: str, passwords: list[str]
) -> dict[str, httpx2.Response]:
    """``sub`` asks ``linking`` for a link, opens it, and sends its form to ``other`` once for each of ``passwords``,
    all at once: the demo key, with the demo account's username, email and that password. The page each got."""
    async with mcp_as(linking, sub) as client:
        url = (await asked_to_link(client)).url
    async with browser(linking, sub) as opened:
        form = await opened.open(url)
        posted: dict[str, httpx2.Response] = {}

        async def post(password: str) -> None:
            fields = login(DEMO_USERNAME, DEMO_EMAIL, password)
            posted[password] = await opened.submit(form, to=other.server.url, api_key=DEMO_API_KEY, **fields)

        async with anyio.create_task_group() as group:
            for password in passwords:
                group.start_soon(post, password)
    return posted


async def test_thirty_wrong_passwords_posted_at_once_reach_the_api_five_times(
    linking: Linking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mallory has her key and guesses at its account's password: she posts 30 guesses on her link at once, before
    the page has counted any refusal. Each is a login at the API, from the server (enough to have it throttled, or
    the account locked). A link allows 5 refused checks: the 5 under way count."""
    api, mallory = Sandbox(), person()
    async with replica_on(api, linking, monkeypatch) as other:
        posted = await posted_at_once(linking, other, mallory, [f"guess-{number}" for number in range(30)])

    assert logins(api) == MAX_FAILED_CHECKS
    statuses = sorted(page.status_code for page in posted.values())
    assert statuses == [400] * (MAX_FAILED_CHECKS - 1) + [410] * (30 - MAX_FAILED_CHECKS + 1)
    assert linking.query(f"SELECT * FROM oas_mcp_accounts WHERE sub = '{mallory}'") == []


async def test_a_person_making_link_after_link_has_ten_checks_an_hour(
    linking: Linking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Links cost nothing to make: each tool call makes one. Mallory guesses 5 passwords on each of her links in
    turn; past 10 refusals in the hour, no more reach the API, whichever link she uses, and the page says why."""
    api, mallory = Sandbox(), person()
    async with replica_on(api, linking, monkeypatch) as other:
        async with mcp_as(linking, mallory) as client:
            urls = [(await asked_to_link(client)).url for _ in range(3)]
        async with browser(linking, mallory) as opened:
            posted = []
            for url in urls:
                form = await opened.open(url)
                for number in range(MAX_FAILED_CHECKS):
                    fields = login(DEMO_USERNAME, DEMO_EMAIL, f"guess-{number}")
                    posted.append(await opened.submit(form, to=other.server.url, api_key=DEMO_API_KEY, **fields))

    assert logins(api) == MAX_SUBJECT_CHECKS
    per_link = [400] * (MAX_FAILED_CHECKS - 1) + [410]
    assert [page.status_code for page in posted] == [*per_link, *per_link, *[429] * MAX_FAILED_CHECKS]
    assert shown(posted[-1], "error") == (
        f"Credentials given on your links were checked {MAX_SUBJECT_CHECKS} times within 60 minutes without "
        "linking an account, so checking is paused for up to 60 minutes to protect your accounts. Nothing was "
        "stored. Ask your assistant again for a new link then."
    )


async def test_a_right_key_posted_with_four_wrong_ones_still_links(
    linking: Linking, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice mistypes her password four times in four tabs, and sends the right one from a fifth, all at once: the
    fifth check a link allows links her account."""
    api, alice = Sandbox(), person()
    typos = [f"typo-{number}" for number in range(MAX_FAILED_CHECKS - 1)]
    async with replica_on(api, linking, monkeypatch) as other:
        posted = await posted_at_once(linking, other, alice, [*typos, DEMO_PASSWORD])

    assert shown(posted.pop(DEMO_PASSWORD), "linked") == f"Linked: Hello world @{DEMO_USERNAME}"
    assert {page.status_code for page in posted.values()} <= {400, 410}  # refused, or the link was used meanwhile
    assert logins(api) <= MAX_FAILED_CHECKS
