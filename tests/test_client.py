"""The OAS client on its own, against the sandbox: auth in every mode, pagination readings, odd responses."""

from __future__ import annotations

import json
import traceback

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from oas_mcp.client import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CredentialsError,
    OASClient,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)
from oas_mcp.sandbox import DEMO_API_KEY, SANDBOX_URL, Fault, Sandbox
from oas_mcp.sandbox._faults import SandboxTransport

from support import NO_CREDENTIALS, client_for

pytestmark = pytest.mark.anyio

KEY_ONLY = {**NO_CREDENTIALS, "api_key": DEMO_API_KEY}
LOGIN_ONLY = {"api_key": ""}
ORGS = "GET /api/organisations/*"


@pytest.mark.parametrize(
    ("auth", "credentials", "logins"),
    [
        ("api_key", KEY_ONLY, 0),
        ("either", KEY_ONLY, 0),
        ("either", LOGIN_ONLY, 1),
        ("bearer", LOGIN_ONLY, 1),
        ("bearer", {}, 1),  # the key alone is refused: the client signs in on the 401 and retries
        ("both", {}, 1),
    ],
)
async def test_works_whether_the_api_wants_the_key_the_token_either_or_both(
    auth: str, credentials: dict[str, str], logins: int
) -> None:
    sandbox = Sandbox(auth=auth)  # type: ignore[arg-type]
    async with client_for(sandbox, **credentials) as oas:
        assert (await oas.list_organisations()).count == 5

    assert sandbox.store.logins == logins


@pytest.mark.parametrize(("auth", "credentials"), [("bearer", {}), ("both", {}), ("either", {"api_key": "nope"})])
async def test_hello_checks_the_key_alone_and_never_signs_in_for_it(auth: str, credentials: dict[str, str]) -> None:
    sandbox = Sandbox(auth=auth)  # type: ignore[arg-type]
    async with client_for(sandbox, **credentials) as oas:
        with pytest.raises(AuthenticationError) as caught:
            await oas.hello()

    assert caught.value.credentials == ("api_key",)
    assert sandbox.store.logins == 0


async def test_without_a_key_hello_checks_the_session() -> None:
    sandbox = Sandbox(auth="bearer")
    async with client_for(sandbox, **LOGIN_ONLY) as oas:
        assert await oas.hello() == "Hello world @demo"

    assert sandbox.store.logins == 1


async def test_the_key_goes_on_every_request_and_the_token_after_login() -> None:
    seen: list[tuple[str | None, str | None]] = []
    sandbox = Sandbox()
    inner = sandbox.app

    async def spy(scope, receive, send):  # type: ignore[no-untyped-def]
        headers = dict(scope["headers"])
        seen.append((headers.get(b"x-api-key", b"").decode() or None, headers.get(b"authorization", b"")[:7] or None))
        await inner(scope, receive, send)

    sandbox.app = spy  # type: ignore[assignment]
    async with client_for(sandbox) as oas:
        await oas.hello()
        await oas.login()
        await oas.list_organisations(limit=1)
        await oas.hello()  # the API-key check: the key alone

    assert seen == [(DEMO_API_KEY, None), (DEMO_API_KEY, None), (DEMO_API_KEY, b"Bearer "), (DEMO_API_KEY, None)]


async def test_an_expired_token_is_renewed_and_the_request_retried_once() -> None:
    sandbox = Sandbox(auth="bearer")
    async with client_for(sandbox, **LOGIN_ONLY) as oas:
        await oas.hello()
        sandbox.store.revoke_tokens()
        assert await oas.hello() == "Hello world @demo"

    assert sandbox.store.logins == 2


async def test_a_refused_fresh_token_is_not_renewed_in_a_loop() -> None:
    sandbox = Sandbox(auth="api_key")  # tokens are never enough here
    async with client_for(sandbox, **LOGIN_ONLY) as oas:
        with pytest.raises(AuthenticationError) as caught:
            await oas.hello()

    assert caught.value.credentials == ("token",)
    assert sandbox.store.logins == 1


async def test_a_wrong_key_is_reported_as_the_key() -> None:
    async with client_for(Sandbox(), **{**NO_CREDENTIALS, "api_key": "nope"}) as oas:
        with pytest.raises(AuthenticationError) as caught:
            await oas.hello()

    assert caught.value.credentials == ("api_key",)
    assert caught.value.detail == "Authentication credentials were not provided or are invalid."


