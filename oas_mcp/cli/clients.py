"""The MCP clients oas-mcp can be added to: how each describes a stdio server (:class:`ClientFormat`), where it keeps
its configuration, and the document that adds oas-mcp to it (:func:`client_config`), JSON or a TOML table."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from oas_mcp.settings import CREDENTIALS, env_name, is_secret

Scope = Literal["user", "project"]


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


def sandboxed_to(hosts: list[str]) -> dict[str, Any]:
    """What makes VS Code run a stdio server in its sandbox, allowed to reach ``hosts`` only."""
    return {"sandboxEnabled": True, "sandbox": {"network": {"allowedDomains": hosts}}}


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
