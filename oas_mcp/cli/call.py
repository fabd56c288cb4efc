"""``oas-mcp tools`` and ``oas-mcp call``: the server's tools from a shell or a pipeline, through a real MCP client."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TYPE_CHECKING, Any

import anyio
from mcp import Client

from oas_mcp.cli import quiet_logs
from oas_mcp.cli.options import add_settings_flags, connector, load_settings
from oas_mcp.server import build_server
from oas_mcp.server.errors import read_only_refusal

if TYPE_CHECKING:
    from mcp_types import Tool

    from oas_mcp.server.server import Server

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
EXAMPLE = """examples:
  oas-mcp call hello --sandbox
  oas-mcp call list_organisations '{"limit": 5, "currency": "EUR"}'
  oas-mcp call list_organisations --sandbox '{"limit": 1}'
  echo '{"organisation_id": 3}' | oas-mcp call activate_organisation -"""
EXIT_CODES = """exit codes:
  0    the tool succeeded: its result is on stdout
  1    the tool failed (the OAS API's answer, or arguments the tool refused): its error is on stderr
  2    nothing was called: JSON_ARGS is not a JSON object, the server offers no such tool (or is read-only), or a
       setting is bad
  130  interrupted (Ctrl-C)
  141  stdout closed before the result was written (a reader such as head stopped early)"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tools = commands.add_parser(
        "tools", help="list the tools with one-line descriptions", description="List the tools this server offers."
    )
    tools.add_argument("--markdown", action="store_true", help="print them as the README's Tools table")
    add_settings_flags(tools)
    tools.set_defaults(run=_tools)

    call = commands.add_parser(
        "call",
        help="call one tool and print its result as JSON",
        description="Call one tool through an in-process MCP client session and print its structured result as "
        "JSON on stdout, or its error on stderr. JSON_ARGS may come before or after the flags.",
        epilog=f"{EXAMPLE}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    call.add_argument("tool", help="the tool's name; `oas-mcp tools` lists them")
    call.add_argument(
        "arguments",
        nargs="?",
        default={},
        type=json_object,
        metavar="JSON_ARGS",
        help="the tool's arguments as a JSON object, or - to read them from stdin (default: {})",
    )
    add_settings_flags(call)
    call.set_defaults(run=_call)


def json_object(text: str) -> dict[str, Any]:
    """JSON_ARGS: a JSON object, given inline or on stdin (``-``)."""
    source = sys.stdin.read() if text == "-" else text
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({exc.msg} at character {exc.pos}); give an object such as '{{\"limit\": 5}}'"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"must be a JSON object such as '{{\"limit\": 5}}', not {type(value).__name__}"
        )
    return value


def _server(args: argparse.Namespace) -> Server:
    settings = load_settings(args)
    server = build_server(settings, connector(settings, args.sandbox))
    quiet_logs(settings)
    return server


def _tools(args: argparse.Namespace) -> int:
    tools = anyio.run(list_tools, _server(args))
    print(tools_table(tools) if args.markdown else "\n".join(_one_line(tool) for tool in tools))
    return 0


async def list_tools(server: Server) -> list[Tool]:
    async with Client(server) as client:
        return (await client.list_tools()).tools


def summary(tool: Tool) -> str:
    """The first sentence of a tool's description."""
    paragraph = " ".join((tool.description or "").strip().split("\n\n")[0].split())
    return _SENTENCE_END.split(paragraph, maxsplit=1)[0]


def _one_line(tool: Tool) -> str:
    return f"{tool.name:<23} {summary(tool)}"


def tools_table(tools: list[Tool]) -> str:
    """The README's Tools table: each tool, what it does, and its annotations."""

    def flag(value: bool | None) -> str:
        return "yes" if value else "no"

    rows = ["| Tool | What it does | Read-only | Destructive | Idempotent | Open world |", "|---|---|---|---|---|---|"]
    for tool in tools:
        hints = tool.annotations
        marks = (
            (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint)
            if hints
            else (None, None, None, None)
        )
        rows.append(f"| `{tool.name}` | {summary(tool)} | {' | '.join(flag(mark) for mark in marks)} |")
    return "\n".join(rows)


def _call(args: argparse.Namespace) -> int:
    return anyio.run(_call_tool, _server(args), args.tool, args.arguments)


async def _call_tool(server: Server, name: str, arguments: dict[str, Any]) -> int:
    async with Client(server) as client:
        names = [tool.name for tool in (await client.list_tools()).tools]
        if name in server.withheld:
            print(f"oas-mcp: {read_only_refusal(name)}", file=sys.stderr)
            return 2
        if name not in names:
            print(f"oas-mcp: unknown tool {name!r}; the tools are {', '.join(names)}.", file=sys.stderr)
            return 2
        result = await client.call_tool(name, arguments)
    if result.is_error:
        print(" ".join(getattr(block, "text", "") for block in result.content), file=sys.stderr)
        return 1
    print(json.dumps(result.structured_content, indent=2, ensure_ascii=False))
    return 0