async def test_login_without_credentials_sends_nothing() -> None:
    sandbox = Sandbox()
    async with client_for(sandbox, **{**NO_CREDENTIALS, "username": "demo"}) as oas:
        with pytest.raises(CredentialsError) as caught:
            await oas.login()

    assert caught.value.missing == ("password",)
    assert not sandbox.requests


async def test_login_with_a_missing_field_reports_the_field() -> None:
    async with client_for(Sandbox(), email="") as oas:
        with pytest.raises(AuthenticationError) as caught:
            await oas.login()

    assert caught.value.detail == "email: This field is required."
    assert caught.value.credentials == ("login",)


async def test_a_disabled_account_cannot_sign_in() -> None:
    sandbox = Sandbox()
    sandbox.store.users[1].is_active = False
    async with client_for(sandbox) as oas:
        with pytest.raises(AuthenticationError, match="Unable to log in"):
            await oas.login()


async def test_the_client_works_standalone_with_plain_strings() -> None:
    sandbox = Sandbox()
    async with OASClient(SANDBOX_URL, api_key=DEMO_API_KEY, transport=sandbox.transport()) as oas:
        names = [org.name async for org in oas.iter_organisations()]

    assert names == ["Acme Corp", "Globex", "Initech", "Umbrella Holdings", "Stark Industries"]
    assert DEMO_API_KEY not in repr(oas)
    assert "api_key" in repr(oas)


@pytest.mark.parametrize("style", ["absolute", "relative", "cursor"])
@pytest.mark.parametrize("page_size", [1, 2, 3, 100])
async def test_pagination_link_styles_and_page_sizes(style: str, page_size: int) -> None:
    sandbox = Sandbox(link_style=style, page_size=page_size)  # type: ignore[arg-type]
    async with client_for(sandbox) as oas:
        listing = await oas.list_organisations()

    assert [org.id for org in listing.organisations] == [1, 2, 3, 4, 5]
    assert listing.pages == -(-5 // page_size)


async def test_links_are_resolved_under_a_path_prefix_with_or_without_it() -> None:
    sandbox = Sandbox(link_origin="http://internal:8000")
    sandbox_under_prefix = _mounted(sandbox, "/oas")
    async with OASClient("http://proxy.test/oas", api_key=DEMO_API_KEY, transport=sandbox_under_prefix) as oas:
        listing = await oas.list_organisations()

    assert len(listing.organisations) == 5
    assert [url for _, url in sandbox.requests][1] == "http://proxy.test/oas/api/organisations/?page=2"


def _mounted(sandbox: Sandbox, prefix: str):  # type: ignore[no-untyped-def]
    """The sandbox behind a proxy that strips ``prefix`` (its links then lack the prefix)."""
    return SandboxTransport(app=Starlette(routes=[Mount(prefix, app=sandbox)]))


async def test_repeated_ids_are_dropped() -> None:
    sandbox = Sandbox()
    page_two = {
        "count": 5,
        "next": f"{SANDBOX_URL}/api/organisations/?page=3",
        "previous": None,
        "results": [sandbox.store.organisations[2], sandbox.store.organisations[3]],
    }
    sandbox.inject(Fault(match="GET /api/organisations/?page=2", body=json.dumps(page_two)))
    async with client_for(sandbox) as oas:
        listing = await oas.list_organisations()

    assert [org.id for org in listing.organisations] == [1, 2, 3, 5]


async def test_a_bare_list_is_read_as_the_only_page() -> None:
    sandbox = Sandbox()
    sandbox.inject(Fault(match=ORGS, body=json.dumps(list(sandbox.store.organisations.values())[:3])))
    async with client_for(sandbox) as oas:
        listing = await oas.list_organisations()

    assert (listing.count, len(listing.organisations), listing.truncated) == (3, 3, False)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault(match=ORGS, body="<html><body>Bad gateway</body></html>", content_type="text/html"), "an HTML page"),
        (Fault(match=ORGS, body=""), "an empty body"),
        (Fault(match=ORGS, body='{"count": 5, "results": [{"id": 1'), "malformed or truncated JSON"),
        (Fault(match=ORGS, body='{"items": []}'), "not a page of results"),
        (Fault(match=ORGS, body='{"count": 1, "next": null, "results": [{"name": "no id"}]}'), "integer id"),
        (Fault(match=ORGS, status=301, headers={"Location": "https://elsewhere.test/x"}), "https://elsewhere.test"),
    ],
)
async def test_unreadable_responses_are_unexpected_response_errors(fault: Fault, message: str) -> None:
    sandbox = Sandbox()
    sandbox.inject(fault)
    async with client_for(sandbox) as oas:
        with pytest.raises(UnexpectedResponseError) as caught:
            await oas.list_organisations()

    assert message in str(caught.value)
    assert "<html>" not in str(caught.value)


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        ('{"detail": "Down for maintenance"}', "application/json", "Down for maintenance"),
        ('{"message": "Upstream timeout"}', "application/json", "Upstream timeout"),
        ('{"errors": ["a", "b"]}', "application/json", "a; b"),
        ('"just a string"', "application/json", "just a string"),
        ("Service Unavailable", "text/plain", "Service Unavailable"),
        ("<html><h1>503</h1></html>", "text/html", None),
        ("", "text/plain", None),
    ],
)
async def test_error_bodies_in_every_shape_give_a_clean_detail(
    body: str, content_type: str, detail: str | None
) -> None:
    sandbox = Sandbox()
    sandbox.inject(Fault(match="GET /helloworld", status=503, body=body, content_type=content_type, times=None))
    async with client_for(sandbox, max_retries=0) as oas:
        with pytest.raises(ServerError) as caught:
            await oas.hello()

    assert caught.value.detail == detail
    assert caught.value.status_code == 503


