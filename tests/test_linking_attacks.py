"""Linked accounts, attacked: what a hostile user, a victim's browser, a careless operator or two racing replicas
can make the link page and the store do. Each test shows what a user would see; the fixtures are
tests/test_linking.py's."""

from __future__ import annotations

import contextlib
import secrets
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest
from cryptography.fernet import Fernet
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.shared.exceptions import UrlElicitationRequiredError
from mcp_types import ClientCapabilities, ElicitationCapability, UrlElicitationCapability
from pydantic import SecretStr
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

import oas_mcp.accounts.store
from oas_mcp.accounts import AccountStore, Link, LinkedAccount, LinkRefused, Subject, open_store
from oas_mcp.accounts.databases import Session
from oas_mcp.sandbox import (
    DEMO2_EMAIL,
    DEMO2_PASSWORD,
    DEMO2_USERNAME,
    DEMO_API_KEY,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_USERNAME,
)
from oas_mcp.settings import Settings
from oas_mcp.tools.credentials import Clients
from oas_mcp.tools.linked import MAX_WATCHED, LinkedAccounts

from http_clients import session
from support import error_text
from pg_server import fresh_schema

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
    with replica(linking, OAS_LOG_LEVEL="DEBUG") as debugging:
        async with mcp_as(debugging, alice) as client:
            url = (await asked_to_link(client)).url.replace(linking.server.url, debugging.server.url)
            async with browser(debugging, alice) as opened:
                form = await opened.open(url)
                linked = await opened.submit(
                    form,
                    to=debugging.server.url,
                    api_key=DEMO_API_KEY,
                    **login(DEMO_USERNAME, DEMO_EMAIL, DEMO_PASSWORD),
                )
        log = debugging.server.output()

    assert shown(linked, "linked") == f"Linked: Hello world @{DEMO_USERNAME}"
    token = url.rsplit("/", 1)[1]
    assert [
        name
        for name, secret in (("link token", token), ("API key", DEMO_API_KEY), ("password", DEMO_PASSWORD))
        if secret in log
    ] == []


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
    assert error_text(hello).startswith("This call's OAuth token names no person (it has no sub claim")


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


class McpSession:
    """What the MCP side uses of a client's session that declared URL elicitation: what it was told completed."""

    def __init__(self) -> None:
        self.client_capabilities = ClientCapabilities(elicitation=ElicitationCapability(url=UrlElicitationCapability()))
        self._connection = SimpleNamespace(exit_stack=contextlib.AsyncExitStack())
        self.told: list[str] = []

    async def send_elicit_complete(self, elicitation_id: str) -> None:
        self.told.append(elicitation_id)


async def asked(linked: LinkedAccounts, sub: str, session: McpSession) -> str:
    """``sub`` calls a tool in ``session``: the elicitation id of the link it is asked to open."""
    claims = {"iss": ISSUER, "sub": sub}  # as the verifier keeps them
    token = AccessToken(token="t", client_id="claude", scopes=[], subject=sub, claims=claims)
    reset = auth_context_var.set(AuthenticatedUser(token))
    try:
        await linked.client(cast("Any", SimpleNamespace(session=session)), cast("Clients", None))
    except UrlElicitationRequiredError as required:
        elicitation_id = required.elicitations[0].elicitation_id
        assert elicitation_id is not None
        return elicitation_id
    finally:
        auth_context_var.reset(reset)
    raise AssertionError("not asked to link")


async def test_one_person_calling_in_a_loop_does_not_cost_another_their_completion_notice() -> None:
    """Mallory's client calls tools in a loop without ever linking: each call makes a link, watched for completion.
    The store keeps her newest links alone (older ones can never complete), but every call is watched; past the
    replica's cap the oldest watches are dropped, alice's among them, so alice's client is never told her link was
    used. (Each also stays in mallory's session's exit stack for as long as it lives.)"""
    linked = LinkedAccounts(cast("AccountStore", NobodyLinked()), lambda token: f"https://mcp.example.com/link/{token}")
    alices, mallorys = McpSession(), McpSession()
    alice_asked = await asked(linked, "alice", alices)
    for _ in range(MAX_WATCHED):
        await asked(linked, "mallory", mallorys)

    await linked.completed(alice_asked)  # alice used her link, on this replica

    assert alices.told == [alice_asked]
