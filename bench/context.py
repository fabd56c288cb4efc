"""Context cost: the bytes a model reads from oas-mcp, vs the same server as the SDK's defaults render it.

Each side is a real MCP session (oas-mcp on stdio, as Claude Desktop runs it) against its own sandbox with 1,000
organisations, served over loopback HTTP: the tool definitions (name, description and input schema, as compact
JSON, which is how a client passes them to its model) and the server instructions; the text of a listing per
organisation at 10, 100 and 1,000; the text of every other tool's result, of each resource and of two typical
errors. The other side is the package exported from git at ``--baseline`` (default: 1e92611, whose results are
indented JSON and whose tool definitions carry generated titles), run by the same Python with the same dependencies.

The sandbox's generated organisations ("Organisation 00006", one to three currencies, no image) are at least
as long as realistic ones ("Seed Org 0001", two or three currencies). Goals: <= 100 bytes per organisation,
<= 1,500 bytes of tool definitions and <= 400 of server instructions (every conversation pays both).

    python bench/context.py [--baseline COMMIT]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from benchkit import HERE, OAS_MCP, json_size, machine, sandbox_server, server_env, structured
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult, Tool

from oas_mcp.sandbox import DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME

BASELINE = "1e92611"
"""main before issue 11: results as indented JSON, tool definitions with generated titles."""
ORGANISATIONS, PAGE_SIZE = 1000, 100
SIZES = (10, 100, 1000)
CALLS: dict[str, dict[str, Any]] = {
    "hello": {},
    "login": {},
    "create_organisation": {"name": "Seed Org 0001", "base_currency": "USD", "currencies": ["USD", "EUR"]},
    "activate_organisation": {"organisation_id": 1},
}
RESOURCES = ("oas://session", "oas://organisations", "oas://organisations/1")
ERRORS: dict[str, tuple[str, dict[str, Any]]] = {
    "error: unknown organisation": ("activate_organisation", {"organisation_id": 10**9}),
    "error: invalid arguments": ("list_organisations", {"limit": 0}),
}
PER_ORGANISATION = f"list_organisations text per organisation at {SIZES[1]}"
DEFINITIONS = "tool definitions (name, description, input schema)"
INSTRUCTIONS = "server instructions"
STRUCTURED = f"  its structured content per organisation at {SIZES[1]}, compact"


def definition_bytes(tool: Tool) -> int:
    """What a client hands its model for ``tool``: name, description and input schema, as compact JSON."""
    shown = {"name": tool.name, "description": tool.description, "inputSchema": tool.input_schema}
    return len(json.dumps(shown, ensure_ascii=False, separators=(",", ":")).encode())


def text_bytes(result: CallToolResult) -> int:
    """Bytes of a result's text blocks: what a client that passes only the text gives its model."""
    return sum(len(getattr(block, "text", "").encode()) for block in result.content)


async def readings(client: Client) -> dict[str, float]:
    """Every figure, in bytes, from one session; the calls run in this order on a fresh sandbox."""
    tools = (await client.list_tools()).tools
    figures: dict[str, float] = {
        DEFINITIONS: sum(definition_bytes(tool) for tool in tools),
        INSTRUCTIONS: len((client.instructions or "").encode()),
    }
    for size in SIZES:
        result = await client.call_tool("list_organisations", {"limit": size})
        listing = structured(result)
        assert listing["returned"] == size
        figures[f"list_organisations text per organisation at {size}"] = text_bytes(result) / size
        if size == SIZES[1]:
            figures[STRUCTURED] = json_size(listing) / size
    for name, arguments in CALLS.items():
        result = await client.call_tool(name, arguments)
        assert not result.is_error, result.content
        figures[f"{name} text"] = text_bytes(result)
    for uri in RESOURCES:
        contents = (await client.read_resource(uri)).contents
        figures[f"{uri} text"] = sum(len(getattr(content, "text", "").encode()) for content in contents)
    for label, (name, arguments) in ERRORS.items():
        result = await client.call_tool(name, arguments)
        assert result.is_error
        figures[label] = text_bytes(result)
    return figures


@asynccontextmanager
async def session(base_url: str, tree: Path | None) -> AsyncIterator[Client]:
    """oas-mcp on stdio against ``base_url``: this checkout's, or (with ``tree``) the package in that folder."""
    login = {"OAS_USERNAME": DEMO_USERNAME, "OAS_EMAIL": DEMO_EMAIL, "OAS_PASSWORD": DEMO_PASSWORD}
    env = server_env(base_url, **login)
    if tree is None:
        parameters = StdioServerParameters(command=OAS_MCP, env=env)
    else:  # python -m puts the working folder first on sys.path: its oas_mcp, not this checkout's
        parameters = StdioServerParameters(command=sys.executable, args=["-m", "oas_mcp"], cwd=tree, env=env)
    async with Client(parameters, mode="legacy") as client:
        yield client


async def measure(tree: Path | None) -> dict[str, float]:
    with sandbox_server(ORGANISATIONS, PAGE_SIZE) as base_url:
        async with session(base_url, tree) as client:
            return await readings(client)


def export(commit: str, into: Path) -> Path:
    """The ``oas_mcp`` package as it was at ``commit``, written under ``into``; exits when git cannot give it."""
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", "--format=tar", commit, "oas_mcp"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise SystemExit(f"git could not export oas_mcp at {commit}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def report(now: dict[str, float], before: dict[str, float], baseline: str) -> None:
    print(f"bytes a model reads, oas-mcp now vs at {baseline}, each over MCP stdio on its own sandbox; {machine()}")
    print(f"{'':<58}{'now':>9}{'before':>9}{'ratio':>8}")
    for figure, value in now.items():
        print(f"{figure:<58}{value:>9.0f}{before[figure]:>9.0f}{value / before[figure]:>7.2f}x")
    goals = ((PER_ORGANISATION, 100), (DEFINITIONS, 1500), (INSTRUCTIONS, 400))
    for figure, goal in goals:
        met = "met" if now[figure] <= goal else "NOT met"
        print(
            f"{figure}: {now[figure]:.0f} B vs {before[figure]:.0f} B (oas-mcp at {baseline}): "
            f"ratio {now[figure] / before[figure]:.2f}x (goal <= {goal:,} B: {met})"
        )


async def main(baseline: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tree = export(baseline, Path(folder))
        before = await measure(tree)
    now = await measure(None)
    report(now, before, baseline)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE, help=f"the commit to compare with (default: {BASELINE})")
    anyio.run(main, parser.parse_args().baseline)
