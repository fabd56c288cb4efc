"""The oas-mcp command: ``oas-mcp [serve]`` runs the MCP server (stdio by default)."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from oas_mcp import __version__
from oas_mcp.accounts import command as accounts
from oas_mcp.cli import call, check, clients, config, install
from oas_mcp.cli.options import add_http_flags, add_settings_flags, connector, load_settings
from oas_mcp.observability.logs import configure
from oas_mcp.observability.telemetry import start
from oas_mcp.server import build_server
from oas_mcp.settings import LOG_LEVELS, SettingsError, check_combination

if TYPE_CHECKING:
    from oas_mcp.observability.telemetry import Telemetry

COMMANDS = ("serve", "sandbox", "check", "tools", "call", "config", "install", "accounts")
INTERRUPTED = "oas-mcp: stopped (Ctrl-C)"
EXIT_INTERRUPTED = 130
FLUSH_ON_STOP = 2.0
"""Seconds Ctrl-C on stdio gives telemetry to send what it still holds before the process ends."""


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _with_default_command(list(sys.argv[1:] if argv is None else argv))
    try:
        args = _parser().parse_args(arguments)
        run: Callable[[argparse.Namespace], int] = args.run
        code = run(args)
        sys.stdout.flush()  # so a reader that stopped early shows up here, not as an error at exit
        return code
    except SettingsError as exc:
        print(f"oas-mcp: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader stopped early (`| head`): no traceback, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _with_default_command(argv: list[str]) -> list[str]:
    """``oas-mcp --flags`` means ``oas-mcp serve --flags``."""
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version")):
        return argv
    return ["serve", *argv]


class _CommandParser(argparse.ArgumentParser):
    """A command's parser: its positional arguments may come before, between or after its flags
    (``oas-mcp call TOOL --sandbox JSON_ARGS``), as argparse's intermixed parsing allows; a command with actions
    of its own (``oas-mcp accounts rotate``), which intermixed parsing cannot take, parses as usual."""

    _intermixing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._intermixing or self._subparsers is not None:  # intermixed parsing: two passes through here
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


def _parser() -> argparse.ArgumentParser:
    """The command line: ``serve`` (the default), ``sandbox`` and the other commands."""
    parser = argparse.ArgumentParser(prog="oas-mcp", description="An MCP server for the OAS API.")
    parser.add_argument("--version", action="version", version=f"oas-mcp {__version__}")
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_CommandParser),
    )

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
    check.register(commands)
    call.register(commands)
    config.register(commands)
    install.register(commands)
    accounts.register(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    check_combination(settings, "serve", insecure_no_auth=args.insecure_no_auth)
    configure(settings.log_level, settings.log_format)
    telemetry = start()  # None unless OTEL_* variables ask for traces or metrics
    instrument = telemetry.instrument if telemetry is not None else None
    if settings.transport == "http":
        # Only over HTTP: hosting's OAuth loads pyjwt and cryptography, a twentieth of stdio's start-up.
        from oas_mcp.hosting.run import serve  # noqa: PLC0415

        serve(
            settings, connector(settings, args.sandbox), insecure_no_auth=args.insecure_no_auth, instrument=instrument
        )
        return 0
    server = build_server(settings, connector(settings, args.sandbox))
    if instrument is not None:
        instrument(server)
    if sys.stdin.isatty():  # a person at a terminal, not a client
        where = "the sandbox" if args.sandbox else settings.base_url
        *others, last = clients.CLIENTS
        print(
            f"oas-mcp {__version__} serves MCP on stdio for {where} and waits for an MCP client "
            f"(oas-mcp install {', '.join(others)} or {last} adds it to one). Ctrl-C stops it.",
            file=sys.stderr,
        )
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, functools.partial(_stop_at_once, telemetry))
    server.run()
    return 0


def _stop_at_once(telemetry: Telemetry | None, signum: int, frame: object) -> None:
    """Ctrl-C (or SIGTERM, as clients stop their servers) while serving stdio: stop now, with exit code 128 plus
    the signal's number, saying so in one line for Ctrl-C.

    asyncio's own handler would only cancel the server, and that waits for the SDK's stdin reader, a worker thread
    blocked in a read that no cancelling reaches (as is the interpreter's exit, which joins it): the process would
    stop at the third Ctrl-C, with a traceback, and a SIGTERM exiting through Python would never end. Nothing is
    lost by not unwinding: the server keeps no state of its own (the OAS API does), and the spans and metrics
    ``telemetry`` still holds are sent first, for :data:`FLUSH_ON_STOP` seconds at most (another signal meanwhile
    stops it at once)."""
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, _stop_now)
    if signum == signal.SIGINT:
        os.write(sys.stderr.fileno(), f"{INTERRUPTED}\n".encode())
    if telemetry is not None and not telemetry.flush(FLUSH_ON_STOP):
        lost = f"oas-mcp: telemetry not sent within {FLUSH_ON_STOP:g} s is lost (is the collector up?)\n"
        os.write(sys.stderr.fileno(), lost.encode())
    _stop_now(signum, frame)


def _stop_now(signum: int, frame: object) -> None:
    os._exit(128 + signum)


def _sandbox(args: argparse.Namespace) -> int:
    from oas_mcp.hosting.run import serve_sandbox  # noqa: PLC0415 - only here, as serve's

    configure(args.log_level)
    serve_sandbox(args.host, args.port)
    return 0
