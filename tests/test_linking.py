"""Linked accounts, served: a person signed in through OAuth who linked no OAS account is sent to the link page; the
page signs them in at the issuer (tests/oauth_issuer.py, its "browser" an httpx2 client following redirects), takes
their key, and from then on their tools act as their own account. Refusals store nothing; replicas share it all."""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypedDict

import anyio
import httpx2
import pytest
import uvicorn
from cryptography.fernet import Fernet
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
from mcp_types import URL_ELICITATION_REQUIRED, ElicitRequestURLParams, ElicitResult, ResourceTemplateReference

import oas_mcp.cli.options
from oas_mcp.accounts.page import LinkPage, link_page
from oas_mcp.cli.options import make_client
from oas_mcp.hosting.app import http_app, linked_accounts
from oas_mcp.hosting.oauth import Issuer
from oas_mcp.hosting.policy import Policy
from oas_mcp.sandbox import (
    DEMO2_API_KEY,
    DEMO2_EMAIL,
    DEMO2_ORGANISATIONS,
    DEMO2_PASSWORD,
    DEMO2_USERNAME,
    DEMO_API_KEY,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_USERNAME,
)
from oas_mcp.server import build_server
from oas_mcp.settings import Settings, SettingsError, check_combination

from http_clients import session
from oauth_issuer import INTROSPECTOR, FakeIssuer, serving
from support import error_text, free_port, running_on, structured, wait_for

pytestmark = pytest.mark.anyio

HTTP = ("--sandbox", "--transport", "http")
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/link/[\w-]+)")


