"""Which OAS client serves a call: the server's own, one per X-Api-Key (per-request credentials), or one per linked
account."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import SecretStr

from oas_mcp.accounts import LinkedAccount, Subject
from oas_mcp.accounts.mcp import LinkedAccounts
from oas_mcp.client import OASClient, OrganisationList
from oas_mcp.sandbox import DEMO2_API_KEY, DEMO2_ORGANISATIONS, DEMO_API_KEY, DEMO_ORGANISATIONS, Fault, Sandbox
from oas_mcp.server.credentials import MALFORMED_KEY, MISSING_KEY, Clients
from oas_mcp.server.state import State
from oas_mcp.server.state import client_for as client_of_request

from support import client_for

pytestmark = pytest.mark.anyio


def key(value: str) -> dict[str, str]:
    return {"x-api-key": value}


async def test_without_per_request_mode_every_call_uses_the_servers_client(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as shared:
        clients = Clients(shared, per_request=False)

        assert clients.for_request(None) is shared
        assert clients.for_request(key(DEMO2_API_KEY)) is shared


async def test_each_key_gets_a_client_of_its_own_with_its_own_state(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as shared:
        clients = Clients(shared, per_request=True)
        demo, demo2 = clients.for_request(key(DEMO_API_KEY)), clients.for_request(key(DEMO2_API_KEY))
        listings: dict[str, OrganisationList] = {}

        async def list_and_activate(name: str, oas: OASClient, organisation_id: int) -> None:
            listings[name] = await oas.list_organisations()
            await oas.activate_organisation(organisation_id)

        async with anyio.create_task_group() as group:
            group.start_soon(list_and_activate, "demo", demo, 2)
            group.start_soon(list_and_activate, "demo2", demo2, 7)

    assert clients.for_request(key(f"  {DEMO_API_KEY} ")) is demo
    assert [org.name for org in listings["demo"].organisations] == [name for name, _, _ in DEMO_ORGANISATIONS]
    assert [org.name for org in listings["demo2"].organisations] == [name for name, _, _ in DEMO2_ORGANISATIONS]
    assert (demo.active_organisation, demo2.active_organisation, shared.active_organisation) == (2, 7, None)
    assert sandbox.store.active == {1: 2, 2: 7}


async def test_the_cache_keeps_the_most_recently_used_keys_only(sandbox: Sandbox) -> None:
    async with client_for(sandbox) as shared:
        clients = Clients(shared, per_request=True, capacity=2)
        first = clients.for_request(key("Key00001.first"))
        second = clients.for_request(key("Key00002.second"))
        assert clients.for_request(key("Key00001.first")) is first  # now the most recent
        clients.for_request(key("Key00003.third"))  # evicts the least recent: second

        assert len(clients) == 2
        assert clients.for_request(key("Key00001.first")) is first
        assert clients.for_request(key("Key00002.second")) is not second


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (None, MISSING_KEY),
        ({}, MISSING_KEY),
        (key("   "), MISSING_KEY),
        (key("two words"), MALFORMED_KEY),
        (key("caf\u00e9.key"), MALFORMED_KEY),
        (key("x" * 513), MALFORMED_KEY),
    ],
)
async def test_a_call_without_a_usable_key_is_refused(
    sandbox: Sandbox, headers: dict[str, str] | None, message: str
) -> None:
    async with client_for(sandbox) as shared:
        clients = Clients(shared, per_request=True)
        with pytest.raises(ToolError) as caught:
            clients.for_request(headers)

    assert str(caught.value) == message
    assert len(clients) == 0
    assert not sandbox.requests


async def test_a_cookie_the_api_sets_for_one_user_never_reaches_the_api_for_another(sandbox: Sandbox) -> None:
    as_django_would = {"set-cookie": "sessionid=alice-session; Path=/; HttpOnly"}
    sandbox.inject(
        Fault("GET /helloworld", body="Hello world @demo", content_type="text/plain", headers=as_django_would)
    )
    inner = sandbox.app
    cookies: list[bytes] = []  # every Cookie header that reached the API

    async def spy(scope, receive, send):  # type: ignore[no-untyped-def]
        cookies.extend(value for name, value in scope["headers"] if name == b"cookie")
        await inner(scope, receive, send)

    sandbox.app = spy  # type: ignore[assignment]
    async with client_for(sandbox) as shared:
        clients = Clients(shared, per_request=True)
        alice, bob = clients.for_request(key(DEMO_API_KEY)), clients.for_request(key(DEMO2_API_KEY))
        await alice.hello()  # answered with the cookie
        assert await bob.hello() == "Hello world @demo2"
        await bob.list_organisations()
        await alice.hello()

    assert cookies == []


async def test_a_linked_account_gets_a_client_of_its_own_and_a_new_one_when_linked_anew(sandbox: Sandbox) -> None:
    alice, bob = Subject("https://login.example.com", "alice"), Subject("https://login.example.com", "bob")
    demo = LinkedAccount(oas_username="demo", api_key=SecretStr(DEMO_API_KEY))
    demo2 = LinkedAccount(oas_username="demo2", api_key=SecretStr(DEMO2_API_KEY))
    async with client_for(sandbox) as shared:
        clients = Clients(shared, per_request=False)

        first = clients.for_account(alice, demo)
        again = clients.for_account(alice, demo)
        relinked = clients.for_account(alice, demo2)
        bobs = clients.for_account(bob, demo)
        greeting = await relinked.hello()

    assert first is again
    assert len({id(first), id(relinked), id(bobs), id(shared)}) == 4
    assert greeting == "Hello world @demo2"
    assert relinked.credentials.api_key == SecretStr(DEMO2_API_KEY)


async def test_with_linked_accounts_a_requests_own_key_still_wins(sandbox: Sandbox) -> None:
    class Linked:
        """Linked accounts that answer with the account linked by whoever asks (here: demo's)."""

        asked = 0

        async def client(self, request: object, clients: Clients, *, ask: bool = True) -> OASClient:
            self.asked += 1
            return clients.for_account(Subject("https://login.example.com", "alice"), demo)

    demo = LinkedAccount(oas_username="demo", api_key=SecretStr(DEMO_API_KEY))
    linked = Linked()
    async with client_for(sandbox) as shared:
        state = State(lambda: shared, per_request=True, linked=cast("LinkedAccounts", linked))

        def request(headers: dict[str, str]) -> Any:
            return SimpleNamespace(lifespan_context=state, request=SimpleNamespace(headers=headers))

        with_key = await client_of_request(request(key(DEMO2_API_KEY)))
        without = await client_of_request(request({}))
        greetings = [await with_key.hello(), await without.hello()]

    assert greetings == ["Hello world @demo2", "Hello world @demo"]
    assert linked.asked == 1