async def test_field_errors_from_the_api_are_kept_per_field() -> None:
    sandbox = Sandbox()
    body = json.dumps({"name": ["Organisation with this name already exists."], "currencies": "Bad."})
    sandbox.inject(Fault(match="POST /api/organisations/", status=400, body=body))
    async with client_for(sandbox) as oas:
        with pytest.raises(BadRequestError) as caught:
            await oas.create_organisation("Acme", "USD", ["USD"])

    assert caught.value.field_errors == {
        "name": ["Organisation with this name already exists."],
        "currencies": ["Bad."],
    }


@pytest.mark.parametrize(("header", "seconds"), [("7", 7.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)])
async def test_rate_limits_carry_retry_after(header: str, seconds: float | None) -> None:
    sandbox = Sandbox()
    sandbox.inject(Fault(match="GET /helloworld", status=429, headers={"Retry-After": header}, times=None))
    async with client_for(sandbox, max_retries=0) as oas:
        with pytest.raises(RateLimitError) as caught:
            await oas.hello()

    assert caught.value.retry_after == seconds


async def test_hello_as_a_json_string_is_read_too() -> None:
    sandbox = Sandbox()
    sandbox.inject(Fault(match="GET /helloworld", body='"Hello world @demo"'))
    async with client_for(sandbox) as oas:
        assert await oas.hello() == "Hello world @demo"


async def test_network_failures_are_connection_errors() -> None:
    sandbox = Sandbox()
    sandbox.inject(Fault(match="GET /helloworld", drop="before", times=None))
    async with client_for(sandbox, max_retries=0) as oas:
        with pytest.raises(APIConnectionError, match="Connection refused"):
            await oas.hello()


async def test_a_hang_is_a_timeout_after_the_configured_seconds() -> None:
    sandbox = Sandbox()
    sandbox.inject(Fault(match="GET /helloworld", delay=30, times=None))
    async with client_for(sandbox, timeout=0.2) as oas:
        with pytest.raises(APITimeoutError, match=r"within 0\.2 s"):
            await oas.hello()


async def test_an_unreachable_host_is_a_connection_error() -> None:
    async with OASClient("http://127.0.0.1:9", api_key="k", timeout=5, max_retries=0) as oas:
        with pytest.raises(APIConnectionError, match=r"cannot reach http://127\.0\.0\.1:9"):
            await oas.hello()


async def test_a_refused_sign_in_held_back_does_not_gather_the_frames_of_each_call_that_meets_it() -> None:
    async with client_for(Sandbox(), api_key="", password="wrong") as oas:
        depths = []
        for _ in range(10):
            with pytest.raises(AuthenticationError) as refused:
                await oas.login()
            depths.append(len(traceback.extract_tb(refused.value.__traceback__)))

    assert max(depths[1:]) <= depths[0]