class Notified:
    """The elicitation ids MCP clients were told were completed (``notifications/elicitation/complete``)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self._changed = anyio.Event()

    def add(self, elicitation_id: str) -> None:
        self.ids.add(elicitation_id)
        self._changed.set()
        self._changed = anyio.Event()

    async def wait_for(self, elicitation_id: str | None) -> None:
        with anyio.fail_after(30):
            while elicitation_id not in self.ids:
                await self._changed.wait()


class Served(Protocol):
    """An oas-mcp serving over HTTP: its origin, MCP endpoint, and what it logged."""

    @property
    def url(self) -> str: ...

    @property
    def mcp(self) -> str: ...

    def output(self) -> str: ...


@dataclass
class Linking:
    """oas-mcp with linked accounts on, its issuer, and where it keeps them (its environment says)."""

    fake: FakeIssuer
    server: Served
    environment: dict[str, str]
    notified: Notified = field(default_factory=Notified)

    def token(self, sub: str) -> str:
        return self.fake.token(aud=self.environment["OAS_PUBLIC_URL"], sub=sub)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.environment["OAS_ACCOUNTS_PATH"]) as connection:
            return connection.execute(sql).fetchall()


def environment(fake: FakeIssuer, port: int, folder: Path) -> dict[str, str]:
    keys = folder / "keys"
    keys.write_bytes(Fernet.generate_key())
    return {
        "OAS_OAUTH_ISSUER": fake.url,
        "OAS_PUBLIC_URL": f"http://127.0.0.1:{port}/mcp",
        "OAS_OAUTH_CLIENT_ID": INTROSPECTOR[0],
        "OAS_OAUTH_CLIENT_SECRET": INTROSPECTOR[1],
        "OAS_ACCOUNTS_KEY_FILE": str(keys),
        "OAS_ACCOUNTS_PATH": str(folder / "accounts.sqlite3"),
    }


class _Served:
    """The one server the tests of linked accounts share in a test process (this module's and
    tests/test_linking_attacks.py's, whose ``linking`` fixture is this one, imported): started when first asked for,
    stopped when the last of them is done. It logs at DEBUG, so that every test also shows no secret is logged then."""

    linking: Linking | None = None
    users = 0
    stack = ExitStack()


@pytest.fixture(scope="session")
def linking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Linking]:
    if _Served.linking is None:
        fake = FakeIssuer(f"http://127.0.0.1:{free_port()}")
        port = free_port()
        env = {**environment(fake, port, tmp_path_factory.mktemp("linking")), "OAS_LOG_LEVEL": "DEBUG"}
        _Served.stack.enter_context(serving(fake))
        server = _Served.stack.enter_context(running_on(port, *HTTP, **env))
        wait_for(server, "signing keys")
        _Served.linking = Linking(fake, server, env)
    _Served.users += 1
    try:
        yield _Served.linking
    finally:
        _Served.users -= 1
        if not _Served.users:
            _Served.linking = None
            _Served.stack.close()


def person() -> str:
    """A subject no other test uses."""
    return f"person-{secrets.token_hex(4)}"


async def elicited(context: Any, params: Any) -> ElicitResult:
    """A client that declares URL elicitation: it would show the URL; here, the test opens it."""
    return ElicitResult(action="accept")


@asynccontextmanager
async def mcp_as(linking: Linking, sub: str, *, url_elicitation: bool = True) -> AsyncIterator[Any]:
    """An MCP session of ``sub``'s; with URL elicitation, elicitation-complete notifications land in
    ``linking.notified``."""

    async def notifications(message: Any) -> None:
        params = getattr(getattr(message, "params", None), "elicitation_id", None)
        if params is not None:
            linking.notified.add(params)

    options: dict[str, Any] = {"message_handler": notifications}
    if url_elicitation:
        options["elicitation_callback"] = elicited
    async with session(linking.server.mcp, token=linking.token(sub), mode="legacy", **options) as client:
        yield client


async def asked_to_link(client: Any) -> ElicitRequestURLParams:
    """The URL elicitation a tool call is answered with."""
    with pytest.raises(MCPError) as caught:
        await client.call_tool("hello", {})
    assert caught.value.error.code == URL_ELICITATION_REQUIRED
    (asked,) = UrlElicitationRequiredError.from_error(caught.value.error).elicitations
    return asked


class Browser:
    """A person's browser: cookies, redirects followed, and the issuer's session as ``fake.browser_user``."""

    def __init__(self, fake: FakeIssuer, user: str) -> None:
        self.fake = fake
        self.user = user
        self.http = httpx2.AsyncClient(follow_redirects=True, timeout=60.0)

    async def open(self, url: str) -> httpx2.Response:
        self.fake.browser_user = self.user
        return await self.http.get(url)

    async def submit(
        self, page: httpx2.Response, *, csrf: bool = True, to: str | None = None, **fields: str
    ) -> httpx2.Response:
        """Fill in the form on ``page`` and send it (``csrf=False``: without its hidden token; ``to``: to that
        origin, as a load balancer may)."""
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action is not None, page.text
        form = {"csrf": csrf_of(page)} if csrf else {}
        return await self.http.post(
            f"{to or ''}{action.group(1)}" if to else str(page.url.join(action.group(1))), data={**form, **fields}
        )

    async def aclose(self) -> None:
        await self.http.aclose()


def csrf_of(page: httpx2.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


@asynccontextmanager
async def browser(linking: Linking, user: str) -> AsyncIterator[Browser]:
    opened = Browser(linking.fake, user)
    try:
        yield opened
    finally:
        await opened.aclose()


def shown(page: httpx2.Response, element: str) -> str:
    """The text of the element with id ``element`` on ``page``."""
    found = re.search(rf'id="{element}">([^<]*)<', page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


async def link(linking: Linking, url: str, user: str, key: str) -> httpx2.Response:
    """``user`` opens the link ``url``, signs in, and links the account of API key ``key``."""
    async with browser(linking, user) as opened:
        form = await opened.open(url)
        assert form.status_code == 200, form.text
        return await opened.submit(form, api_key=key)


# --- Asked to link ------------------------------------------------------------------------------------------------


async def test_an_unlinked_person_is_asked_to_link_by_url_elicitation(linking: Linking) -> None:
    async with mcp_as(linking, person()) as client:
        asked = await asked_to_link(client)

    assert asked.url.startswith(f"{linking.server.url}/link/")
    assert asked.elicitation_id
    assert asked.message.startswith("Link your OAS account: open this page, sign in, and paste your OAS API key")


async def test_the_instructions_say_to_give_the_link_and_never_ask_for_a_key(linking: Linking) -> None:
    async with mcp_as(linking, person()) as client:
        instructions = client.instructions or ""
        tools = {tool.name for tool in (await client.list_tools()).tools}

    assert "When a tool answers with a link to open, give it to the user; never ask for an API key" in instructions
    assert "unlink_account" in tools


async def test_a_client_without_url_elicitation_gets_the_link_in_a_tool_error(linking: Linking) -> None:
    async with mcp_as(linking, person(), url_elicitation=False) as client:
        result = await client.call_tool("list_organisations", {})

    text = error_text(result)
    url = LINK.search(text)
    assert url is not None
    assert (
        text == f"Link your OAS account first: open {url.group(1)} (valid 10 minutes, for you alone), then call again."
    )


async def test_resources_ask_to_link_too_and_completions_offer_nothing_and_make_no_link(linking: Linking) -> None:
    alice = person()
    async with mcp_as(linking, alice) as client:
        with pytest.raises(MCPError) as reading:
            await client.read_resource("oas://organisations")
        made = linking.query(f"SELECT COUNT(*) FROM oas_mcp_links WHERE sub = '{alice}'")
        template = ResourceTemplateReference(uri="oas://organisations/{organisation_id}")
        completed = await client.complete(template, {"name": "organisation_id", "value": ""})

    assert reading.value.error.code == URL_ELICITATION_REQUIRED
    assert completed.completion.values == []
    assert linking.query(f"SELECT COUNT(*) FROM oas_mcp_links WHERE sub = '{alice}'") == made == [(1,)]


# --- Linking, then acting as oneself ------------------------------------------------------------------------------


async def test_once_linked_each_person_acts_as_their_own_account(linking: Linking) -> None:
    alice, bob = person(), person()
    async with mcp_as(linking, alice) as alices, mcp_as(linking, bob) as bobs:
        asked = await asked_to_link(alices)
        linked = await link(linking, asked.url, alice, DEMO2_API_KEY)
        bobs_url = (await asked_to_link(bobs)).url
        await link(linking, bobs_url, bob, DEMO_API_KEY)

        own = structured(await alices.call_tool("list_organisations", {}))
        hello = structured(await bobs.call_tool("hello", {}))
        await linking.notified.wait_for(asked.elicitation_id)

    assert linked.status_code == 200
    assert shown(linked, "linked") == f"Linked: Hello world @{DEMO2_USERNAME}"
    assert 'id="unlink"' in linked.text
    assert {org["name"] for org in own["organisations"]} == {name for name, _, _ in DEMO2_ORGANISATIONS}
    assert hello["username"] == DEMO_USERNAME
    stored = linking.query("SELECT sub, oas_username, secrets FROM oas_mcp_accounts")
    assert {(sub, name) for sub, name, _ in stored} >= {(alice, DEMO2_USERNAME), (bob, DEMO_USERNAME)}
    assert not [row for row in stored if DEMO2_API_KEY in row[2] or DEMO_API_KEY in row[2]]
    assert asked.url.rsplit("/", 1)[1] not in linking.server.output()


# --- Refused, and nothing stored ----------------------------------------------------------------------------------


async def test_a_link_opened_by_someone_else_is_refused_and_still_works_for_its_owner(linking: Linking) -> None:
    alice = person()
    async with mcp_as(linking, alice, url_elicitation=False) as client:
        url = LINK.search(error_text(await client.call_tool("hello", {})))
        assert url is not None
        async with browser(linking, "mallory") as mallory:
            first = await mallory.http.get(url.group(1), follow_redirects=False)
            refused = await mallory.open(url.group(1))
            again = await mallory.http.get(url.group(1), follow_redirects=False)  # "then I sign in as alice"
        linked = await link(linking, url.group(1), alice, DEMO_API_KEY)
        hello = structured(await client.call_tool("hello", {}))

    assert refused.status_code == 403
    assert shown(refused, "error").startswith("This link was made for someone else")
    assert "prompt=" not in first.headers["location"]
    assert "&prompt=login" in again.headers["location"]  # the issuer asks who signs in, rather than mallory again
    assert linking.query("SELECT sub FROM oas_mcp_accounts WHERE sub = 'mallory'") == []
    assert shown(linked, "linked") == f"Linked: Hello world @{DEMO_USERNAME}"
    assert hello["username"] == DEMO_USERNAME


async def test_a_used_an_expired_and_an_unknown_link_are_refused(linking: Linking) -> None:
    alice = person()
    async with mcp_as(linking, alice) as client:
        used, expired = (await asked_to_link(client)).url, (await asked_to_link(client)).url
    await link(linking, used, alice, DEMO_API_KEY)
    a_minute_ago = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    linking.query(f"UPDATE oas_mcp_links SET expires_at = '{a_minute_ago}' WHERE digest = '{digest(expired)}'")

    async with browser(linking, alice) as opened:
        again = await opened.open(used)
        late = await opened.open(expired)
        unknown = await opened.open(f"{linking.server.url}/link/{secrets.token_urlsafe(32)}")

    assert (again.status_code, late.status_code, unknown.status_code) == (410, 410, 404)
    assert shown(again, "error").startswith("This link was already used")
    assert shown(late, "error").startswith("This link has expired")
    assert shown(unknown, "error").startswith("This link is not known here")


def digest(url: str) -> str:
    """What the store keeps of the token of the link ``url``: its SHA-256, in hex."""
    return hashlib.sha256(url.rsplit("/", 1)[1].encode()).hexdigest()


async def test_a_post_without_the_csrf_token_or_with_a_wrong_key_stores_nothing(linking: Linking) -> None:
    alice = person()
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
        async with browser(linking, alice) as opened:
            form = await opened.open(url)
            forged = await opened.submit(form, csrf=False, api_key=DEMO_API_KEY)
            wrong = await opened.submit(form, api_key="x" * 41, **login("alice", "alice@example.com", "pw-canary"))
            stored = linking.query(f"SELECT * FROM oas_mcp_accounts WHERE sub = '{alice}'")
            right = await opened.submit(wrong, api_key=DEMO_API_KEY)

    assert forged.status_code == 403
    assert shown(forged, "error").startswith("This form was not sent from this page")
    assert wrong.status_code == 400
    assert shown(wrong, "error").startswith("The API refused this key")
    assert "x" * 41 not in wrong.text
    assert "pw-canary" not in wrong.text
    assert 'value="alice@example.com"' in wrong.text  # what is no secret is kept for a second try
    assert stored == []
    assert shown(right, "linked") == f"Linked: Hello world @{DEMO_USERNAME}"


class Login(TypedDict):
    """The login tool's credentials, as the form takes them."""

    username: str
    email: str
    password: str


def login(username: str, email: str, password: str) -> Login:
    return {"username": username, "email": email, "password": password}


async def test_login_credentials_given_on_the_page_are_checked_and_then_used_by_login(linking: Linking) -> None:
    alice, bob = person(), person()
    async with mcp_as(linking, alice) as alices, mcp_as(linking, bob) as bobs:
        async with browser(linking, alice) as opened:
            form = await opened.open((await asked_to_link(alices)).url)
            demo2 = login(DEMO2_USERNAME, DEMO2_EMAIL, DEMO2_PASSWORD)
            others = await opened.submit(form, api_key=DEMO_API_KEY, **demo2)
            wrong = await opened.submit(form, api_key=DEMO_API_KEY, **login(DEMO_USERNAME, DEMO_EMAIL, "pw-canary"))
            half = await opened.submit(form, api_key=DEMO_API_KEY, username=DEMO_USERNAME, password=DEMO_PASSWORD)
            linked = await opened.submit(form, api_key=DEMO_API_KEY, **login(DEMO_USERNAME, DEMO_EMAIL, DEMO_PASSWORD))
        signed_in = structured(await alices.call_tool("login", {}))
        await link(linking, (await asked_to_link(bobs)).url, bob, DEMO2_API_KEY)
        without = error_text(await bobs.call_tool("login", {}))

    refused = (
        "The API refused this username, email and password for the login tool: give those of the key's account. "
        "Nothing was stored."
    )
    assert (others.status_code, shown(others, "error")) == (wrong.status_code, shown(wrong, "error")) == (400, refused)
    assert shown(half, "error").startswith("For the login tool, give your username, email and password together")
    assert shown(linked, "linked") == f"Linked: Hello world @{DEMO_USERNAME}"
    assert signed_in["user"]["username"] == DEMO_USERNAME
    assert without == (
        "login needs the username, email and password of your OAS account, and you linked its API key alone: to give "
        "them, call unlink_account, then any tool, and fill them in on the link page."
    )
    log = linking.server.output()
    assert [secret for secret in (DEMO_PASSWORD, DEMO2_PASSWORD, "pw-canary", DEMO2_API_KEY) if secret in log] == []


async def test_a_sign_in_this_page_did_not_start_and_an_oversized_form_are_refused(linking: Linking) -> None:
    alice = person()
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
    async with browser(linking, alice) as opened:
        started = await opened.http.get(url, follow_redirects=False)
        forged = await opened.http.get(f"{linking.server.url}/link/callback?code=stolen&state=guessed")
        form = await opened.open(url)
        oversized = await opened.submit(form, api_key="k" * 20_000)

    assert started.status_code == 302
    assert (forged.status_code, shown(forged, "error")) == (
        400,
        "This sign-in is not the one this page started. Ask your assistant again for a new link.",
    )
    assert oversized.status_code == 413
    assert linking.query(f"SELECT * FROM oas_mcp_accounts WHERE sub = '{alice}'") == []


# --- Unlinking ----------------------------------------------------------------------------------------------------


async def test_unlink_account_deletes_the_credentials_and_the_next_call_asks_again(linking: Linking) -> None:
    alice = person()
    async with mcp_as(linking, alice) as client:
        await link(linking, (await asked_to_link(client)).url, alice, DEMO2_API_KEY)

        unlinked = structured(await client.call_tool("unlink_account", {}))
        again = structured(await client.call_tool("unlink_account", {}))
        asked = await asked_to_link(client)

    assert unlinked["result"] == (
        f"Unlinked OAS account @{DEMO2_USERNAME}: its credentials are deleted from this server; your OAS account "
        "itself is unchanged. Your next call asks you to link again."
    )
    assert again["result"].startswith("No OAS account is linked to you here: nothing was deleted.")
    assert asked.url
    assert linking.query(f"SELECT * FROM oas_mcp_accounts WHERE sub = '{alice}'") == []


async def test_unlinking_on_the_page_deletes_the_credentials(linking: Linking) -> None:
    alice = person()
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
        async with browser(linking, alice) as opened:
            form = await opened.open(url)
            linked = await opened.submit(form, api_key=DEMO_API_KEY)
            unlinked = await opened.submit(linked)
        asked = await asked_to_link(client)

    assert unlinked.status_code == 200
    assert shown(unlinked, "unlinked").startswith(f"Unlinked OAS account @{DEMO_USERNAME}")
    assert linking.query(f"SELECT * FROM oas_mcp_accounts WHERE sub = '{alice}'") == []
    assert asked.url


# --- The page itself ----------------------------------------------------------------------------------------------


async def test_the_page_is_locked_down_and_its_cookie_is_http_only(linking: Linking) -> None:
    alice = person()
    async with mcp_as(linking, alice) as client:
        url = (await asked_to_link(client)).url
    async with browser(linking, alice) as opened:
        form = await opened.open(url)
        started = form.history[0]

    headers = form.headers
    assert headers["content-security-policy"].startswith("default-src 'none'; style-src 'sha256-")
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert (headers["cache-control"], headers["referrer-policy"]) == ("no-store", "no-referrer")
    assert started.status_code == 302
    assert started.headers["referrer-policy"] == "no-referrer"
    cookie = started.headers["set-cookie"]
    assert cookie.startswith("oas_mcp_link=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    for name, kind in (("api_key", "password"), ("username", "text"), ("email", "email"), ("password", "password")):
        assert f'id="{name}" name="{name}" type="{kind}"' in form.text
    assert 'id="link"' in form.text
    assert "<script" not in form.text


# --- Settings that cannot work ------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["no client", "issuer cannot sign in"])
def test_linked_accounts_without_a_way_to_sign_people_in_refuse_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    fake = FakeIssuer(f"http://127.0.0.1:{free_port()}", signs_in=problem != "issuer cannot sign in")
    env = environment(fake, 8000, tmp_path)
    if problem == "no client":
        del env["OAS_OAUTH_CLIENT_ID"], env["OAS_OAUTH_CLIENT_SECRET"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    settings = Settings.load(transport="http")

    def start() -> None:
        check_combination(settings, "serve")  # "no client": settings that do not go together, refused here
        with serving(fake):
            link_page(settings, Issuer(fake.url), lambda: make_client(Settings.load()))

    with pytest.raises(SettingsError) as refused:
        start()

    assert (
        str(refused.value)
        == {
            "no client": "linked accounts (OAS_ACCOUNTS_KEY_FILE) need OAS_OAUTH_CLIENT_ID and OAS_OAUTH_CLIENT_SECRET "
            "(or OAS_OAUTH_CLIENT_SECRET_FILE): the link page signs people in as that client of the issuer, with "
            "redirect URI http://127.0.0.1:8000/link/callback",
            "issuer cannot sign in": f"linked accounts need the OAuth issuer {fake.url} to sign people in, and its "
            "metadata has no authorization_endpoint and no token_endpoint: use an OpenID Connect provider's issuer URL",
        }[problem]
    )
    assert not (tmp_path / "accounts.sqlite3").exists()  # refused before the database is made


def test_an_accounts_key_file_without_oauth_refuses_to_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAS_ACCOUNTS_KEY_FILE", str(tmp_path / "keys"))

    with pytest.raises(SettingsError) as refused:
        Policy.of(Settings.load(transport="http"))

    assert str(refused.value) == "OAS_ACCOUNTS_KEY_FILE is only used with OAuth: set OAS_OAUTH_ISSUER too, or drop it"


# --- Replicas -----------------------------------------------------------------------------------------------------


@dataclass
class InProcess:
    """oas-mcp served from this process (in a thread, as its command would serve it), for a test that reads no log of
    it and needs it started fast."""

    url: str

    @property
    def mcp(self) -> str:
        return f"{self.url}/mcp"

    def output(self) -> str:
        return ""


def app_and_page() -> tuple[Any, LinkPage]:
    """The HTTP app ``oas-mcp --sandbox --transport http`` serves with the environment's settings, and its link page
    (whose store to close); it blocks."""
    settings = Settings.load(transport="http")
    policy = Policy.of(settings)
    assert policy.oauth is not None
    # The connector looked up as the test runs: test_linking_attacks.replica_on replaces it.
    connect, page = linked_accounts(settings, policy.oauth, oas_mcp.cli.options.connector(settings, True))
    server = build_server(settings, connect, linked=page.accounts, **policy.server_options(settings))
    return http_app(server, settings, policy, page), page


@asynccontextmanager
async def replica(linking: Linking, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Linking]:
    """Another oas-mcp with the same settings: the same store and public URL, as behind a load balancer. It is served
    from this process, asking the store which links were used every 10 ms rather than every half second."""
    for name, value in linking.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("oas_mcp.accounts.mcp.POLL_INTERVAL", 0.01)
    app, page = await anyio.to_thread.run_sync(app_and_page)
    served = uvicorn.Server(uvicorn.Config(app, log_config=None))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=served.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def started() -> None:
        """Until it serves, its issuer reached (before, every token is refused)."""
        while not (served.started and page.issuer.metadata is not None) and thread.is_alive():
            time.sleep(0.01)

    try:
        await anyio.to_thread.run_sync(started)
        yield Linking(linking.fake, InProcess(f"http://127.0.0.1:{sock.getsockname()[1]}"), linking.environment)
    finally:
        served.should_exit = True
        await anyio.to_thread.run_sync(thread.join)
        sock.close()
        page.store.close()


async def test_replicas_share_links_accounts_and_completions(linking: Linking, monkeypatch: pytest.MonkeyPatch) -> None:
    async with replica(linking, monkeypatch) as other:
        await replicas_share_links_accounts_and_completions(other, linking)


async def replicas_share_links_accounts_and_completions(one: Linking, two: Linking) -> None:
    """A link made on ``one`` is used on ``two`` (the public URL's); ``one`` tells its client; ``two`` then acts as
    the account, and unlinks it; ``one`` then asks to link again."""
    alice = person()
    async with mcp_as(one, alice) as on_one, mcp_as(two, alice) as on_two:
        asked = await asked_to_link(on_one)
        async with browser(two, alice) as opened:
            form = await opened.open(asked.url.replace(one.server.url, two.server.url))
            linked = await opened.submit(form, to=two.server.url, api_key=DEMO_API_KEY)
        await one.notified.wait_for(asked.elicitation_id)  # told by the first replica, which learns it from the store
        hello = structured(await on_two.call_tool("hello", {}))
        unlinked = structured(await on_two.call_tool("unlink_account", {}))
        again = await asked_to_link(on_one)

    assert shown(linked, "linked") == f"Linked: Hello world @{DEMO_USERNAME}"
    assert hello["username"] == DEMO_USERNAME
    assert unlinked["result"].startswith(f"Unlinked OAS account @{DEMO_USERNAME}")
    assert again.url
