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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

from oas_mcp.cli.clients import (
    CLIENTS,
    ClientFormat,
    Scope,
    client_config,
    config_file,
    sandboxed_to,
    toml_table,
    where_each_client_keeps_it,
)
from oas_mcp.cli.installation import PORTABLE_COMMAND, install_for_good, lasting_command, this_installation
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

_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SCOPES: dict[Scope, str] = {
    "user": "your own configuration, for every project",
    "project": "the configuration of the project in the current folder, shared with it",
}


@dataclass(frozen=True)
class Placement:
    """The configuration one command asks for: which client, where (``scope``), under which name, the document (its
    JSON, or for Codex the TOML table as data), and the note about this installation, if any."""

    client_name: str
    scope: Scope
    name: str
    document: dict[str, Any]
    note: str | None = None

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
        fills = f"{self.client.fills.format(name=self.name, file=self.file)} " if self._leaves_credentials() else ""
        project = f"{self.client.project_step} " if self.scope == "project" and self.client.project_step else ""
        sandbox = self.entry.get("sandbox", {}).get("network", {}).get("allowedDomains")
        if sandbox is not None:
            reaches = f"only {', '.join(sandbox)}" if sandbox else "no host"
            project += (
                f"{self.client.title} runs {self.name} in its sandbox on macOS and Linux, reaching {reaches}; it runs "
                "the tools of a sandboxed server without asking you to confirm them. "
            )
        return fills + project + self.client.next_step.format(name=self.name)

    def _leaves_credentials(self) -> bool:
        """Whether the entry leaves a credential for the client to fill in: a reference or placeholder, or a
        variable to pass on (none with --sandbox, or with --config for a user)."""
        reference = self.client.reference
        if reference is None:
            return bool(self.entry.get("env_vars"))
        env = self.entry.get("env", {})
        return any(env.get(env_name(name)) == reference(name) for name in CREDENTIALS)

    def add_json_command(self) -> list[str]:
        """The ``claude`` command that adds the entry to Claude Code for the user (the ``user`` scope)."""
        return ["claude", "mcp", "add-json", "--scope", "user", self.name, json.dumps(self.entry)]

    def text(self) -> str:
        """The document as the client's file has it: JSON, or a TOML table."""
        if self.client.toml:
            return toml_table(f"{self.client.servers_key}.{self.name}", self.entry)
        return json.dumps(self.document, indent=2) + "\n"


def server_name(text: str) -> str:
    """``--name``: what the client calls the server; letters, digits, ``-`` and ``_``, so it is safe in any shell
    line and any client's configuration."""
    if not _NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a server name: use letters, digits, - and _ (at most 64)")
    return text


