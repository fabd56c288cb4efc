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
from mcp_types import CallToolResult

from oas_mcp.sandbox import DEMO_API_KEY

HERE = Path(__file__).parent
OAS_MCP = str(Path(sys.executable).with_name("oas-mcp"))
API_KEY_HEADERS = {"X-Api-Key": DEMO_API_KEY}


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
def sandbox_server(organisations: int, page_size: int, page_latency: float = 0.0) -> Iterator[str]:
    """The sandbox with ``organisations`` organisations, served over HTTP on loopback by another process."""
    command = [
        sys.executable,
        str(HERE / "sandbox_http.py"),
        str(organisations),
        str(page_size),
        str(page_latency),
    ]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            port = int(process.stdout.readline())
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()


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
