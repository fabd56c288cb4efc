"""What the commands share: the settings flags, the settings from parsed arguments, and the OAS client they describe.

``oas_mcp.cli.main`` and each command import it; it imports none of them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from oas_mcp.client import OASClient
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, SANDBOX_URL, Sandbox
from oas_mcp.settings import FLAGS, HTTP_SETTINGS, Settings, env_name, flag_name

if TYPE_CHECKING:
    import httpx2
    from pydantic.fields import FieldInfo


EVERY_COMMAND = tuple(name for name in FLAGS if name not in HTTP_SETTINGS)
"""The settings whose flag every command that loads settings takes; the others' flags are ``serve``'s."""


def add_settings_flags(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--sandbox``, and the flags of the settings in :data:`EVERY_COMMAND`."""
    add_config_flag(parser)
    parser.add_argument("--sandbox", action="store_true", help="use the built-in OAS API emulator; no account needed")
    for name in EVERY_COMMAND:
        _add_flag(parser, name)


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: the TOML settings file."""
    parser.add_argument("--config", metavar="FILE", help=f"TOML settings file (default: ${env_name('config')})")


def add_http_flags(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The flags of the HTTP-only settings, ``serve``'s alone, in a group of their own (returned, for more)."""
    group = parser.add_argument_group("transport (the flags after --transport are for --transport http)")
    for name in FLAGS:
        if name in HTTP_SETTINGS:
            _add_flag(group, name)
    return group


def _add_flag(parser: argparse._ActionsContainer, name: str) -> None:
    """Setting ``name``'s flag, as its field describes it; when not given, its value is None (not an override)."""
    field, flag = Settings.model_fields[name], FLAGS[name]
    options: dict[str, Any] = {"dest": name, "help": _help(field)}
    if field.annotation is bool:
        options |= {"action": "store_true", "default": None}
    else:
        choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else None
        parse = flag.parse or (field.annotation if field.annotation in (int, float) else None)
        options |= {"metavar": flag.metavar, "choices": choices, "type": parse}
        if get_origin(field.annotation) is list:
            options["action"] = "append"
    parser.add_argument(flag_name(name), **options)


def _help(field: FieldInfo) -> str:
    """The flag's help: the setting's description in argparse's style, with its default or that it repeats."""
    text = (field.description or "").rstrip(".")
    if text[1:2].islower():  # not an acronym such as HTTP
        text = text[:1].lower() + text[1:]
    if get_origin(field.annotation) is list:
        return f"{text} (repeatable)"
    if isinstance(field.default, str | int) and not isinstance(field.default, bool):
        return f"{text} (default: {field.default})"
    return text


def load_settings(args: argparse.Namespace) -> Settings:
    """The settings the parsed arguments ask for; raises SettingsError."""
    overrides: dict[str, Any] = {name: getattr(args, name, None) for name in FLAGS}  # None: the flag was not given
    flag_names: dict[str, str] = {}
    if args.sandbox:
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
        return make_client(settings, Sandbox().transport())

    return connect
