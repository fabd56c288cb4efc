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
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit
from urllib.request import url2pathname

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
_SCOPES: dict[Scope, str] = {
    "user": "your own configuration, for every project",
    "project": "the configuration of the project in the current folder, shared with it",
}
_UV_ARCHIVE = re.compile(r"archive-v\d+")


@dataclass(frozen=True)
class ClientFormat:
    """How one MCP client wants a stdio server described, where it keeps it, and what to do once it is there."""

    title: str
    servers_key: str
    stdio_type: bool
    reference: Callable[[str], str] | None
    """How the entry names a credential for the client to fill in (a placeholder where it fills in none); None: the
    entry lists the variables the client passes on from its own environment (``env_vars``) instead."""
    scopes: tuple[Scope, ...]
    """Where its configuration can live: for the user, for a project (the current folder); the first by default."""
    next_step: str
    fills: str
    """How the client fills in the credentials the entry leaves to it (said only when it leaves some)."""
    project_step: str = ""
    """What a project's file needs besides: an approval, a trusted folder."""
    inputs: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fields every entry of this client ends with."""
    toml: bool = False
    """Its configuration is TOML (Codex's), not JSON."""
    sandbox: bool = False
    """It can run the server in a sandbox of its own, reaching only the hosts the entry names (``--sandboxed``)."""


def _input_id(name: str) -> str:
    return f"oas-{name.replace('_', '-')}"


def _from_environment(name: str) -> str:
    """``${OAS_NAME:-}``: filled from the environment the client starts in, empty when it is not set there."""
    return f"${{{env_name(name)}:-}}"


FROM_ENVIRONMENT = "fills ${{OAS_...}} from the environment it starts in."
CLIENTS: dict[str, ClientFormat] = {
    "claude-desktop": ClientFormat(
        "Claude Desktop",
        "mcpServers",
        False,
        lambda name: f"<your OAS {CREDENTIALS[name].label}>",
        ("user",),
        "Quit and reopen Claude Desktop: oas-mcp's tools appear in the chat's tools menu.",
        "Replace each <...> placeholder in {file} with your value (or delete its line), or keep them in a settings "
        "file and use --config FILE.",
    ),
    "claude-code": ClientFormat(
        "Claude Code",
        "mcpServers",
        True,
        _from_environment,
        ("project", "user"),
        "/mcp in Claude Code then shows {name} as connected.",
        f"Claude Code {FROM_ENVIRONMENT}",
        project_step="Claude Code asks you to approve a project's servers the first time.",
    ),
    "vscode": ClientFormat(
        "VS Code",
        "servers",
        True,
        lambda name: f"${{input:{_input_id(name)}}}",
        ("project", "user"),
        "Start {name} from the mcp.json editor or the Extensions view's MCP servers list; its tools then appear in "
        "Copilot Chat's agent mode.",
        "VS Code asks for the values once, when {name} first starts, and keeps the secret ones encrypted.",
        inputs=True,
        sandbox=True,
    ),
    "cursor": ClientFormat(
        "Cursor",
        "mcpServers",
        False,
        lambda name: f"${{env:{env_name(name)}}}",
        ("user", "project"),
        "Cursor Settings > MCP then lists {name} with its tools.",
        "Cursor fills ${{env:OAS_...}} from its environment.",
    ),
    "codex": ClientFormat(
        "Codex CLI",
        "mcp_servers",
        False,
        None,
        ("user", "project"),
        "codex mcp list lists {name}, and /mcp in a session shows its tools.",
        "Codex passes {name} the OAS_* credentials set in the environment it starts in (env_vars).",
        project_step="Codex reads a project's .codex/config.toml once you trust the project.",
        toml=True,
    ),
    "gemini": ClientFormat(
        "Gemini CLI",
        "mcpServers",
        False,
        _from_environment,
        ("project", "user"),
        "Gemini CLI runs servers only in a folder you trust; gemini mcp list then shows {name} as connected.",
        f"Gemini CLI {FROM_ENVIRONMENT}",
    ),
    "copilot": ClientFormat(
        "Copilot CLI",
        "mcpServers",
        True,
        _from_environment,
        ("user",),
        "copilot mcp list lists {name}, and /mcp in a session shows its tools.",
        f"Copilot CLI {FROM_ENVIRONMENT}",
        extra={"tools": ["*"]},
    ),
}
LOCATIONS: dict[tuple[str, Scope], str] = {
    ("claude-desktop", "user"): "its per-system file",
    ("claude-code", "project"): ".mcp.json here",
    ("claude-code", "user"): "its claude command",
    ("vscode", "project"): ".vscode/mcp.json here",
    ("vscode", "user"): "your profile's mcp.json",
    ("cursor", "user"): "~/.cursor/mcp.json",
    ("cursor", "project"): ".cursor/mcp.json here",
    ("codex", "user"): "~/.codex/config.toml (in $CODEX_HOME when set)",
    ("codex", "project"): ".codex/config.toml here",
    ("gemini", "project"): ".gemini/settings.json here",
    ("gemini", "user"): "~/.gemini/settings.json",
    ("copilot", "user"): "~/.copilot/mcp-config.json (in $COPILOT_HOME when set)",
}
"""Where each client's configuration is, for each scope it has, as the commands' help says it."""


def where_each_client_keeps_it() -> str:
    """Each client and where its configuration is: for its default scope, then with the other flag."""
    described = []
    for name, client in CLIENTS.items():
        default, *others = client.scopes
        places = [LOCATIONS[name, default], *(f"with --{scope} {LOCATIONS[name, scope]}" for scope in others)]
        described.append(f"{name}: {', or '.join(places)}")
    return "; ".join(described)


def _app_data(platform: str, environ: Mapping[str, str]) -> Path:
    """Where desktop applications keep their settings on ``platform`` (Electron's appData)."""
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support"
    if platform == "win32":
        return Path(environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    return Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")


def claude_desktop_config(platform: str = sys.platform, environ: Mapping[str, str] = os.environ) -> Path:
    """Claude Desktop's configuration file on ``platform``. On Linux, which has no official build, it is where the
    community builds look: under ``$XDG_CONFIG_HOME``, else ``~/.config``."""
    return _app_data(platform, environ) / "Claude" / "claude_desktop_config.json"


def vscode_user_config(platform: str = sys.platform, environ: Mapping[str, str] = os.environ) -> Path:
    """The ``mcp.json`` of VS Code's default profile on ``platform`` ("MCP: Open User Configuration")."""
    return _app_data(platform, environ) / "Code" / "User" / "mcp.json"


def _home_of(variable: str, default: str) -> Path:
    """A client's own folder: ``$VARIABLE`` when set, else ``~/DEFAULT``."""
    return Path(os.environ.get(variable) or Path.home() / default)


def config_file(client: str, scope: Scope) -> Path | None:
    """The file ``client`` reads for ``scope`` (a project's in the current folder); None for Claude Code's user
    scope, which its own ``claude`` command keeps."""
    files: dict[tuple[str, Scope], Path | None] = {
        ("claude-desktop", "user"): claude_desktop_config(),
        ("claude-code", "project"): Path(".mcp.json"),
        ("claude-code", "user"): None,
        ("vscode", "project"): Path(".vscode", "mcp.json"),
        ("vscode", "user"): vscode_user_config(),
        ("cursor", "user"): Path.home() / ".cursor" / "mcp.json",
        ("cursor", "project"): Path(".cursor", "mcp.json"),
        ("codex", "user"): _home_of("CODEX_HOME", ".codex") / "config.toml",
        ("codex", "project"): Path(".codex", "config.toml"),
        ("gemini", "project"): Path(".gemini", "settings.json"),
        ("gemini", "user"): Path.home() / ".gemini" / "settings.json",
        ("copilot", "user"): _home_of("COPILOT_HOME", ".copilot") / "mcp-config.json",
    }
    found = files[client, scope]
    return None if found is None else Path.cwd() / found


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


def toml_table(name: str, values: Mapping[str, Any]) -> str:
    """``values`` as the TOML table ``[name]``, its table values as sub-tables after it. Keys are bare (ours are
    letters, digits, ``-`` and ``_``); strings are TOML basic strings."""
    lines = [f"[{name}]"]
    tables = []
    for key, value in values.items():
        if isinstance(value, Mapping):
            tables.append(toml_table(f"{name}.{key}", value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join([*lines, ""]) + "".join(f"\n{table}" for table in tables)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return f"[{', '.join(map(_toml_value, value))}]"
    # A JSON string is a TOML basic string once DEL, which TOML wants escaped and JSON does not, is.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


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
    command = [*(uvx or ([PORTABLE_COMMAND] if scope == "project" else _this_installation())), *_flags(args, scope)]
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
            f"oas-mcp for good first ({_install_for_good()}), then run this from that installation"
        )


def sandboxed_to(hosts: list[str]) -> dict[str, Any]:
    """What makes VS Code run a stdio server in its sandbox, allowed to reach ``hosts`` only."""
    return {"sandboxEnabled": True, "sandbox": {"network": {"allowedDomains": hosts}}}


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


def _this_installation() -> list[str]:
    scripts = Path(sys.executable).parent
    installed = shutil.which(PORTABLE_COMMAND, path=str(scripts))
    return [os.path.abspath(installed)] if installed else [os.path.abspath(sys.executable), "-m", "oas_mcp"]


def lasting_command() -> list[str] | None:
    """When this oas-mcp runs from a temporary environment, one uvx made in uv's cache (which ``uv cache clean`` or
    ``prune`` deletes), the command that gets it back from where it came: ``uvx [--from SOURCE] oas-mcp``. None for
    an installation that lasts (a venv, pipx, ``uv tool install``)."""
    if not _in_uv_cache(Path(sys.executable).absolute(), os.environ):
        return None
    source = installed_from()
    return [_uvx(), *(["--from", source] if source else []), PORTABLE_COMMAND]


def _uvx() -> str:
    """The uvx that ran this, by absolute path: beside the uv that uv names in ``$UV``, else on the PATH."""
    beside_uv = Path(os.environ["UV"]).with_stem("uvx") if os.environ.get("UV") else None
    if beside_uv is not None and beside_uv.is_file():
        return str(beside_uv)
    return shutil.which("uvx") or "uvx"


def _in_uv_cache(path: Path, environ: Mapping[str, str]) -> bool:
    """Whether ``path`` is in uv's cache: ``$UV_CACHE_DIR``, else its default folder, or any folder uv names
    ``archive-v0`` (a cache set in uv.toml)."""
    if environ.get("UV_CACHE_DIR"):
        cache = Path(environ["UV_CACHE_DIR"])
    elif sys.platform == "win32":
        cache = Path(environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "uv" / "cache"
    else:
        cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "uv"
    return path.is_relative_to(cache.absolute()) or any(_UV_ARCHIVE.fullmatch(part) for part in path.parts)


def installed_from() -> str | None:
    """Where this oas-mcp was installed from, as ``uvx --from`` takes it: a VCS URL (with the revision asked for), an
    archive's URL, or a wheel, sdist or folder on this computer; None for a package index (PyPI), which says none
    (PEP 610's ``direct_url.json``)."""
    try:
        recorded = distribution("oas-mcp").read_text("direct_url.json")
        found: dict[str, Any] = json.loads(recorded) if recorded else {}
        url = str(found["url"]) if found else None
    except (PackageNotFoundError, ValueError, KeyError, TypeError):
        return None
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is not None:  # PEP 610 wants none recorded; never write one into a client's file
        url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    if isinstance(vcs := found.get("vcs_info"), dict) and vcs.get("vcs"):
        revision = vcs.get("requested_revision")
        url = f"{vcs['vcs']}+{url}" + (f"@{revision}" if revision else "")
    elif url.startswith("file://"):
        url = url2pathname(urlsplit(url).path)
    subdirectory = found.get("subdirectory")
    return f"{url}#subdirectory={subdirectory}" if subdirectory else url


def _install_for_good() -> str:
    source = installed_from()
    return f"uv tool install {shlex.quote(source) if source else PORTABLE_COMMAND}, or pipx install"


def _note(scope: Scope, uvx: list[str] | None) -> str | None:
    """What to know about this installation for the entry: a temporary one it does not name, or a project's
    ``oas-mcp`` not on this PATH."""
    if uvx is not None:
        return (
            f"this oas-mcp runs from uv's cache ({Path(sys.executable).parent}), which uv may empty at any time, so "
            f"the entry runs {shlex.join([Path(uvx[0]).name, *uvx[1:]])} instead: uvx fetches it again when needed. "
            f"To install it for good: {_install_for_good()}."
        )
    if scope == "project" and shutil.which(PORTABLE_COMMAND) is None:
        if lasting_command() is not None:
            where = f"install it for good: {_install_for_good()}"
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


def client_config(client: ClientFormat, name: str, command: list[str], env: Mapping[str, str | None]) -> dict[str, Any]:
    """The document that adds the server ``name`` running ``command`` to ``client``: ``env`` by setting name, each
    a value or None for a reference (see :func:`_environment`)."""
    entry: dict[str, Any] = {"type": "stdio"} if client.stdio_type else {}
    entry |= {"command": command[0], "args": command[1:]}
    referenced = [setting for setting, value in env.items() if value is None]
    if client.reference is None:
        values = {env_name(setting): value for setting, value in env.items() if value is not None}
        if referenced:
            entry["env_vars"] = [env_name(setting) for setting in referenced]
    else:
        reference = client.reference
        values = {env_name(setting): reference(setting) if value is None else value for setting, value in env.items()}
    if values:
        entry["env"] = values
    entry |= client.extra
    document: dict[str, Any] = {client.servers_key: {name: entry}}
    if client.inputs and (asked := [setting for setting in referenced if setting in CREDENTIALS]):
        document["inputs"] = [
            {
                "type": "promptString",
                "id": _input_id(setting),
                "description": f"OAS {CREDENTIALS[setting].label}",
                "password": is_secret(setting),
            }
            for setting in asked
        ]
    return document
