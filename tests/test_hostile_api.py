"""A hostile or broken API: whatever it sends, the model reads one clear line, never "failed internally"."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client

from oas_mcp.client._pagination import MOST_PAGES_EVER, most_pages
from oas_mcp.sandbox import Fault, Sandbox

from support import error_text, server_for

pytestmark = pytest.mark.anyio

UNEXPECTED = "The OAS API sent an unexpected response: GET /api/organisations/ answered HTTP 200 with"


def page_linking_to(link: str) -> str:
    return json.dumps({"count": 9, "next": link, "previous": None, "results": [{"id": 1, "name": "A"}]})


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            Fault(body=b"not gzip at all", headers={"content-encoding": "gzip"}),
            f"{UNEXPECTED} a body that is not the gzip it claims.",
        ),
        (Fault(body="[" * 100_000 + "]" * 100_000), f"{UNEXPECTED} malformed or truncated JSON (200000 bytes)"),
        (Fault(body=page_linking_to("/api/organisations/?page=2\x00")), f"{UNEXPECTED} JSON that is not a page whose"),
        (Fault(body=page_linking_to("http://[::1/api/organisations/?page=2")), f"{UNEXPECTED} JSON that is not a page"),
        (Fault(body=page_linking_to("/api/organisations/?page=" + "9" * 70_000)), f"{UNEXPECTED} JSON that is not a"),
        (Fault(status=429, headers={"retry-after": "1e308"}), "rate limiting requests; retry after 86400 s."),
        (Fault(status=429, headers={"retry-after": "nan"}), "rate limiting requests; retry in a minute."),
        (Fault(status=429, headers={"retry-after": "inf"}), "rate limiting requests; retry in a minute."),
    ],
    ids=["bad-gzip", "deep-json", "nul-in-next", "broken-ipv6-next", "endless-next", "retry-1e308", "nan", "inf"],
)
async def test_a_broken_answer_is_one_clear_line(fault: Fault, expected: str) -> None:
    sandbox = Sandbox()
    fault.match, fault.times = "GET /api/organisations/", None
    fault.status = fault.status or 200
    fault.body = fault.body or "{}"
    sandbox.inject(fault)

    async with Client(server_for(sandbox, max_retries=0)) as client:
        text = error_text(await client.call_tool("list_organisations", {}))

    assert expected in text
    assert "internally" not in text
    assert len(text) < 400


async def test_a_page_number_no_api_has_is_not_found_by_the_sandbox() -> None:
    sandbox = Sandbox()
    sandbox.inject(Fault("GET /api/organisations/", body=page_linking_to("/api/organisations/?page=" + "9" * 5000)))

    async with Client(server_for(sandbox, max_retries=0)) as client:
        text = error_text(await client.call_tool("list_organisations", {}))

    assert text.startswith("The OAS API has no /api/organisations/ (HTTP 404")


def test_a_claimed_count_cannot_unbound_the_pages_of_a_list() -> None:
    assert most_pages(10**30, 1) == MOST_PAGES_EVER == 10_000
    assert most_pages(1_000, 10) == 110


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_whole_number_too_big_for_an_id_is_not_found_without_asking_the_api(mode: Any) -> None:
    sandbox = Sandbox()

    async with Client(server_for(sandbox), mode=mode) as client:
        text = error_text(await client.call_tool("activate_organisation", {"organisation_id": 1e300}))

    assert text == "Organisation 10000000000000000525047… not found; call list_organisations for valid ids."
    assert not sandbox.requests
