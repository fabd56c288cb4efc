"""Linked accounts in a real browser: a person signed in through OAuth calls a tool, gets a URL elicitation with the
link, opens it in Chromium (Debian's ``chromium``, driven by Playwright's Python API), signs in at the identity
provider (node-oidc-provider, tests/interop/oauth_provider.mjs), pastes their OAS API key, and from then on their
calls act as their own OAS account (the sandbox API over HTTP). And what the page refuses.

``.ci/run`` installs the provider, Chromium and Playwright, and sets ``INTEROP_BIN``; without that variable these
tests are skipped, and with it a missing tool fails them. ``UPDATE_SCREENSHOTS=1`` writes the picture of the link
page that docs/linked-accounts.md shows (docs/link-page.png).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
import jwt
import pytest
from cryptography.fernet import Fernet
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.session import ClientRequestContext, IncomingMessage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
from mcp_types import (
    URL_ELICITATION_REQUIRED,
    ElicitCompleteNotification,
    ElicitRequestParams,
    ElicitRequestURLParams,
    ElicitResult,
)
from test_oauth_provider import (
    PIPELINE,
    REDIRECT_URI,
    Browser,
    Memory,
    Provider,
    client_credentials,
    provider,
    wait_for,
)

from oas_mcp.accounts.mcp import NO_PERSON
from oas_mcp.sandbox import DEMO2_API_KEY, DEMO2_USERNAME, DEMO_API_KEY, DEMO_USERNAME

from support import Running, free_port, running, running_on, structured, text_of

if TYPE_CHECKING:  # Playwright is imported when a test runs: .ci/interop.lock has it, tests/requirements.lock not
    from playwright import async_api as playwright  # type: ignore[import-not-found, unused-ignore]

pytestmark = pytest.mark.anyio

LINK_CLIENT = ("oas-mcp-link", "link-secret-0123456789")  # as oauth_provider.mjs registers it
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NOT_LOOPBACK = re.compile(r"^(?!http://127\.0\.0\.1[:/])")  # the provider's login page asks for web fonts
VIEWPORT: playwright.ViewportSize = {"width": 720, "height": 600}
SCREENSHOT = Path(__file__).parents[2] / "docs" / "link-page.png"
WRONG_KEY = "Sandbox0.NotAKeyTheSandboxKnowsOfAtAll0000"


@dataclass
class Deployment:
    """oidc-provider; the sandbox API over HTTP; and oas-mcp trusting the one, calling the other, with linked
    accounts on (its link page a client of the provider), keeping them in ``accounts`` (SQLite)."""

    provider: Provider
    api: Running
    server: Running
    accounts: Path

    @property
    def resource(self) -> str:
        return self.server.mcp


@pytest.fixture(scope="module")
def deployed(node_modules: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    folder = tmp_path_factory.mktemp("accounts")
    keys = folder / "keys"
    keys.write_text(Fernet.generate_key().decode() + "\n")
    keys.chmod(0o600)
    port = free_port()
    callback = f"http://127.0.0.1:{port}/link/callback"
    with provider(node_modules, free_port(), callback) as issuer, running("sandbox") as api:
        env = {
            "OAS_BASE_URL": api.url,
            "OAS_OAUTH_ISSUER": issuer.url,
            "OAS_PUBLIC_URL": f"http://127.0.0.1:{port}/mcp",
            "OAS_OAUTH_SCOPES": "oas",
            "OAS_OAUTH_CLIENT_ID": LINK_CLIENT[0],
            "OAS_OAUTH_CLIENT_SECRET": LINK_CLIENT[1],
            "OAS_ACCOUNTS_KEY_FILE": str(keys),
            "OAS_ACCOUNTS_PATH": str(folder / "accounts.sqlite3"),
        }
        with running_on(port, "--transport", "http", **env) as server:
            wait_for(server, "signing keys")
            yield Deployment(issuer, api, server, folder / "accounts.sqlite3")


@dataclass
class Person:
    """An MCP client signed in at the provider as one subject, declaring URL elicitation, with the elicitation ids
    the server says are complete (notifications/elicitation/complete)."""

    client: Client
    completions: anyio.abc.ObjectReceiveStream[str]

    async def asked_to_link(self) -> ElicitRequestURLParams:
        """The link the server asks for on a tool call; fails the test if the call is answered instead."""
        try:
            answer = await self.client.call_tool("hello", {})
        except MCPError as error:  # not pytest.raises: its failure would end the test's event loop
            refusal = error.error
        else:
            raise AssertionError(f"the call was answered, no link asked for: {text_of(answer)}")
        assert refusal.code == URL_ELICITATION_REQUIRED, refusal
        (asked,) = UrlElicitationRequiredError.from_error(refusal).elicitations
        return asked

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        return structured(await self.client.call_tool(tool, arguments))

    async def completed(self) -> str:
        """The next elicitation id the server says is complete."""
        with anyio.fail_after(30):  # a guard against hanging, not a timing check
            return await self.completions.receive()


async def form_elicitation(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
    """Declares URL (and form) elicitation; the server raises URL elicitations as errors, so none arrives here."""
    raise AssertionError(f"unexpected elicitation request: {params}")


@asynccontextmanager
async def signed_in(deployed: Deployment, subject: str) -> AsyncIterator[Person]:
    """``subject``'s MCP client: signed in at the provider (authorization code + PKCE), in a session of its own."""
    send, receive = anyio.create_memory_object_stream[str](8)

    async def on_message(message: IncomingMessage) -> None:
        if isinstance(message, ElicitCompleteNotification):
            send.send_nowait(message.params.elicitation_id)

    sign_in = Browser(subject)
    auth = OAuthClientProvider(
        deployed.resource,
        OAuthClientMetadata(redirect_uris=[REDIRECT_URI], client_name="oas-mcp link tests"),
        Memory(),
        redirect_handler=sign_in.open,
        callback_handler=sign_in.callback,
    )
    async with (
        httpx2.AsyncClient(auth=auth, timeout=60) as http,
        Client(
            streamable_http_client(deployed.resource, http_client=http),
            mode="legacy",
            elicitation_callback=form_elicitation,
            message_handler=on_message,
        ) as client,
    ):
        yield Person(client, receive)


