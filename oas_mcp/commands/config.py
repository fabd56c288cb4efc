"""``oas-mcp config CLIENT``: a ready-to-paste MCP client configuration, with no secret in it.

The JSON goes to stdout (so it can be redirected into a file); where to put it goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oas_mcp.settings import CREDENTIALS, HTTP_SETTINGS, Settings, env_name, flag_name, is_secret
from oas_mcp.wiring import EVERY_COMMAND, add_settings_flags, load_settings


@dataclass(frozen=True)
class ClientFormat:
    """How one MCP client wants a stdio server described, and how it fills values from elsewhere."""

    servers_key: str
    stdio_type: bool
    reference: Callable[[str], str]
    where: str
    inputs: bool = False


def _desktop_config_file() -> str:
    if sys.platform == "darwin":
        return "~/Library/Application Support/Claude/claude_desktop_config.json"
    if sys.platform == "win32":
        return r"%APPDATA%\Claude\claude_desktop_config.json"
    return "~/.config/Claude/claude_desktop_config.json"


CLAUDE_DESKTOP = (
    "Claude Desktop: put this in {desktop_config_file} (Settings > Developer > Edit Config opens it); if the file "
    'already has "mcpServers", add the "{name}" entry to it. Replace each <...> placeholder (or delete its line when '
    "you have no such value), then quit and reopen Claude Desktop: oas-mcp's tools appear in the chat's tools menu."
)
CLAUDE_CODE = (
    'Claude Code: save this as .mcp.json in your project\'s root (or add the entry to its "mcpServers"); '
    "Claude Code fills ${{OAS_...}} from the environment it starts in. For every project instead, run:\n"
    "  claude mcp add-json --scope user {name} '{entry}'\n"
    "Then /mcp in Claude Code shows {name} as connected."
)
VSCODE = (
    "VS Code: save this as .vscode/mcp.json in your workspace, or run 'MCP: Open User Configuration' for "
    'every workspace (merge "servers" and "inputs" into what is there). VS Code asks for the values once, '
    "when the server first starts, and keeps the secret ones encrypted."
)
CURSOR = (
    "Cursor: save this as ~/.cursor/mcp.json for every project, or .cursor/mcp.json in one project (add the "
    'entry to "mcpServers" if the file has one). Cursor fills ${{env:OAS_...}} from its environment; then '
    "Cursor Settings > MCP lists {name} with its tools."
)


def _input_id(name: str) -> str:
    return f"oas-{name.replace('_', '-')}"


CLIENTS: dict[str, ClientFormat] = {
    "claude-desktop": ClientFormat(
        "mcpServers", False, lambda name: f"<your OAS {CREDENTIALS[name].label}>", CLAUDE_DESKTOP
    ),
    "claude-code": ClientFormat("mcpServers", True, lambda name: f"${{{env_name(name)}:-}}", CLAUDE_CODE),
    "vscode": ClientFormat("servers", True, lambda name: f"${{input:{_input_id(name)}}}", VSCODE, inputs=True),
    "cursor": ClientFormat("mcpServers", False, lambda name: f"${{env:{env_name(name)}}}", CURSOR),
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser(
        "config",
        help="print a ready-to-paste configuration for an MCP client",
        description="Print the JSON that adds oas-mcp to an MCP client (on stdout), and where to put it (on "
        "stderr). Secrets are never written: --sandbox needs none, --config FILE points at your settings file, "
        "and otherwise they are placeholders or references the client fills in.",
    )
    config.add_argument("client", choices=tuple(CLIENTS), help="the MCP client to configure")
    config.add_argument("--name", default="oas", help="the server's name in the client (default: oas)")
    add_settings_flags(config)
    config.set_defaults(run=_config)


def _config(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    client = CLIENTS[args.client]
    document = client_config(client, args.name, launch_command(args), _environment(args, settings, client))
    entry = json.dumps(document[client.servers_key][args.name])
    print(client.where.format(name=args.name, entry=entry, desktop_config_file=_desktop_config_file()), file=sys.stderr)
    print(json.dumps(document, indent=2))
    return 0


def launch_command(args: argparse.Namespace) -> list[str]:
    """The absolute command that starts this installation of oas-mcp, with the flags given to ``config``."""
    scripts = Path(sys.executable).parent
    installed = shutil.which("oas-mcp", path=str(scripts))
    command = [os.path.abspath(installed)] if installed else [os.path.abspath(sys.executable), "-m", "oas_mcp"]
    config_file = args.config or os.environ.get(env_name("config"))
    if args.sandbox:
        command.append("--sandbox")
    if config_file:
        command += ["--config", os.path.abspath(config_file)]
    for name in EVERY_COMMAND:
        value = getattr(args, name)
        if value:
            command += [flag_name(name)] if value is True else [flag_name(name), str(value)]
    return command


def _environment(args: argparse.Namespace, settings: Settings, client: ClientFormat) -> dict[str, str]:
    """The ``OAS_*`` variables for the client to set: those set in this environment, and the credentials set
    nowhere (flags become arguments; the config file sets the rest). Secrets only ever as references.
    """
    env: dict[str, str] = {}
    for name in Settings.model_fields:
        if name in HTTP_SETTINGS:  # the client starts the server on stdio
            continue
        origin = settings.origin(name)
        if origin == env_name(name) or (name in CREDENTIALS and origin == "default" and not args.sandbox):
            value = getattr(settings, name)
            env[env_name(name)] = client.reference(name) if value is None or is_secret(name) else _text(value)
    return env


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


def client_config(client: ClientFormat, name: str, command: list[str], env: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "stdio"} if client.stdio_type else {}
    entry |= {"command": command[0], "args": command[1:]}
    if env:
        entry["env"] = env
    document: dict[str, Any] = {client.servers_key: {name: entry}}
    if client.inputs:
        document["inputs"] = [
            {
                "type": "promptString",
                "id": _input_id(setting),
                "description": f"OAS {CREDENTIALS[setting].label}",
                "password": is_secret(setting),
            }
            for setting in CREDENTIALS
            if env.get(env_name(setting)) == client.reference(setting)
        ]
    return document
