"""The check before creating, through a real MCP client: a name that is taken is asked about when the client can
ask its user, and reported in the result when it cannot."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp_types import ElicitRequestParams, ElicitResult

from oas_mcp.sandbox import Sandbox

from support import error_text, server_for, structured

pytestmark = pytest.mark.anyio

TAKEN = {"name": "  globex ", "base_currency": "USD", "currencies": ["USD"]}
QUESTION = "Globex (id 2, EUR) already exists. Create another organisation with the same name?"
MODES = pytest.mark.parametrize("mode", ["auto", "legacy"])


class User:
    """A user answering the client's questions with ``action``, and what they were asked."""

    def __init__(self, action: Any) -> None:
        self.action = action
        self.asked: list[ElicitRequestParams] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult:
        self.asked.append(params)
        return ElicitResult(action=self.action, content={} if self.action == "accept" else None)


def globexes(sandbox: Sandbox) -> list[int]:
    return [id_ for id_, org in sandbox.store.organisations.items() if org["name"].strip().casefold() == "globex"]


def posts(sandbox: Sandbox) -> int:
    return [method for method, _ in sandbox.requests].count("POST")


@MODES
async def test_a_taken_name_is_created_again_only_when_the_user_accepts(sandbox: Sandbox, mode: Any) -> None:
    user = User("accept")
    async with Client(server_for(sandbox), mode=mode, elicitation_callback=user) as client:
        data = structured(await client.call_tool("create_organisation", TAKEN))

    assert [params.message for params in user.asked] == [QUESTION]
    assert getattr(user.asked[0], "requested_schema", {}).get("properties") == {}  # nothing to fill in
    assert (data["name"], data["same_name_ids"]) == ("globex", [2])
    assert globexes(sandbox) == [2, data["id"]]


@pytest.mark.parametrize(
    ("action", "said"),
    [("decline", "the user declined creating"), ("cancel", "the user dismissed the question about creating")],
)
@MODES
async def test_declined_or_dismissed_nothing_is_created_and_the_model_is_told(
    sandbox: Sandbox, mode: Any, action: str, said: str
) -> None:
    user = User(action)
    async with Client(server_for(sandbox), mode=mode, elicitation_callback=user) as client:
        text = error_text(await client.call_tool("create_organisation", TAKEN))

    assert text == (
        f"Not created: Globex (id 2, EUR) already exists, and {said} another with the same name. "
        "Use the existing one, or ask the user before calling create_organisation again."
    )
    assert len(user.asked) == 1
    assert globexes(sandbox) == [2]
    assert posts(sandbox) == 0


@MODES
async def test_a_client_that_cannot_ask_creates_and_the_result_names_the_existing_one(
    sandbox: Sandbox, mode: Any
) -> None:
    async with Client(server_for(sandbox), mode=mode) as client:
        data = structured(await client.call_tool("create_organisation", TAKEN))

    assert data["same_name_ids"] == [2]
    assert globexes(sandbox) == [2, data["id"]]


@MODES
async def test_a_free_name_is_created_without_a_question_and_with_one_listing(sandbox: Sandbox, mode: Any) -> None:
    user = User("decline")
    async with Client(server_for(sandbox), mode=mode, elicitation_callback=user) as client:
        data = structured(await client.call_tool("create_organisation", {**TAKEN, "name": "Globex Two"}))

    assert user.asked == []
    assert data["same_name_ids"] == []
    first_pages = [url for method, url in sandbox.requests if method == "GET" and url.endswith("/api/organisations/")]
    assert (len(first_pages), posts(sandbox)) == (1, 1)


async def test_several_namesakes_are_named_in_the_question(sandbox: Sandbox) -> None:
    owner = sandbox.store.users[1]
    for base in ("USD", "GBP", "JPY"):
        sandbox.store.add_organisation(owner, "GLOBEX", base, [base])
    user = User("decline")
    async with Client(server_for(sandbox), mode="legacy", elicitation_callback=user) as client:
        error_text(await client.call_tool("create_organisation", TAKEN))

    assert user.asked[0].message == (
        "Globex (id 2, EUR), GLOBEX (id 8, USD), GLOBEX (id 9, GBP) and 1 more already exist. "
        "Create another organisation with the same name?"
    )


async def test_the_check_is_not_an_argument(mcp: Client) -> None:
    tool = next(tool for tool in (await mcp.list_tools()).tools if tool.name == "create_organisation")

    assert list(tool.input_schema["properties"]) == ["name", "base_currency", "currencies", "image"]
    assert tool.output_schema is not None
    assert "same_name_ids" in tool.output_schema["properties"]
