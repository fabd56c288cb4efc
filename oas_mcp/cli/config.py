"""``oas-mcp config CLIENT``: the entry that adds oas-mcp to an MCP client's configuration, with no secret in it.

The JSON goes to stdout (so it can be redirected into a file); where to put it goes to stderr. ``oas-mcp install
CLIENT`` (:mod:`oas_mcp.cli.install`) writes the same entry, made here by :func:`placement`, into that file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from oas_mcp.cli.options import EVERY_COMMAND, add_settings_flags, load_settings
from oas_mcp.settings import (
    CREDENTIALS,
    HTTP_SETTINGS,
    SECRET_FILES,
    Settings,
    SettingsError,
    env_name,
    flag_name,
    is_secret,
)

Scope = Literal["user", "project"]
PORTABLE_COMMAND = "oas-mcp"
"""The command a project's shared file runs: oas-mcp as found on each person's PATH, never a path on this computer."""
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class ClientFormat:
    """How one MCP client wants a stdio server described, where it keeps it, and what to do once it is there."""

    title: str
    servers_key: str
    stdio_type: bool
    reference: Callable[[str], str]
    """How the entry names a credential for the client to fill in (a placeholder where it fills in none)."""
    scopes: tuple[Scope, ...]
    """Where its configuration can live: for the user, for a project (the current folder); the first by default."""
    next_step: str
    inputs: bool = False


def _input_id(name: str) -> str:
    return f"oas-{name.replace('_', '-')}"


CLIENTS: dict[str, ClientFormat] = {
    "claude-desktop": ClientFormat(
        "Claude Desktop",
        "mcpServers",
        False,
        lambda name: f"<your OAS {CREDENTIALS[name].label}>",
        ("user",),
        "Quit and reopen Claude Desktop: oas-mcp's tools appear in the chat's tools menu.",
    ),
    "claude-code": ClientFormat(
        "Claude Code",
        "mcpServers",
        True,
        lambda name: f"${{{env_name(name)}:-}}",
        ("project", "user"),
        "Claude Code fills ${{OAS_...}} from the environment it starts in, and asks you to approve a project's "
        "servers the first time; then /mcp in Claude Code shows {name} as connected.",
    ),
    "vscode": ClientFormat(
        "VS Code",
        "servers",
        True,
        lambda name: f"${{input:{_input_id(name)}}}",
        ("project",),
        "Start {name} from the mcp.json editor or the Extensions view's MCP servers list: VS Code asks for the "
        "values once and keeps the secret ones encrypted, and the tools appear in Copilot Chat's agent mode.",
        inputs=True,
    ),
    "cursor": ClientFormat(
        "Cursor",
        "mcpServers",
        False,
        lambda name: f"${{env:{env_name(name)}}}",
        ("user", "project"),
        "Cursor fills ${{env:OAS_...}} from its environment; Cursor Settings > MCP then lists {name} with its tools.",
    ),
}


def claude_desktop_config(platform: str = sys.platform, environ: Mapping[str, str] = os.environ) -> Path:
    """Claude Desktop's configuration file on ``platform``. On Linux, which has no official build, it is where the
    community builds look: under ``$XDG_CONFIG_HOME``, else ``~/.config``."""
    if platform == "darwin":
        folder = Path.home() / "Library" / "Application Support"
    elif platform == "win32":
        folder = Path(environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    else:
        folder = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return folder / "Claude" / "claude_desktop_config.json"


def config_file(client: str, scope: Scope) -> Path | None:
    """The file ``client`` reads for ``scope`` (a project's in the current folder); None for Claude Code's user
    scope, which its own ``claude`` command keeps."""
    files: dict[tuple[str, Scope], Path | None] = {
        ("claude-desktop", "user"): claude_desktop_config(),
        ("claude-code", "project"): Path(".mcp.json"),
        ("claude-code", "user"): None,
        ("vscode", "project"): Path(".vscode", "mcp.json"),
        ("cursor", "user"): Path.home() / ".cursor" / "mcp.json",
        ("cursor", "project"): Path(".cursor", "mcp.json"),
    }
    found = files[client, scope]
    return None if found is None else Path.cwd() / found


@dataclass(frozen=True)
class Placement:
    """The configuration one command asks for: which client, where (``scope``), under which name, and the JSON."""

    client_name: str
    scope: Scope
    name: str
    document: dict[str, Any]

    @property
    def client(self) -> ClientFormat:
        return CLIENTS[self.client_name]

    @property
    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = self.document[self.client.servers_key][self.name]
        return entry

    @property
    def file(self) -> Path | None:
        return config_file(self.client_name, self.scope)

    def next_step(self) -> str:
        """What to do in the client once the entry is in its configuration."""
        placeholders = self.client_name == "claude-desktop" and any(
            value.startswith("<") for value in self.entry.get("env", {}).values()
        )
        replace = (
            f"Replace each <...> placeholder in {self.file} with your value (or delete its line), or keep them in a "
            "settings file and use --config FILE. "
            if placeholders
            else ""
        )
        return replace + self.client.next_step.format(name=self.name)

    def add_json_command(self) -> list[str]:
        """The ``claude`` command that adds the entry to Claude Code for the user (the ``user`` scope)."""
        return ["claude", "mcp", "add-json", "--scope", "user", self.name, json.dumps(self.entry)]


def server_name(text: str) -> str:
    """``--name``: what the client calls the server; letters, digits, ``-`` and ``_``, so it is safe in any shell
    line and any client's configuration."""
    if not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a server name: use letters, digits, - and _ (at most 64)")
    return text


def add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``config`` and ``install`` share: the client, ``--name``, ``--user`` or ``--project``, and the
    settings flags."""
    parser.add_argument("client", choices=tuple(CLIENTS), help="the MCP client")
    parser.add_argument(
        "--name", type=server_name, default="oas", help="the server's name in the client (default: oas)"
    )
    scopes = parser.add_mutually_exclusive_group()
    for scope in get_args(Scope):
        which = [title for title in CLIENTS if scope in CLIENTS[title].scopes]
        scopes.add_argument(
            f"--{scope}",
            dest="scope",
            action="store_const",
            const=scope,
            help=f"the {scope}'s configuration ({', '.join(which)}; each client's default is its first)",
        )
    add_settings_flags(parser)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser(
        "config",
        help="print a ready-to-paste configuration for an MCP client",
        description="Print the JSON that adds oas-mcp to an MCP client (on stdout), and where to put it (on "
        "stderr); `oas-mcp install` puts it there. Secrets are never written: --sandbox needs none, --config FILE "
        "points at your settings file, and otherwise they are placeholders or references the client fills in. "
        "A project's file runs oas-mcp from the PATH, so it works for everyone who shares it.",
    )
    add_placement_arguments(config)
    config.set_defaults(run=_config)


def _config(args: argparse.Namespace) -> int:
    chosen = placement(args)
    client = chosen.client
    if chosen.file is None:
        where = f"for every project, run this (`oas-mcp install {chosen.client_name} --user` does):\n  "
        where += shlex.join(chosen.add_json_command())
    else:
        where = f"put this in {chosen.file}, merged into what is there (oas-mcp install, same arguments, does it)."
    print(f"{client.title}: {where}\n{chosen.next_step()}", file=sys.stderr)
    print(json.dumps(chosen.document, indent=2))
    return 0


def placement(args: argparse.Namespace) -> Placement:
    """The configuration the parsed arguments ask for; raises SettingsError."""
    client = CLIENTS[args.client]
    scope: Scope = args.scope or client.scopes[0]
    if scope not in client.scopes:
        whose = {"user": "for your user", "project": "for a project"}[scope]
        raise SettingsError(f"--{scope}: {client.title} has no configuration {whose}; leave --{scope} out")
    if scope == "project" and args.config:
        raise SettingsError(
            f"--config: a project's configuration is shared, so it names no file on this computer; set "
            f"{env_name('config')}=FILE (or the OAS_* settings themselves) in the environment {client.title} starts "
            "in instead"
        )
    settings = load_settings(args)
    command = _launch_command(args, portable=scope == "project")
    document = client_config(client, args.name, command, _environment(args, settings, client, scope))
    return Placement(args.client, scope, args.name, document)


def _launch_command(args: argparse.Namespace, *, portable: bool) -> list[str]:
    """The command that starts oas-mcp with the flags given: ``oas-mcp`` from the PATH (``portable``), else the
    absolute path of this installation, with the settings file (for a user) by absolute path."""
    command = [PORTABLE_COMMAND] if portable else _this_installation()
    config_file = None if portable else args.config or os.environ.get(env_name("config"))
    if args.sandbox:
        command.append("--sandbox")
    if config_file:
        command += ["--config", os.path.abspath(config_file)]
    for name in EVERY_COMMAND:
        value = getattr(args, name)
        if value:
            command += [flag_name(name)] if value is True else [flag_name(name), str(value)]
    return command


def _this_installation() -> list[str]:
    scripts = Path(sys.executable).parent
    installed = shutil.which(PORTABLE_COMMAND, path=str(scripts))
    return [os.path.abspath(installed)] if installed else [os.path.abspath(sys.executable), "-m", "oas_mcp"]


def _environment(args: argparse.Namespace, settings: Settings, client: ClientFormat, scope: Scope) -> dict[str, str]:
    """The ``OAS_*`` variables for the client to set, secrets only ever as references.

    For a user: those set in this environment, and the credentials set nowhere (flags become arguments; the
    settings file sets the rest). For a project, which everyone shares: every credential as a reference, and of
    the others those set in this environment, but no file's path.
    """
    env: dict[str, str] = {}
    for name in Settings.model_fields:
        if name in HTTP_SETTINGS:  # the client starts the server on stdio
            continue
        origin, value = settings.origin(name), getattr(settings, name)
        if name in CREDENTIALS and not args.sandbox and (scope == "project" or origin == "default"):
            env[env_name(name)] = client.reference(name)
        elif origin == env_name(name) and not (scope == "project" and name in SECRET_FILES.values()):
            env[env_name(name)] = client.reference(name) if is_secret(name) else _text(value)
    return env


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path):
        return str(value.expanduser().absolute())
    return f"{value:g}" if isinstance(value, float) else str(value)


def client_config(client: ClientFormat, name: str, command: list[str], env: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "stdio"} if client.stdio_type else {}
    entry |= {"command": command[0], "args": command[1:]}
    if env:
        entry["env"] = env
    document: dict[str, Any] = {client.servers_key: {name: entry}}
    inputs = [
        {
            "type": "promptString",
            "id": _input_id(setting),
            "description": f"OAS {CREDENTIALS[setting].label}",
            "password": is_secret(setting),
        }
        for setting in CREDENTIALS
        if env.get(env_name(setting)) == client.reference(setting)
    ]
    if client.inputs and inputs:
        document["inputs"] = inputs
    return document
