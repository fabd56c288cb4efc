"""Memory while flattening 10,000 organisations (100 pages of 100) with limit 10,000.

1. The oas-mcp process, as Claude Desktop runs it (stdio, the sandbox over loopback HTTP): how much its peak
   resident memory (VmHWM, reset before the call) grows during one list_organisations call, vs the size of the
   result as compact JSON. This counts everything the call holds at its peak: the OAS client's organisations,
   the tool's result, and the SDK's copies (a dict of the result, its JSON text, the JSON-RPC message).
2. The OAS client alone (tracemalloc, in this process): the peak of what flattening allocates vs what its result
   keeps, i.e. what flattening holds on top of the result (pages in flight, their parsed JSON).

    python bench/memory.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tracemalloc
from pathlib import Path

import anyio
from benchkit import json_size, machine, ratio_line, sandbox_server, stdio_client, structured

from oas_mcp.client import OASClient
from oas_mcp.sandbox import DEMO_API_KEY

ORGANISATIONS, PAGE_SIZE = 10_000, 100


def status(pid: int, field: str) -> int:
    """A memory figure of process ``pid`` from /proc, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def reset_peak(pid: int) -> None:
    """Reset VmHWM of process ``pid`` to its current RSS (Linux)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def oas_mcp_child() -> int:
    """The pid of the oas-mcp process this process started."""
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for pid in (task / "children").read_text().split():
            if "oas-mcp" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                return int(pid)
    raise LookupError("oas-mcp process")


async def server_growth(base_url: str) -> tuple[int, int]:
    """Peak RSS growth of the oas-mcp process during one big call, and the JSON size of its result."""
    async with stdio_client(base_url) as mcp:
        structured(await mcp.call_tool("list_organisations", {"limit": 100}))  # imports, connection pool
        pid = oas_mcp_child()
        before = status(pid, "VmRSS")
        reset_peak(pid)
        data = structured(await mcp.call_tool("list_organisations", {"limit": ORGANISATIONS}))
        peak = status(pid, "VmHWM")
    assert data["returned"] == ORGANISATIONS, data["returned"]
    return peak - before, json_size(data)


async def client_overhead(base_url: str) -> tuple[int, int]:
    """What the OAS client allocates at its peak while flattening, and what its result keeps afterwards."""
    async with OASClient(base_url, api_key=DEMO_API_KEY) as oas:
        await oas.list_organisations(limit=100)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        listing = await oas.list_organisations(limit=ORGANISATIONS)
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert len(listing.organisations) == ORGANISATIONS
    return peak - before, kept - before


async def main(runs: int) -> None:
    growths, sizes, peaks, kept = [], [], [], []
    with sandbox_server(ORGANISATIONS, PAGE_SIZE) as base_url:
        for _ in range(runs):
            growth, size = await server_growth(base_url)
            growths.append(growth)
            sizes.append(size)
            peak, result = await client_overhead(base_url)
            peaks.append(peak)
            kept.append(result)
    print(f"{ORGANISATIONS} organisations, {ORGANISATIONS // PAGE_SIZE} pages of {PAGE_SIZE}; {machine()}")
    print(f"median of {runs} runs, each in a fresh oas-mcp process")
    rows = (
        ("client flattening", peaks, kept, "tracemalloc: flattening's peak vs what its result keeps", "2"),
        ("memory", growths, sizes, "oas-mcp process: peak RSS growth vs the result as compact JSON", None),
    )
    for name, ours, theirs, against, goal in rows:
        mib = (statistics.median(ours) / 2**20, statistics.median(theirs) / 2**20)
        print(ratio_line(name, *mib, unit="MiB", against=against, goal=goal))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    anyio.run(main, parser.parse_args().runs)
