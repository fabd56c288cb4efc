"""The oas-mcp command: ``oas-mcp [serve]`` runs the MCP server (stdio by default)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from oas_mcp import __version__
from oas_mcp.settings import Settings, SettingsError

if TYPE_CHECKING:
    import httpx2

    from oas_mcp.client import OASClient

COMMANDS = ("serve", "check", "tools", "call", "config")


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
    serve.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    serve.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="HTTP port (default: 8000)")
    add_settings_flags(serve)
    serve.set_defaults(run=_serve)

    from oas_mcp.commands import call, check, config

    check.register(commands)
    call.register(commands)
    config.register(commands)
    return parser


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML settings file (default: $OAS_CONFIG)")
    parser.add_argument("--sandbox", action="store_true", help="use the built-in OAS API emulator; no account needed")
    parser.add_argument("--read-only", action="store_true", default=None, help="register only the tools that read")
    parser.add_argument("--log-level", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"read_only": args.read_only, "log_level": args.log_level}
    flag_names: dict[str, str] = {}
    if args.sandbox:
        from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, SANDBOX_URL

        sandbox = {
            "base_url": SANDBOX_URL,
            "api_key": DEMO_API_KEY,
            "username": DEMO_USERNAME,
            "email": DEMO_EMAIL,
            "password": DEMO_PASSWORD,
        }
        overrides |= sandbox
        flag_names = dict.fromkeys(sandbox, "--sandbox")
    return Settings.load(args.config, flag_names, **overrides)


def make_client(settings: Settings, transport: httpx2.AsyncBaseTransport | None = None) -> OASClient:
    """The OAS client the settings describe; ``transport`` replaces the network (the sandbox uses it)."""
    from oas_mcp.client import OASClient

    return OASClient(
        settings.base_url,
        api_key=settings.api_key,
        username=settings.username,
        email=settings.email,
        password=settings.password,
        timeout=settings.timeout,
        max_retries=settings.max_retries,
        budget=settings.call_budget,
        transport=transport,
        page_concurrency=settings.page_concurrency,
    )


def connector(settings: Settings, sandbox: bool) -> Callable[[], OASClient]:
    """How the server makes its OAS client: to the configured URL, or to a fresh in-process sandbox."""
    if not sandbox:
        return lambda: make_client(settings)

    def connect() -> OASClient:
        from oas_mcp.sandbox import Sandbox

        return make_client(settings, Sandbox().transport())

    return connect


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    from oas_mcp.logs import configure
    from oas_mcp.tools import build_server

    configure(settings.log_level)
    server = build_server(settings, connector(settings, args.sandbox))
    if args.transport == "stdio":
        if sys.stdin.isatty():
            where = "the sandbox" if args.sandbox else settings.base_url
            print(
                f"oas-mcp {__version__} serves MCP on stdio for {where} and waits for an MCP client "
                "(Claude Desktop, Claude Code, ...); see the README to connect one. Ctrl-C stops it.",
                file=sys.stderr,
            )
        server.run()
    else:
        server.run("streamable-http", host=args.host, port=args.port, streamable_http_path="/mcp")
    return 0
