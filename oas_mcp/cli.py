"""The oas-mcp command: ``oas-mcp [serve]`` runs the MCP server (stdio by default)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from oas_mcp import __version__
from oas_mcp.settings import LOG_LEVELS, SettingsError
from oas_mcp.wiring import add_http_flags, add_settings_flags, connector, load_settings

COMMANDS = ("serve", "sandbox", "check", "tools", "call", "config", "accounts")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(_with_default_command(list(sys.argv[1:] if argv is None else argv)))
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        code = run(args)
        sys.stdout.flush()  # so a reader that stopped early shows up here, not as an error at exit
        return code
    except SettingsError as exc:
        print(f"oas-mcp: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader stopped early (`| head`): no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _with_default_command(argv: list[str]) -> list[str]:
    """``oas-mcp --flags`` means ``oas-mcp serve --flags``."""
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version")):
        return argv
    return ["serve", *argv]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oas-mcp", description="An MCP server for the OAS API.")
    parser.add_argument("--version", action="version", version=f"oas-mcp {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve MCP (the default command)", description="Serve MCP.")
    add_settings_flags(serve)
    add_http_flags(serve).add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve a non-loopback address without a client token (only behind a proxy that authenticates)",
    )
    serve.set_defaults(run=_serve)

    sandbox = commands.add_parser(
        "sandbox",
        help="serve the OAS API sandbox over HTTP, for curl and API tools",
        description="Serve the sandbox (an in-memory emulator of the OAS API) over HTTP; prints its demo credentials.",
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1)")
    sandbox.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    sandbox.add_argument("--log-level", type=str.upper, default="INFO", choices=LOG_LEVELS)
    sandbox.set_defaults(run=_sandbox)

    from oas_mcp.commands import accounts, call, check, config

    check.register(commands)
    call.register(commands)
    config.register(commands)
    accounts.register(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    from oas_mcp.logs import configure

    configure(settings.log_level)
    if settings.transport == "http":
        from oas_mcp.hosting import serve

        serve(settings, connector(settings, args.sandbox), insecure_no_auth=args.insecure_no_auth)
        return 0
    if settings.per_request_credentials:
        raise SettingsError("per-request credentials need --transport http: stdio requests carry no headers")
    from oas_mcp.tools import build_server

    server = build_server(settings, connector(settings, args.sandbox))
    if sys.stdin.isatty():
        where = "the sandbox" if args.sandbox else settings.base_url
        print(
            f"oas-mcp {__version__} serves MCP on stdio for {where} and waits for an MCP client "
            "(Claude Desktop, Claude Code, ...); see the README to connect one. Ctrl-C stops it.",
            file=sys.stderr,
        )
    server.run()
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from oas_mcp.hosting import serve_sandbox
    from oas_mcp.logs import configure

    configure(args.log_level)
    serve_sandbox(args.host, args.port)
    return 0
