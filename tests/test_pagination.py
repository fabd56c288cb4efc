"""Flattening with concurrent prefetch: the same organisations in the same order as following ``next`` one by one,
whatever the API does meanwhile, never a page more than ``limit`` needs, never a request to another origin."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import anyio
import pytest
from starlette.responses import JSONResponse

from oas_mcp.client import NotFoundError, OrganisationList, ServerError
from oas_mcp.sandbox import SANDBOX_URL, Fault, Sandbox, demo_store

from support import client_for

pytestmark = pytest.mark.anyio

SEQUENTIAL = 1
Setup = Callable[[Sandbox], None]


def big(organisations: int, **options: Any) -> Sandbox:
    return Sandbox(demo_store(organisations=organisations), **options)


async def listing(sandbox: Sandbox, concurrency: int = 8, **arguments: Any) -> OrganisationList:
    async with client_for(sandbox, page_concurrency=concurrency) as oas:
        return await oas.list_organisations(**arguments)


async def both_ways(make: Callable[[], Sandbox], setup: Setup = lambda _: None) -> tuple[list[int], list[int], Sandbox]:
    """The ids listed by following ``next`` one by one and with prefetch, each on a fresh sandbox set up alike."""
    sequential, prefetching = make(), make()
    setup(sequential)
    setup(prefetching)
    one_by_one = await listing(sequential, SEQUENTIAL)
    concurrent = await listing(prefetching)
    return [org.id for org in one_by_one.organisations], [org.id for org in concurrent.organisations], prefetching


def page_requests(sandbox: Sandbox) -> list[str]:
    """The query of each list request, in the order the sandbox saw them ("" for the first page)."""
    return [url.removeprefix(f"{SANDBOX_URL}/api/organisations/") for _, url in sandbox.requests]


@pytest.mark.parametrize(("organisations", "page_size"), [(40, 1), (143, 7), (250, 100), (7, 7), (8, 7), (0, 7)])
async def test_prefetch_lists_what_following_next_lists_in_the_same_order(organisations: int, page_size: int) -> None:
    one_by_one, concurrent, sandbox = await both_ways(lambda: big(organisations, page_size=page_size, page_latency=0))

    assert concurrent == one_by_one == list(range(1, organisations + 1))
    pages = max(1, -(-organisations // page_size))
    assert sorted(page_requests(sandbox)) == sorted(["", *(f"?page={n}" for n in range(2, pages + 1))])


async def test_pages_after_the_first_are_fetched_concurrently_but_never_more_than_page_concurrency() -> None:
    sandbox = big(30, page_size=1)
    inner, in_flight, peak = sandbox.app, 0, 0
    three_at_once = anyio.Event()

    async def gauge(scope, receive, send):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 3:
            three_at_once.set()
        if scope["query_string"]:  # pages after the first wait until three are in flight together
            await three_at_once.wait()
        await inner(scope, receive, send)
        in_flight -= 1

    sandbox.app = gauge  # type: ignore[assignment]
    with anyio.fail_after(10):
        result = await listing(sandbox, 3)

    assert [org.id for org in result.organisations] == list(range(1, 31))
    assert peak == 3


def gauged(sandbox: Sandbox) -> list[tuple[int, int]]:
    """Makes ``sandbox`` record each list request as it arrives: (its page number, how many were in flight then,
    itself included)."""
    inner, arrivals, in_flight = sandbox.app, [], 0

    async def gauge(scope, receive, send):  # type: ignore[no-untyped-def]
        nonlocal in_flight
        in_flight += 1
        query = parse_qs(scope["query_string"].decode())
        arrivals.append((int(query.get("page", ["1"])[0]), in_flight))
        try:
            await inner(scope, receive, send)
        finally:
            in_flight -= 1

    sandbox.app = gauge  # type: ignore[assignment]
    return arrivals


@pytest.mark.parametrize(
    ("status", "pages", "most"),
    [
        (429, (), 12),
        (429, (2, 3, 4, 5), 6),  # requests sent together and told together: halved once
        (503, (2, 3, 4, 5), 6),
        (429, (2, 60), 3),  # told again after slowing down: halved again
    ],
)
async def test_told_the_api_is_overloaded_prefetch_sends_half_as_many_pages_at_once(
    status: int, pages: tuple[int, ...], most: int
) -> None:
    sandbox = big(120, page_size=1, page_latency=0.002)
    arrivals = gauged(sandbox)
    for number in pages:
        sandbox.inject(Fault(match=f"GET *?page={number}", status=status, headers={"Retry-After": "0"}))

    result = await listing(sandbox, 12)

    assert [org.id for org in result.organisations] == list(range(1, 121))
    assert most // 2 < max(count for number, count in arrivals if number > 100) <= most


@pytest.mark.parametrize("style", ["cursor", "loop"])
async def test_links_that_are_not_plain_page_numbers_are_followed_one_by_one(style: str) -> None:
    one_by_one, concurrent, sandbox = await both_ways(lambda: big(20, page_size=3, link_style=style))

    assert concurrent == one_by_one == list(range(1, 21))
    if style == "cursor":
        assert all(request.startswith("?cursor=") for request in page_requests(sandbox)[1:])


async def test_relative_page_links_are_prefetched_too() -> None:
    one_by_one, concurrent, sandbox = await both_ways(lambda: big(20, page_size=3, link_style="relative"))

    assert concurrent == one_by_one == list(range(1, 21))
    assert sorted(page_requests(sandbox)) == sorted(["", *(f"?page={n}" for n in range(2, 8))])


def add_at_the_end(sandbox: Sandbox) -> None:
    """One more page than page 1 said."""

    def add() -> None:
        sandbox.store.add_organisation(sandbox.store.users[1], "New", "USD", ["USD"])

    sandbox.inject(Fault(match="GET *page=3", action=add))


def remove_the_last(sandbox: Sandbox) -> None:
    """A short last page."""
    sandbox.inject(Fault(match="GET *page=3", action=lambda: sandbox.store.organisations.pop(49)))


def remove_the_first(sandbox: Sandbox) -> None:
    """Every later page shifts by one: following ``next`` skips an organisation, and so must prefetch, no more."""
    sandbox.inject(Fault(match="GET *page=2", action=lambda: sandbox.store.organisations.pop(1)))


def insert_ahead(sandbox: Sandbox) -> None:
    """Every later page shifts back by one, and one more page than page 1 said."""

    def insert() -> None:
        store = sandbox.store
        store.organisations = {0: {**store.organisations[1], "id": 0, "name": "Inserted"}, **store.organisations}

    sandbox.inject(Fault(match="GET *page=2", action=insert))


@pytest.mark.parametrize("change", [add_at_the_end, remove_the_last, remove_the_first, insert_ahead])
async def test_a_count_that_changes_midway_falls_back_to_following_next(change: Setup) -> None:
    one_by_one, concurrent, _ = await both_ways(lambda: big(49, page_size=7), change)

    assert concurrent == one_by_one
    assert len(set(concurrent)) == len(concurrent)


def shorter_pages(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(match="GET *page=2", action=lambda: setattr(sandbox, "page_size", 4)))


def longer_pages(sandbox: Sandbox) -> None:
    sandbox.inject(Fault(match="GET *page=2", action=lambda: setattr(sandbox, "page_size", 10)))


def repeats(sandbox: Sandbox) -> None:
    page = {
        "count": 49,
        "next": f"{SANDBOX_URL}/api/organisations/?page=3",
        "previous": None,
        "results": [sandbox.store.organisations[n] for n in range(5, 12)],
    }
    sandbox.inject(Fault(match="GET *page=2", body=json.dumps(page)))


@pytest.mark.parametrize("odd_page", [shorter_pages, longer_pages, repeats])
async def test_a_page_unlike_the_plan_is_taken_as_sent_then_next_is_followed(odd_page: Setup) -> None:
    one_by_one, concurrent, _ = await both_ways(lambda: big(49, page_size=7), odd_page)

    assert concurrent == one_by_one
    assert len(set(concurrent)) == len(concurrent)


def shift_after_page_three(sandbox: Sandbox, *, wait: bool) -> None:
    """When page 2 is requested, insert an organisation ahead and remove the last: the count stays the same, but
    page 2 repeats the last of page 1 and every later page shifts. With ``wait``, page 2 is answered only after
    page 3 was, so a page 3 already prefetched predates the shift."""
    inner, page_three = sandbox.app, anyio.Event()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["query_string"] == b"page=2":
            if wait:
                await page_three.wait()
            store = sandbox.store
            store.organisations = {0: {**store.organisations[1], "id": 0, "name": "Inserted"}, **store.organisations}
            store.organisations.pop(49)
        await inner(scope, receive, send)
        if scope["query_string"] == b"page=3":
            page_three.set()

    sandbox.app = app  # type: ignore[assignment]


async def test_a_shift_that_keeps_the_count_is_caught_by_a_repeated_organisation() -> None:
    sequential, prefetching = big(49, page_size=7), big(49, page_size=7)
    shift_after_page_three(sequential, wait=False)
    shift_after_page_three(prefetching, wait=True)

    one_by_one = await listing(sequential, SEQUENTIAL)
    with anyio.fail_after(10):
        concurrent = await listing(prefetching)

    assert [org.id for org in concurrent.organisations] == [org.id for org in one_by_one.organisations]
    assert [org.id for org in concurrent.organisations] == list(range(1, 49))


async def test_a_page_gone_missing_is_requested_again_one_by_one() -> None:
    sandbox = big(50, page_size=7)
    sandbox.inject(Fault(match="GET *page=5", status=404, body='{"detail": "Invalid page."}'))

    result = await listing(sandbox)

    assert [org.id for org in result.organisations] == list(range(1, 51))
    assert page_requests(sandbox).count("?page=5") == 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault(match="GET *page=5", status=404, body='{"detail": "Invalid page."}', times=None), NotFoundError),
        (Fault(match="GET *page=3", status=500, times=None), ServerError),
    ],
)
async def test_a_failing_page_fails_the_listing_as_following_next_would(fault: Fault, error: type[Exception]) -> None:
    sandbox = big(50, page_size=7)
    sandbox.inject(fault)

    with pytest.raises(error):
        await listing(sandbox)


@pytest.mark.parametrize(("limit", "requests"), [(1, 1), (6, 1), (7, 1), (8, 2), (14, 2), (15, 3), (50, 8), (500, 8)])
async def test_no_page_is_fetched_beyond_what_the_limit_needs(limit: int, requests: int) -> None:
    sandbox = big(50, page_size=7)

    result = await listing(sandbox, limit=limit)

    assert [org.id for org in result.organisations] == list(range(1, min(limit, 50) + 1))
    assert sandbox.served == requests
    assert result.truncated == (limit < 50)


async def test_with_a_filter_the_limit_is_still_reached_in_order() -> None:
    one_by_one = await listing(big(100, page_size=7), SEQUENTIAL, limit=9, currency="JPY")
    concurrent = await listing(big(100, page_size=7), limit=9, currency="JPY")

    assert [org.id for org in concurrent.organisations] == [org.id for org in one_by_one.organisations]
    assert len(concurrent.organisations) == 9
    assert concurrent.truncated


async def test_prefetched_pages_go_to_the_configured_origin_only() -> None:
    sandbox = big(30, page_size=4, link_origin="https://attacker.example:8443")

    result = await listing(sandbox)

    assert len(result.organisations) == 30
    assert sandbox.served == 8
    assert {url.split("/")[2] for _, url in sandbox.requests} == {"sandbox.oas.invalid"}


async def test_one_log_line_per_list_with_pages_items_and_milliseconds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="oas_mcp.client")

    await listing(big(20, page_size=7))

    lines = [record.getMessage() for record in caplog.records if record.name == "oas_mcp.client"]
    assert len(lines) == 1
    assert lines[0].startswith("listed 20 organisations (of 20) from 3 pages (2 prefetched) in ")
    assert lines[0].endswith(" ms")


async def test_progress_is_reported_after_every_page_in_order() -> None:
    seen: list[tuple[int, int | None, int]] = []

    async def progress(pages: int, total: int | None, kept: int) -> None:
        seen.append((pages, total, kept))

    async with client_for(big(20, page_size=7)) as oas:
        await oas.list_organisations(progress=progress)

    assert seen == [(1, 3, 7), (2, 3, 14), (3, 3, 20)]


def endless(count: int | None, size: int) -> tuple[Sandbox, list[int]]:
    """A hostile API: each page holds ``size`` new organisations and links to one more page, by a link never seen
    before (``?page=N+1&x=<new>``), whatever ``count`` says; and the page numbers it was asked for."""
    sandbox, asked = Sandbox(), []

    async def pages(scope, receive, send):  # type: ignore[no-untyped-def]
        number = int(parse_qs(scope["query_string"].decode()).get("page", ["1"])[0])
        asked.append(number)
        link = f"{SANDBOX_URL}/api/organisations/?page={number + 1}&x={uuid.uuid4().hex}"
        results = [{"id": n, "name": f"Org {n}"} for n in range((number - 1) * size + 1, number * size + 1)]
        await JSONResponse({"count": count, "next": link, "results": results})(scope, receive, send)

    sandbox.app = pages  # type: ignore[assignment]
    return sandbox, asked


async def test_next_links_that_go_on_forever_stop_soon_after_what_the_count_implies() -> None:
    sandbox, asked = endless(count=3, size=1)

    result = await listing(sandbox, limit=10_000)

    assert asked == [1, 2, 3, 4, 5]  # the 3 pages the count needs, and 2 for organisations added meanwhile
    assert [org.id for org in result.organisations] == [1, 2, 3, 4, 5]
    assert result.note == "the API's next links went on past page 5, more than its count of 3 needs; stopped there"
    assert not result.truncated


async def test_without_a_count_at_most_a_thousand_pages_are_read() -> None:
    sandbox, asked = endless(count=None, size=1)

    result = await listing(sandbox, limit=10_000)

    assert len(asked) == 1_000
    assert len(result.organisations) == 1_000
    assert result.note == "the API's next links went on past page 1000, the most read without a count; stopped there"


async def test_without_a_count_the_largest_limit_is_still_reached_at_ten_a_page() -> None:
    sandbox, asked = endless(count=None, size=10)

    result = await listing(sandbox, limit=10_000)

    assert len(result.organisations) == 10_000
    assert (result.truncated, result.note) == (True, None)
    assert len(asked) == 1_000


async def test_a_progress_report_that_fails_midway_fails_the_listing_with_its_own_error() -> None:
    class Gone(Exception):
        """The MCP client went away while the list was being read."""

    async def progress(pages: int, total: int | None, kept: int) -> None:
        if pages == 2:  # pages 3 and on are in flight
            raise Gone

    async with client_for(big(50, page_size=7)) as oas:
        with pytest.raises(Gone):
            await oas.list_organisations(progress=progress)
