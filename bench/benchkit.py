"""What the benchmarks share: the sandbox served over loopback HTTP, oas-mcp over stdio, medians and the ratio line.

Every benchmark measures its two sides in the same run, alternating them, and prints medians and their ratio.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.server import MCPServer
from mcp_types import CallToolResult

from oas_mcp.sandbox import DEMO_API_KEY

HERE = Path(__file__).parent
OAS_MCP = str(Path(sys.executable).with_name("oas-mcp"))
API_KEY_HEADERS = {"X-Api-Key": DEMO_API_KEY}


BARE_ORGANISATIONS = [
    {"id": n, "name": name, "base_currency": "USD", "currencies": ["USD"], "image": None, "owner": None}
    for n, name in enumerate(["Acme Corp", "Globex", "Initech", "Umbrella Holdings", "Stark Industries"], 1)
]


def bare_server() -> MCPServer[Any]:
    """The baseline server: an MCPServer whose ``hello`` and ``list_organisations`` answer constants (no upstream)."""
    server: MCPServer[Any] = MCPServer("bare", log_level="WARNING")

    @server.tool()
    async def hello() -> dict[str, Any]:
        """Return a greeting."""
        return {"message": "Hello world @demo", "username": "demo"}

    @server.tool()
    async def list_organisations(limit: int = 100) -> dict[str, Any]:
        """List organisations."""
        found = BARE_ORGANISATIONS[:limit]
        return {"count": 5, "returned": len(found), "truncated": False, "organisations": found}

    return server


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {memory:.0f} GiB, Python {platform.python_version()}"


def ratio_line(name: str, ours: float, theirs: float, *, unit: str, against: str, goal: str | None) -> str:
    """The line every benchmark ends with: both figures, what the second one is, their ratio and the goal if any."""
    target = f"goal <= {goal}x" if goal else "reported, no goal"
    return f"{name}: {ours:.4g} {unit} vs {theirs:.4g} {unit} ({against}): ratio {ours / theirs:.2f}x ({target})"


def server_env(base_url: str, **settings: str) -> dict[str, str]:
    """The environment of an oas-mcp process using the sandbox at ``base_url`` with the demo API key."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "OAS_BASE_URL": base_url,
        "OAS_API_KEY": DEMO_API_KEY,
        "OAS_LOG_LEVEL": "WARNING",
        **settings,
    }


@contextmanager
def sandbox_server(organisations: int, page_size: int, page_latency: float = 0.0, users: int = 0) -> Iterator[str]:
    """The sandbox with ``organisations`` organisations, served over HTTP on loopback by another process, with
    ``users`` more users whose keys :func:`user_key` gives."""
    with sandbox_process(organisations, page_size, page_latency, users) as (url, _):
        yield url


@contextmanager
def sandbox_process(
    organisations: int, page_size: int, page_latency: float = 0.0, users: int = 0
) -> Iterator[tuple[str, int]]:
    """:func:`sandbox_server`, and its process id."""
    arguments = (organisations, page_size, page_latency, users)
    command = [sys.executable, str(HERE / "sandbox_http.py"), *map(str, arguments)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()


def user_key(number: int) -> str:
    """The API key of the sandbox's extra user ``number`` (see :func:`sandbox_server`): 8 + 1 + 32 characters."""
    return f"Bench{number:03d}.{number:032d}"


@asynccontextmanager
async def stdio_client(base_url: str, **settings: str) -> AsyncIterator[Client]:
    """An MCP client session with ``oas-mcp`` run as Claude Desktop runs it: a process on stdio."""
    parameters = StdioServerParameters(command=OAS_MCP, env=server_env(base_url, **settings))
    async with Client(parameters, mode="legacy") as client:
        yield client


def structured(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful tool call."""
    if result.is_error or not isinstance(result.structured_content, dict):
        raise SystemExit(f"the tool call failed: {result.content}")
    content: dict[str, Any] = result.structured_content
    return content


async def client_check_ms(client: Client, tool: str, result: CallToolResult, times: int = 9) -> float:
    """Median milliseconds the MCP client spends checking ``result`` against the tool's output schema, which it
    does on every call (Python's jsonschema: slow for long lists)."""
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        await client.session.validate_tool_result(tool, result)
        samples.append(time.perf_counter() - started)
    return median_ms(samples)


def json_size(content: object) -> int:
    """Bytes of ``content`` as compact JSON."""
    return len(json.dumps(content, separators=(",", ":")).encode())
