"""Completions, through a real MCP client: what a user sees offered while typing the prompt's and the resource
template's arguments."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp_types import Completion, PromptReference, ResourceTemplateReference

from oas_mcp.sandbox import Fault, Sandbox, demo_store

from support import server_for

pytestmark = pytest.mark.anyio

PROMPT = PromptReference(name="onboard_organisation")
TEMPLATE = ResourceTemplateReference(uri="oas://organisations/{organisation_id}")


async def complete(
    client: Client, ref: PromptReference | ResourceTemplateReference, name: str, value: str
) -> Completion:
    return (await client.complete(ref, {"name": name, "value": value})).completion


@pytest.mark.parametrize(
    ("typed", "first"),
    [("eu", ["EUR"]), ("Eu", ["EUR"]), ("euro", ["EUR"]), ("us", ["USD", "USN"]), ("POUND", ["GBP"]), ("zz", [])],
)
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_base_currency_completes_to_iso_codes_by_code_or_name(
    sandbox: Sandbox, mode: Any, typed: str, first: list[str]
) -> None:
    async with Client(server_for(sandbox), mode=mode) as client:
        completion = await complete(client, PROMPT, "base_currency", typed)

    assert completion.values[: len(first)] == first
    assert completion.total == len(completion.values)
    assert not sandbox.requests


async def test_a_currency_name_offers_every_code_of_that_name(mcp: Client) -> None:
    completion = await complete(mcp, PROMPT, "base_currency", "dollar")

    assert completion.values == ["AUD", "CAD", "HKD", "NZD", "SGD", "USD"]


async def test_nothing_typed_offers_the_first_hundred_codes_and_says_there_are_more(mcp: Client) -> None:
    completion = await complete(mcp, PROMPT, "base_currency", "")

    assert len(completion.values) == 100
    assert completion.values[:2] == ["AED", "AFN"]
    assert completion.total is not None
    assert completion.total > 100
    assert completion.has_more is True


@pytest.mark.parametrize(
    ("typed", "values"),
    [
        ("USD, eu", ["USD, EUR"]),
        ("usd;Eu", ["usd;EUR"]),
        ("EUR, euro", []),  # already listed
        ("us", ["USD", "USN"]),
    ],
)
async def test_currencies_complete_their_last_code_keeping_what_was_typed_before(
    mcp: Client, typed: str, values: list[str]
) -> None:
    assert (await complete(mcp, PROMPT, "currencies", typed)).values == values


async def test_the_name_and_other_prompts_complete_to_nothing(mcp: Client) -> None:
    assert (await complete(mcp, PROMPT, "name", "Glo")).values == []
    assert (await complete(mcp, PromptReference(name="test_prompt_with_arguments"), "arg1", "test")).values == []


async def test_read_only_offers_no_prompt_and_so_no_currencies(sandbox: Sandbox) -> None:
    async with Client(server_for(sandbox, read_only=True)) as client:
        completion = await complete(client, PROMPT, "base_currency", "eu")

    assert completion.values == []


@pytest.mark.parametrize(
    ("typed", "values"),
    [
        ("", ["1", "2", "3", "4", "5"]),
        ("glo", ["2"]),
        ("GLOBEX", ["2"]),
        ("3", ["3"]),
        ("in", ["3", "5", "4"]),  # Initech starts with it, a word of Stark Industries does, Umbrella Holdings has it
        ("h", ["4", "3"]),  # a word of Umbrella Holdings starts with it, Initech has it
        ("nowhere", []),
    ],
)
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_organisation_ids_complete_best_match_first_by_id_or_name(
    sandbox: Sandbox, mode: Any, typed: str, values: list[str]
) -> None:
    async with Client(server_for(sandbox), mode=mode) as client:
        completion = await complete(client, TEMPLATE, "organisation_id", typed)

    assert completion.values == values


async def test_an_id_ranks_before_names_and_ids_that_start_with_it() -> None:
    sandbox = Sandbox(demo_store(organisations=12))
    async with Client(server_for(sandbox)) as client:
        completion = await complete(client, TEMPLATE, "organisation_id", "1")

    assert completion.values[:4] == ["1", "10", "11", "12"]


async def test_typing_lists_the_organisations_once_not_once_a_keystroke(sandbox: Sandbox, mcp: Client) -> None:
    for typed in ("Gl", "Glo", "Glob", "globe"):
        assert (await complete(mcp, TEMPLATE, "organisation_id", typed)).values == ["2"]

    pages = [url for method, url in sandbox.requests if method == "GET" and "/api/organisations/" in url]
    assert len(pages) == 3  # one listing: the sandbox's three pages


async def test_a_failing_api_gives_no_completions_and_is_not_asked_again_at_each_keystroke(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(match="GET /api/organisations/*", status=500, body='{"detail": "Internal error"}', times=None))
    async with Client(server_for(sandbox, max_retries=0)) as client:
        completions = [await complete(client, TEMPLATE, "organisation_id", typed) for typed in ("G", "Gl", "Glo")]
        templates = await complete(client, PROMPT, "base_currency", "eu")

    assert [completion.values for completion in completions] == [[], [], []]
    assert len(sandbox.requests) == 1
    assert templates.values == ["EUR"]


async def test_with_per_request_credentials_and_no_key_nothing_is_listed(sandbox: Sandbox) -> None:
    async with Client(server_for(sandbox, per_request_credentials=True, transport="http")) as client:
        completion = await complete(client, TEMPLATE, "organisation_id", "")

    assert completion.values == []
    assert not sandbox.requests
