"""The cost of one list_organisations call that returns one page, vs the same HTTP request made directly.

The sandbox of bench/flatten.py (1,000 organisations, pages of 7, 20 ms per page) served over loopback HTTP.
Measured in turns, medians over many calls:
- direct: ``GET /api/organisations/`` (page 1) with httpx2 on one shared connection pool, body parsed as JSON;
- in-memory: list_organisations with ``limit`` one page, through an MCP client talking to oas-mcp in this process;
- stdio: the same through an MCP client talking to an oas-mcp process, as Claude Desktop does.
Goal: in-memory <= 1.2x direct. Also shown: pages of 100, and no latency at all (what each call adds, in ms).
With ``--telemetry``, the in-memory server records traces and metrics with the OpenTelemetry SDK (the otel extra),
into memory: what tracing and metrics add to a call.

    python bench/call_overhead.py [--calls 100] [--telemetry]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable
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
from mcp import Client
from mcp_types import CallToolResult

from oas_mcp.cli.options import make_client
from oas_mcp.observability.logs import configure
from oas_mcp.observability.telemetry import install, instrument
from oas_mcp.sandbox import DEMO_API_KEY
from oas_mcp.server import build_server
from oas_mcp.settings import Settings

Call = Callable[[], Awaitable[Any]]


async def measure(calls: dict[str, Call], rounds: int) -> dict[str, list[float]]:
    """Each call ``rounds`` times, in turns, after a warm-up; the seconds each took."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        await call()
    for _ in range(rounds):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            times[name].append(time.perf_counter() - started)
    return times


async def one_setup(page_size: int, latency: float, rounds: int, telemetry: bool) -> dict[str, float]:
    """Median milliseconds per call for each side, on a sandbox with pages of ``page_size``."""
    with sandbox_server(1000, page_size, latency) as base_url:
        settings = Settings.load(base_url=base_url, api_key=DEMO_API_KEY)
        server = build_server(settings, lambda: make_client(settings))
        if telemetry:
            instrument(server)
        configure("WARNING")  # MCPServer() turned INFO logging on
        async with (
            httpx2.AsyncClient(base_url=base_url) as http,
            Client(server) as in_memory,
            stdio_client(base_url) as stdio,
        ):

            async def direct() -> None:
                page = (await http.get("/api/organisations/", headers=API_KEY_HEADERS)).raise_for_status().json()
                assert len(page["results"]) == page_size

            async def through(client: Client) -> CallToolResult:
                result = await client.call_tool("list_organisations", {"limit": page_size})
                assert structured(result)["returned"] == page_size
                return result

            times = await measure(
                {"direct": direct, "in-memory": lambda: through(in_memory), "stdio": lambda: through(stdio)}, rounds
            )
            check = await client_check_ms(in_memory, "list_organisations", await through(in_memory))
    return {"check": check} | {name: median_ms(samples) for name, samples in times.items()}


def record_in_memory() -> None:
    """The OpenTelemetry SDK recording every span and metric into memory, as a server with the otel extra does
    (batched spans; metrics read when asked)."""
    # The otel extra: needed with --telemetry only.
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: PLC0415

    install([BatchSpanProcessor(InMemorySpanExporter())], [InMemoryMetricReader()])


async def main(rounds: int, telemetry: bool) -> None:
    if telemetry:
        record_in_memory()
    traced = "; in-memory side with traces and metrics recorded (--telemetry)" if telemetry else ""
    print(f"one page per call, median of {rounds} calls each, in turns; {machine()}{traced}")
    for page_size, latency in ((7, 0.0), (100, 0.020), (7, 0.020)):
        ms = await one_setup(page_size, latency, rounds, telemetry)
        against = f"httpx2 GET + JSON, a page of {page_size}, {latency * 1000:.0f} ms per page"
        added = ", ".join(f"{side} +{ms[side] - ms['direct']:.2f} ms" for side in ("in-memory", "stdio"))
        print(f"  through MCP: {added}, of which the MCP client checking the result: {ms['check']:.2f} ms")
        print(ratio_line("call overhead, stdio", ms["stdio"], ms["direct"], unit="ms", against=against, goal=None))
        print(ratio_line("call overhead", ms["in-memory"], ms["direct"], unit="ms", against=against, goal="1.2"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--telemetry", action="store_true", help="record traces and metrics (needs the otel extra)")
    arguments = parser.parse_args()
    anyio.run(main, arguments.calls, arguments.telemetry)
