"""Resources and the prompt, read through a real MCP client: what a model or a user sees."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, TextResourceContents
from starlette.responses import JSONResponse

from oas_mcp.sandbox import DEMO_API_KEY, DEMO_PASSWORD, Sandbox, demo_store

from support import NO_CREDENTIALS, server_for

pytestmark = pytest.mark.anyio


async def read(client: Client, uri: str) -> Any:
    contents = (await client.read_resource(uri)).contents
    assert len(contents) == 1
    assert isinstance(contents[0], TextResourceContents)
    assert contents[0].mime_type == "application/json"
    assert DEMO_API_KEY not in contents[0].text
    assert DEMO_PASSWORD not in contents[0].text
    return json.loads(contents[0].text)


async def failure(client: Client, uri: str) -> MCPError:
    with pytest.raises(MCPError) as caught:
        await client.read_resource(uri)
    return caught.value


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_lists_the_resources_the_template_and_the_prompt(sandbox: Sandbox, mode: Any) -> None:
    async with Client(server_for(sandbox), mode=mode) as client:
        resources = {resource.uri: resource for resource in (await client.list_resources()).resources}
        templates = [template.uri_template for template in (await client.list_resource_templates()).resource_templates]
        prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}

    assert set(resources) == {"oas://session", "oas://organisations"}
    assert all(resource.description and resource.mime_type == "application/json" for resource in resources.values())
    assert templates == ["oas://organisations/{organisation_id}"]
    arguments = prompts["onboard_organisation"].arguments or []
    assert [(argument.name, argument.required) for argument in arguments] == [
        ("name", True),
        ("base_currency", True),
        ("currencies", True),
    ]
    assert all(argument.description for argument in arguments)


async def test_read_only_keeps_the_resources_but_not_the_onboarding_prompt(sandbox: Sandbox) -> None:
    async with Client(server_for(sandbox, read_only=True)) as client:
        prompts = (await client.list_prompts()).prompts
        session = await read(client, "oas://session")

    assert prompts == []
    assert session["read_only"] is True


async def test_session_before_signing_in_says_which_credentials_are_set(sandbox: Sandbox) -> None:
    async with Client(server_for(sandbox, password="")) as client:
        session = await read(client, "oas://session")

    assert session == {
        "server": session["server"],
        "base_url": "http://sandbox.oas.invalid",
        "read_only": False,
        "credentials": {"api_key": True, "username": True, "email": True, "password": False},
        "signed_in": None,
        "active_organisation_id": None,
    }
    assert session["server"].startswith("oas-mcp ")
    assert not sandbox.requests


async def test_session_after_login_and_activate_shows_the_user_expiry_and_active_organisation(
    mcp: Client, sandbox: Sandbox
) -> None:
    await mcp.call_tool("login", {})
    await mcp.call_tool("activate_organisation", {"organisation_id": 4})

    session = await read(mcp, "oas://session")

    assert session["signed_in"]["user"]["username"] == "demo"
    assert 850 < session["signed_in"]["expires_in_seconds"] <= 900
    assert session["signed_in"]["expires_at"].endswith("Z")
    assert session["active_organisation_id"] == 4 == sandbox.store.active[1]
    assert "eyJ" not in json.dumps(session)


async def test_organisations_flattens_every_page_up_to_the_list_limit(sandbox: Sandbox) -> None:
    async with Client(server_for(sandbox)) as client:
        everything = await read(client, "oas://organisations")
    async with Client(server_for(sandbox, list_limit=3)) as client:
        limited = await read(client, "oas://organisations")

    assert [organisation["id"] for organisation in everything["organisations"]] == [1, 2, 3, 4, 5]
    assert (everything["count"], everything["truncated"]) == (5, False)
    assert (limited["returned"], limited["truncated"]) == (3, True)


async def test_one_organisation_by_id(mcp: Client) -> None:
    organisation = await read(mcp, "oas://organisations/5")

    assert organisation["name"] == "Stark Industries"
    assert organisation["currencies"] == ["USD"]


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "oas://organisations/99",
            "Organisation 99 not found; read oas://organisations (or call list_organisations) for valid ids.",
        ),
        (
            "oas://organisations/acme",
            "oas://organisations/acme is not an organisation: ids are positive integers; read oas://organisations "
            "for them.",
        ),
        ("oas://organisations/0", "oas://organisations/0 is not an organisation"),
    ],
)
async def test_a_wrong_organisation_id_is_not_found_with_a_way_forward(mcp: Client, uri: str, message: str) -> None:
    error = await failure(mcp, uri)

    assert error.error.code == INVALID_PARAMS
    assert error.error.message.startswith(message)


async def test_an_api_failure_reads_as_one_actionable_line(sandbox: Sandbox) -> None:
    async with Client(server_for(sandbox, **NO_CREDENTIALS)) as client:
        error = await failure(client, "oas://organisations")

    assert error.error.message == (
        "The OAS API needs credentials (HTTP 401); set OAS_API_KEY, or OAS_USERNAME (or OAS_EMAIL) and OAS_PASSWORD."
    )


async def test_the_onboarding_prompt_walks_check_create_activate_confirm(mcp: Client) -> None:
    arguments = {"name": " Wayne Enterprises ", "base_currency": "usd", "currencies": "usd, eur;gbp"}

    result = await mcp.get_prompt("onboard_organisation", arguments)

    assert len(result.messages) == 1
    assert result.messages[0].role == "user"
    text = getattr(result.messages[0].content, "text", "")
    steps = [line.split(":")[0] for line in text.splitlines() if line[:2] in ("1.", "2.", "3.", "4.", "5.")]
    assert steps == ["1. Check", "2. Look for duplicates", "3. Create", "4. Activate", "5. Confirm"]
    assert "call hello" in text
    assert 'name_contains="Wayne Enterprises"' in text
    assert 'name="Wayne Enterprises", base_currency="USD" and currencies=["USD", "EUR", "GBP"]' in text
    assert "activate_organisation" in text
    assert "oas://session" in text


async def test_the_prompt_without_its_arguments_is_a_clear_invalid_params_error(mcp: Client) -> None:
    with pytest.raises(MCPError) as caught:
        await mcp.get_prompt("onboard_organisation", {"name": "Acme"})

    assert caught.value.error.code == INVALID_PARAMS
    assert caught.value.error.message.startswith("Missing required arguments:")
    assert "base_currency" in caught.value.error.message
    assert caught.value.error.message.endswith("list the prompts to see their arguments.")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(
    "uri",
    ["oas://organisations/" + "9" * 5000, "oas://organisations/" + "9" * 20, "oas://organisations/\u00b2"],
)
async def test_an_absurd_organisation_id_is_not_found_in_one_short_line(
    sandbox: Sandbox, mode: Any, uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with Client(server_for(sandbox), mode=mode) as client:
        error = await failure(client, uri)

    assert error.error.code == INVALID_PARAMS
    assert error.error.message.endswith(
        " is not an organisation: ids are positive integers; read oas://organisations for them."
    )
    assert len(error.error.message) < 200
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR or record.exc_info]
    assert not sandbox.requests


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("uri", ["oas://organisations/1\u202e2", "oas://organisations/1/\u202e" + "x" * 3000])
async def test_an_invisible_or_overlong_part_of_a_uri_is_not_echoed(sandbox: Sandbox, mode: Any, uri: str) -> None:
    async with Client(server_for(sandbox), mode=mode) as client:
        error = await failure(client, uri)

    assert error.error.code == INVALID_PARAMS
    assert "\u202e" not in error.error.message
    assert len(error.error.message) < 500


def endless(sandbox: Sandbox, pages: int) -> None:
    """The sandbox's organisations never end: each page (a little slow) links to the next with a new query,
    and claims a count that bounds nothing, until page ``pages``."""
    (organisation, *_) = demo_store().organisations.values()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        number = int(parse_qs(scope["query_string"].decode()).get("page", ["1"])[0])
        await anyio.sleep(0.02)
        link = f"/api/organisations/?page={number + 1}&x={number}" if number < pages else None
        page = {"count": 10**9, "next": link, "results": [{**organisation, "id": number}]}
        await JSONResponse(page)(scope, receive, send)

    sandbox.app = app  # type: ignore[assignment]


@pytest.mark.parametrize("uri", ["oas://organisations/999999", "oas://organisations"])
async def test_reading_a_resource_fits_in_the_call_budget(sandbox: Sandbox, uri: str) -> None:
    endless(sandbox, pages=200)

    async with Client(server_for(sandbox, call_budget=0.3, list_limit=10_000)) as client:
        error = await failure(client, uri)

    assert error.error.message.startswith("Gave up: the call's 0.3 s budget ran out")
    assert error.error.message.endswith("try again later, or raise OAS_CALL_BUDGET.")
    assert sandbox.served < 200