def add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    """What ``config`` and ``install`` share: the client, ``--name``, ``--user`` or ``--project``, ``--sandboxed``,
    and the settings flags."""
    parser.add_argument("client", choices=tuple(CLIENTS), help="the MCP client")
    parser.add_argument(
        "--name", type=server_name, default="oas", help="the server's name in the client (default: oas)"
    )
    scopes = parser.add_mutually_exclusive_group()
    for scope in get_args(Scope):
        default = [name for name, client in CLIENTS.items() if client.scopes[0] == scope]
        also = [name for name, client in CLIENTS.items() if scope in client.scopes[1:]]
        scopes.add_argument(
            f"--{scope}",
            dest="scope",
            action="store_const",
            const=scope,
            help=f"{_SCOPES[scope]}: the default of {', '.join(default)}; also {', '.join(also)}",
        )
    sandboxed = [client.title for client in CLIENTS.values() if client.sandbox]
    parser.add_argument(
        "--sandboxed",
        action="store_true",
        help=f"{' and '.join(sandboxed)} only, on macOS and Linux: run oas-mcp in the client's sandbox, allowed to "
        "reach the OAS API's host alone (and no other host, no file to write). Such a server's tool calls run "
        "without asking you to confirm them, creating organisations included.",
    )
    add_settings_flags(parser)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = commands.add_parser(
        "config",
        help="print a ready-to-paste configuration for an MCP client",
        description="Print the entry that adds oas-mcp to an MCP client (on stdout: JSON, TOML for codex), and where "
        "to put it (on stderr); `oas-mcp install` puts it there. Secrets are never written: --sandbox needs none, "
        "--config FILE points at your settings file, and otherwise they are placeholders or references the client "
        "fills in. A project's file runs oas-mcp from the PATH, so it works for everyone who shares it. Where each "
        f"client keeps its configuration: {where_each_client_keeps_it()}.",
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
    note = f"\nNote: {chosen.note}" if chosen.note else ""
    print(f"{client.title}: {where}\n{chosen.next_step()}{note}", file=sys.stderr)
    print(chosen.text(), end="")
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
    uvx = None if scope == "project" else lasting_command()
    if args.sandboxed:
        _check_sandboxed(client, scope, uvx)
    command = [*(uvx or ([PORTABLE_COMMAND] if scope == "project" else this_installation())), *_flags(args, scope)]
    document = client_config(client, args.name, command, _environment(args, settings, scope))
    if args.sandboxed:
        host = None if args.sandbox else urlsplit(settings.base_url).hostname  # the sandbox API needs no network
        document[client.servers_key][args.name] |= sandboxed_to([host] if host else [])
    return Placement(args.client, scope, args.name, document, _note(scope, uvx))


def _check_sandboxed(client: ClientFormat, scope: Scope, uvx: list[str] | None) -> None:
    """Raise SettingsError when ``--sandboxed`` cannot work for this entry."""
    if not client.sandbox:
        able = ", ".join(name for name, other in CLIENTS.items() if other.sandbox)
        raise SettingsError(f"--sandboxed: {client.title} runs no server in a sandbox of its own (only {able} does)")
    if scope == "user" and sys.platform == "win32":
        raise SettingsError(f"--sandboxed: {client.title} sandboxes servers on macOS and Linux only")
    if uvx is not None:
        raise SettingsError(
            "--sandboxed: the entry would run uvx, which needs PyPI and its cache, outside the sandbox; install "
            f"oas-mcp for good first ({install_for_good()}), then run this from that installation"
        )


def _flags(args: argparse.Namespace, scope: Scope) -> list[str]:
    """The arguments that pass on the flags given, with the settings file (for a user) by absolute path."""
    flags = ["--sandbox"] if args.sandbox else []
    config_file = None if scope == "project" else args.config or os.environ.get(env_name("config"))
    if config_file:
        flags += ["--config", os.path.abspath(config_file)]
    for name in EVERY_COMMAND:
        value = getattr(args, name)
        if value:
            flags += [flag_name(name)] if value is True else [flag_name(name), str(value)]
    return flags


def _note(scope: Scope, uvx: list[str] | None) -> str | None:
    """What to know about this installation for the entry: a temporary one it does not name, or a project's
    ``oas-mcp`` not on this PATH."""
    if uvx is not None:
        return (
            f"this oas-mcp runs from uv's cache ({Path(sys.executable).parent}), which uv may empty at any time, so "
            f"the entry runs {shlex.join([Path(uvx[0]).name, *uvx[1:]])} instead: uvx fetches it again when needed. "
            f"To install it for good: {install_for_good()}."
        )
    if scope == "project" and shutil.which(PORTABLE_COMMAND) is None:
        if lasting_command() is not None:
            where = f"install it for good: {install_for_good()}"
        else:
            where = f"add {Path(sys.executable).parent} to PATH, or install it with pipx or uv (see the README)"
        return (
            f"the entry runs {PORTABLE_COMMAND} from the PATH (so it works for everyone who shares the file), and it "
            f"is not on yours: {where}."
        )
    return None


def _environment(args: argparse.Namespace, settings: Settings, scope: Scope) -> dict[str, str | None]:
    """The ``OAS_*`` settings for the client to set, by setting name: a value, or None for a reference the client
    fills in (secrets are only ever references).

    For a user: those set in this environment, and the credentials set nowhere (flags become arguments; the
    settings file sets the rest). For a project, which everyone shares: every credential as a reference, and of
    the others those set in this environment, but no file's path.
    """
    env: dict[str, str | None] = {}
    for name in Settings.model_fields:
        if name in HTTP_SETTINGS:  # the client starts the server on stdio
            continue
        source, value = settings.source(name), getattr(settings, name)
        if name in CREDENTIALS and not args.sandbox and (scope == "project" or source == "default"):
            env[name] = None
        elif source == env_name(name) and not (scope == "project" and name in SECRET_FILES.values()):
            env[name] = None if is_secret(name) else _text(value)
    return env


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Path):
        return str(value.expanduser().absolute())
    return f"{value:g}" if isinstance(value, float) else str(value)