@pytest.fixture
async def chromium(deployed: Deployment) -> AsyncIterator[playwright.Browser]:
    """Debian's Chromium, through Playwright (after ``deployed``, so skipped with it)."""
    # Playwright is imported when a test runs, as TYPE_CHECKING above says.
    from playwright.async_api import async_playwright  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415

    executable = shutil.which("chromium")
    assert executable is not None, "chromium is missing; .ci/run installs Debian's chromium package"
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def abort(route: playwright.Route) -> None:
    await route.abort()


async def visited(chromium: playwright.Browser, link: str) -> tuple[playwright.Page, int]:
    """``link`` opened in a new browser (no cookies, nothing but loopback): the page and its HTTP status."""
    context = await chromium.new_context(viewport=VIEWPORT)
    await context.route(NOT_LOOPBACK, abort)
    page = await context.new_page()
    response = await page.goto(link)
    assert response is not None
    return page, response.status


async def opened(chromium: playwright.Browser, link: str, login: str) -> tuple[playwright.Page, int]:
    """``link`` opened in a new browser, signed in at the provider as ``login``: the page oas-mcp shows after the
    sign-in, and its HTTP status."""
    page, _ = await visited(chromium, link)
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", "any password will do")
    await page.click("button[type=submit]")
    pages = link.rsplit("/", 1)[0]  # {origin}/link, where the provider sends the browser back
    async with page.expect_response(
        lambda answer: answer.url.startswith(pages) and not 300 <= answer.status < 400
    ) as landed:
        await page.click("button[type=submit]")  # consent
    await page.wait_for_url(lambda url: url.startswith(pages))  # and loaded
    return page, (await landed.value).status


def linked_subjects(deployed: Deployment) -> list[str]:
    """The subjects with a linked account, as the server's SQLite file holds them."""
    with closing(sqlite3.connect(deployed.accounts)) as database:
        return [sub for (sub,) in database.execute("SELECT sub FROM oas_mcp_accounts ORDER BY sub")]


