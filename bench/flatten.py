"""Flattening 1,000 organisations over 143 pages (page size 7) at 20 ms per page.

oas-mcp's list_organisations through a real MCP client (oas-mcp on stdio, the sandbox over loopback HTTP)
vs a sequential follow-``next`` loop with a bare httpx2 client on the same sandbox. Goal: <= 0.15x.

Also measured, in the same alternation, and printed as the parts of oas-mcp's figure that are not oas-mcp's: a bare
httpx2 client fetching the same pages as many at a time (what this sandbox and HTTP on this machine allow, beside
the floor that the page latency alone sets), and the MCP client checking the result against the output schema.

    python bench/flatten.py [--rounds 5] [--page-concurrency N]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import anyio
import httpx2
from benchkit import (
    API_KEY_HEADERS,
    client_check_ms,
    machine,
    median_ms,
    ratio_line,
    sandbox_server,
    stdio_client,
    structured,
)

from oas_mcp.settings import Settings

ORGANISATIONS, PAGE_SIZE, LATENCY = 1000, 7, 0.020


async def follow_next(http: httpx2.AsyncClient) -> list[Any]:
    """What MCP servers usually do: request a page, then its ``next``, one at a time."""
    organisations: list[Any] = []
    link: str | None = "/api/organisations/"
    while link:
        page = (await http.get(link, headers=API_KEY_HEADERS)).raise_for_status().json()
        organisations.extend(page["results"])
        link = page["next"]
    return organisations


async def many_at_once(http: httpx2.AsyncClient, concurrency: int) -> list[Any]:
    """Page 1, then the pages after it with ``concurrency`` requests in flight, each refilled as soon as one lands:
    how oas-mcp fetches them, without its checks, its parsing or MCP."""
    first = (await http.get("/api/organisations/", headers=API_KEY_HEADERS)).raise_for_status().json()
    found = {1: first["results"]}
    numbers = iter(range(2, -(-first["count"] // len(first["results"])) + 1))

    async def fetch() -> None:
        for number in numbers:
            page = await http.get(f"/api/organisations/?page={number}", headers=API_KEY_HEADERS)
            found[number] = page.raise_for_status().json()["results"]

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(fetch)
    return [organisation for number in sorted(found) for organisation in found[number]]


async def main(rounds: int, page_concurrency: int | None) -> None:
    settings = {} if page_concurrency is None else {"OAS_PAGE_CONCURRENCY": str(page_concurrency)}
    concurrency = page_concurrency or Settings.model_fields["page_concurrency"].default
    with sandbox_server(ORGANISATIONS, PAGE_SIZE, LATENCY) as base_url:
        async with stdio_client(base_url, **settings) as mcp, httpx2.AsyncClient(base_url=base_url) as http:
            ours: list[float] = []
            theirs: list[float] = []
            bare: list[float] = []
            for turn in range(rounds * 3):
                started = time.perf_counter()
                if turn % 3 == 0:
                    result = await mcp.call_tool("list_organisations", {"limit": ORGANISATIONS})
                    ours.append(time.perf_counter() - started)
                    assert structured(result)["returned"] == ORGANISATIONS
                elif turn % 3 == 1:
                    assert len(await follow_next(http)) == ORGANISATIONS
                    theirs.append(time.perf_counter() - started)
                else:
                    assert len(await many_at_once(http, concurrency)) == ORGANISATIONS
                    bare.append(time.perf_counter() - started)
            check = await client_check_ms(mcp, "list_organisations", result)
    pages = -(-ORGANISATIONS // PAGE_SIZE)
    floor = (1 + -(-(pages - 1) // concurrency)) * LATENCY * 1000
    print(f"{ORGANISATIONS} organisations, {pages} pages of {PAGE_SIZE}, {LATENCY * 1000:.0f} ms per page; {machine()}")
    print(
        f"median of {rounds} each, alternating: list_organisations over MCP stdio (OAS_PAGE_CONCURRENCY="
        f"{concurrency}), the loop, and a bare httpx2 client fetching the pages {concurrency} at a time"
    )
    print(
        f"  of which the sandbox and HTTP: the bare client fetching the pages {concurrency} at a time took "
        f"{median_ms(bare):.0f} ms (the page latency alone: {floor:.0f} ms)"
    )
    print(f"  of which the MCP client checking the 1,000 results against the output schema: {check:.0f} ms")
    against = "a sequential follow-next loop with httpx2"
    print(ratio_line("flatten", median_ms(ours), median_ms(theirs), unit="ms", against=against, goal="0.15"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--page-concurrency", type=int, help="OAS_PAGE_CONCURRENCY for oas-mcp (default: its default)")
    arguments = parser.parse_args()
    anyio.run(main, arguments.rounds, arguments.page_concurrency)
