"""What the commands share: the settings flags, the settings from parsed arguments, and the OAS client they describe.

``oas_mcp.cli`` and ``oas_mcp.commands`` both import it; it imports neither.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oas_mcp.settings import HTTP_SETTINGS, Settings

if TYPE_CHECKING:
    import httpx2

    from oas_mcp.client import OASClient

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML settings file (default: $OAS_CONFIG)")
    parser.add_argument("--sandbox", action="store_true", help="use the built-in OAS API emulator; no account needed")
    parser.add_argument("--read-only", action="store_true", default=None, help="register only the tools that read")
    parser.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS)


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {"read_only": args.read_only, "log_level": args.log_level}
    overrides |= {name: getattr(args, name, None) for name in HTTP_SETTINGS}  # the serve command's flags
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
        max_response_bytes=settings.max_response_bytes,
    )


def connector(settings: Settings, sandbox: bool) -> Callable[[], OASClient]:
    """How the server makes its OAS client: to the configured URL, or to a fresh in-process sandbox."""
    if not sandbox:
        return lambda: make_client(settings)

    def connect() -> OASClient:
        from oas_mcp.sandbox import Sandbox

        return make_client(settings, Sandbox().transport())

    return connect