def expire(deployed: Deployment, link: str) -> None:
    """Make ``link`` ten minutes old, as if its form had been left open that long."""
    digest = hashlib.sha256(link.rsplit("/", 1)[1].encode()).hexdigest()
    with closing(sqlite3.connect(deployed.accounts)) as database, database:
        database.execute("UPDATE oas_mcp_links SET expires_at = '2000-01-01T00:00:00+00:00' WHERE digest = ?", [digest])


async def test_a_person_links_their_account_in_the_browser_then_calls_tools_as_it(
    deployed: Deployment, chromium: playwright.Browser
) -> None:
    async with signed_in(deployed, "alice") as alice:
        asked = await alice.asked_to_link()
        page, status = await opened(chromium, asked.url, "alice")
        styled = await page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth")
        await page.fill("#api_key", DEMO2_API_KEY)
        picture = await page.screenshot(full_page=True)
        await page.click("#link")
        linked = await page.locator("#linked").inner_text()
        completed = await alice.completed()
        hello = await alice.call("hello")
        organisations = await alice.call("list_organisations")

    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.write_bytes(picture)
    assert asked.message.startswith("Link your OAS account: open this page, sign in, and paste your OAS API key")
    assert asked.url.startswith(f"{deployed.server.url}/link/")
    assert status == 200
    assert styled != "none"  # the page's inline style passes its Content-Security-Policy
    assert linked == f"Linked: Hello world @{DEMO2_USERNAME}"
    assert completed == asked.elicitation_id
    assert hello["username"] == DEMO2_USERNAME
    assert [organisation["id"] for organisation in organisations["organisations"]] == [6, 7]
    assert "alice" in linked_subjects(deployed)
    assert DEMO2_API_KEY.encode() not in deployed.accounts.read_bytes()
    assert f"linked OAS account @{DEMO2_USERNAME}" in deployed.server.output()
    assert DEMO2_API_KEY not in deployed.server.output()


async def test_a_link_opened_by_someone_else_is_refused_and_stays_usable_by_its_owner(
    deployed: Deployment, chromium: playwright.Browser
) -> None:
    async with signed_in(deployed, "bob") as bob, signed_in(deployed, "mallory") as mallory:
        asked = await bob.asked_to_link()
        page, status = await opened(chromium, asked.url, "mallory")
        refusal = await page.locator("#error").inner_text()
        forms = await page.locator("#api_key").count()
        await bob.asked_to_link()  # nothing stored for either
        await mallory.asked_to_link()
        owners, owners_status = await opened(chromium, asked.url, "bob")
        owners_forms = await owners.locator("#api_key").count()

    assert status == 403
    assert refusal.startswith("This link was made for someone else")
    assert forms == 0
    assert {"bob", "mallory"}.isdisjoint(linked_subjects(deployed))
    assert (owners_status, owners_forms) == (200, 1)


async def test_a_wrong_key_is_refused_on_the_page_and_nothing_is_stored(
    deployed: Deployment, chromium: playwright.Browser
) -> None:
    async with signed_in(deployed, "carol") as carol:
        asked = await carol.asked_to_link()
        page, _ = await opened(chromium, asked.url, "carol")
        await page.fill("#api_key", WRONG_KEY)
        await page.click("#link")
        refusal = await page.locator("#error").inner_text()
        html = await page.content()
        stored = linked_subjects(deployed)
        await carol.asked_to_link()
        await page.fill("#api_key", DEMO_API_KEY)  # the link still works
        await page.click("#link")
        linked = await page.locator("#linked").inner_text()
        hello = await carol.call("hello")

    assert refusal.startswith("The API refused this key")
    assert WRONG_KEY not in html
    assert WRONG_KEY not in deployed.server.output()
    assert "carol" not in stored
    assert linked == f"Linked: Hello world @{DEMO_USERNAME}"
    assert hello["username"] == DEMO_USERNAME


async def test_a_used_link_is_refused_and_unlinking_on_the_page_deletes_the_account(
    deployed: Deployment, chromium: playwright.Browser
) -> None:
    async with signed_in(deployed, "dave") as dave:
        asked = await dave.asked_to_link()
        page, _ = await opened(chromium, asked.url, "dave")
        await page.fill("#api_key", DEMO_API_KEY)
        await page.click("#link")
        await page.locator("#linked").wait_for()
        reused, reused_status = await visited(chromium, asked.url)
        reuse_refusal = await reused.locator("#error").inner_text()
        await page.click("#unlink")
        unlinked = await page.locator("#unlinked").inner_text()
        asked_again = await dave.asked_to_link()

    assert reused_status == 410
    assert reuse_refusal.startswith("This link was already used")
    assert unlinked.startswith(f"Unlinked OAS account @{DEMO_USERNAME}")
    assert "dave" not in linked_subjects(deployed)
    assert asked_again.url != asked.url


async def test_a_link_that_expires_while_its_form_is_open_is_refused(
    deployed: Deployment, chromium: playwright.Browser
) -> None:
    async with signed_in(deployed, "frank") as frank:
        asked = await frank.asked_to_link()
        page, _ = await opened(chromium, asked.url, "frank")
        expire(deployed, asked.url)
        await page.fill("#api_key", DEMO_API_KEY)
        async with page.expect_response(asked.url) as submitted:
            await page.click("#link")
        refusal = await page.locator("#error").inner_text()
        await frank.asked_to_link()

    assert (await submitted.value).status == 410
    assert refusal.startswith("This link has expired")
    assert "frank" not in linked_subjects(deployed)


async def test_a_post_without_the_csrf_token_is_refused(deployed: Deployment, chromium: playwright.Browser) -> None:
    async with signed_in(deployed, "erin") as erin:
        asked = await erin.asked_to_link()
        page, _ = await opened(chromium, asked.url, "erin")
        cookies = {cookie["name"]: cookie["value"] for cookie in await page.context.cookies(deployed.server.url)}
        async with httpx2.AsyncClient(cookies=cookies, timeout=60) as http:  # the signed-in browser's cookie
            forged = await http.post(asked.url, data={"api_key": DEMO_API_KEY})
        await erin.asked_to_link()

    assert cookies
    assert forged.status_code == 403
    assert "This form was not sent from this page" in forged.text
    assert "erin" not in linked_subjects(deployed)


async def test_after_a_refusal_the_link_asks_who_signs_in_again_in_the_same_browser(
    deployed: Deployment, chromium: playwright.Browser
) -> None:
    async with signed_in(deployed, "grace") as grace:
        asked = await grace.asked_to_link()
        page, status = await opened(chromium, asked.url, "mallory")  # e.g. a shared computer signed in as mallory
        await page.goto(asked.url)
        asks_who = await page.locator("input[name=login]").count()

    assert status == 403
    assert asks_who == 1, await page.locator("body").inner_text()


async def test_a_pipelines_client_credentials_token_is_no_person_even_when_a_person_has_its_name(
    deployed: Deployment, chromium: playwright.Browser
) -> None:
    """The provider's client_credentials tokens name their client as their subject (RFC 9068). The pipeline is not
    asked to link; a person who signs in as "pipeline" links their own account; the pipeline still does not act as
    it."""
    token = client_credentials(deployed.provider.url, deployed.resource)
    async with pipeline_session(deployed, token) as pipeline:
        before = await pipeline.call_tool("hello", {})
    async with signed_in(deployed, PIPELINE[0]) as person:
        asked = await person.asked_to_link()
        page, _ = await opened(chromium, asked.url, PIPELINE[0])
        await page.fill("#api_key", DEMO_API_KEY)
        await page.click("#link")
        linked = await page.locator("#linked").inner_text()
        own = await person.call("hello")
    async with pipeline_session(deployed, token) as pipeline:
        after = await pipeline.call_tool("hello", {})

    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["sub"], claims["client_id"]) == (PIPELINE[0], PIPELINE[0])
    assert (linked, own["username"]) == (f"Linked: Hello world @{DEMO_USERNAME}", DEMO_USERNAME)
    assert (text_of(before), text_of(after)) == (NO_PERSON, NO_PERSON)
    assert (before.is_error, after.is_error) == (True, True)


@asynccontextmanager
async def pipeline_session(deployed: Deployment, token: str) -> AsyncIterator[Client]:
    """An MCP session with ``token``, declaring URL elicitation as a person's client would."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        Client(
            streamable_http_client(deployed.resource, http_client=http),
            mode="legacy",
            elicitation_callback=form_elicitation,
        ) as client,
    ):
        yield client
