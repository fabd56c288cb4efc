"""``oas-mcp install CLIENT``: put the entry ``oas-mcp config CLIENT`` prints into the client's own configuration.

Everything else in the file is kept (in Codex's TOML, byte for byte); the write is atomic, and the previous file is
kept in the user's own
backups folder (never beside a project's file, which others share). A symlink is followed only to a regular file of
the user's (and, for a project's file, only inside the project).
Running it again changes nothing; an entry of the same name that differs is replaced only with ``--force``. Claude
Code's user configuration is its ``claude`` command's to change, so that one goes through it.
"""

from __future__ import annotations

import argparse
import errno
import itertools
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from oas_mcp.cli.clients import where_each_client_keeps_it
from oas_mcp.cli.config import Placement, add_placement_arguments, placement
from oas_mcp.settings import file_kind

_STRING = r'("(?:[^"\\]|\\.)*")'
_COMMENT = re.compile(_STRING + r"|//[^\n]*|/\*.*?\*/", re.DOTALL)
_TRAILING_COMMA = re.compile(_STRING + r"|,(?=\s*[}\]])")
_INDENT = re.compile(r"^([ \t]+)\S", re.MULTILINE)
_UNCHANGED = "Nothing was changed."
_UNSAFE_IN_NAMES = re.compile(r"[^A-Za-z0-9._-]+")
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class InstallError(Exception):
    """The configuration was left as it was, for the reason the message gives in one line (exit code 1)."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    install = commands.add_parser(
        "install",
        help="add oas-mcp to an MCP client's configuration",
        description="Add the entry `oas-mcp config CLIENT` prints to the client's own configuration file, keeping "
        "everything else in it (the previous file is kept in oas-mcp/backups in your state folder, "
        f"~/.local/state by default; the output names it): {where_each_client_keeps_it()}. A project's file runs "
        "oas-mcp from the PATH, so it works for everyone who shares it. Exit code 0 when the entry is there, 1 when "
        "the file was left as it was (an entry that differs, a file it cannot read), 2 for wrong arguments.",
    )
    add_placement_arguments(install)
    install.add_argument("--force", action="store_true", help="replace an entry of the same name that differs")
    install.set_defaults(run=_install)


def _install(args: argparse.Namespace) -> int:
    chosen = placement(args)
    try:
        if chosen.file is None:
            done = _with_claude(chosen, args.force)
        elif chosen.client.toml:
            done = _in_toml(chosen, chosen.file, args.force)
        else:
            done = _in_file(chosen, chosen.file, args.force)
    except InstallError as exc:
        print(f"oas-mcp: {exc}", file=sys.stderr)
        return 1
    print(done)
    print(f"Next: {chosen.next_step()}")
    if chosen.note:
        print(f"Note: {chosen.note}")
    return 0


def _in_file(chosen: Placement, path: Path, force: bool) -> str:
    """Merge the entry into ``path``; what was done, or InstallError."""
    target = _destination(path, project=chosen.scope == "project")
    original, document, commented, indent = _read(path, target, jsonc=chosen.client_name == "vscode")
    merged = _merged(document, chosen, path, force)
    if merged == document:
        return f"{path} already has {chosen.name} as this would write it. {_UNCHANGED}"
    if commented:
        raise InstallError(
            f"{path} has comments, which writing it would lose: add the entry by hand (oas-mcp config "
            f"{chosen.client_name} prints it), or delete the comments and run this again. {_UNCHANGED}"
        )
    replaced = chosen.name in document.get(chosen.client.servers_key, {})
    text = json.dumps(merged, indent=indent, ensure_ascii=False) + "\n"
    return _written(chosen, path, target, original, text, replaced=replaced)


def _written(chosen: Placement, path: Path, target: Path, original: bytes | None, text: str, *, replaced: bool) -> str:
    """Write ``text`` to ``target``, the file ``path`` names, keeping what it held (``original``) as a backup; what
    was done, or InstallError."""
    backup = None if original is None else _backup(target, original)
    try:
        _write(target, text)
    except OSError as exc:
        raise InstallError(f"cannot write {target}: {exc.strerror or exc}. {_UNCHANGED}") from None
    done = "Replaced {} in" if replaced else "Added {} to"
    where = f"{path} (a symlink to {target})" if path.is_symlink() else str(path)
    kept = f"; the previous file is {backup}" if backup else " (a new file)"
    return f"{done.format(chosen.name)} {where}{kept}."


def _in_toml(chosen: Placement, path: Path, force: bool) -> str:
    """Put the entry in ``path``, a TOML file (Codex's), as its own table at the end: the rest of the text stays as
    it is, comments included; with ``force`` an entry of the same name that differs goes first (its tables). The
    result is parsed again, and must be the file's data with just this entry added or replaced; what was done, or
    InstallError."""
    target = _destination(path, project=chosen.scope == "project")
    original, text = _read_text(path, target)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InstallError(
            f"{path} is not valid TOML ({exc}); fix it or move it away, then run this again. {_UNCHANGED}"
        ) from None
    key, name = chosen.client.servers_key, chosen.name
    servers = document.get(key, {})
    if not isinstance(servers, dict):
        raise InstallError(f'"{key}" in {path} is not what {chosen.client.title} expects. {_UNCHANGED}')
    if name in servers and _essential(servers[name]) == _essential(chosen.entry):
        return f"{path} already has {name} as this would write it. {_UNCHANGED}"
    if name in servers and not force:
        raise InstallError(
            f"{path} already has a server named {name} that differs: "
            f"{'; '.join(_differences(servers[name], chosen.entry))}. Run this again with --force to replace it (the "
            f"file is kept as a backup), or choose another --name. {_UNCHANGED}"
        )
    kept = _without_tables(text, f"{key}.{name}") if name in servers else text
    new_text = f"{kept.rstrip()}\n\n{chosen.text()}" if kept.strip() else chosen.text()
    wanted = {**document, key: {**servers, name: chosen.entry}}
    try:
        placed = tomllib.loads(new_text) == wanted
    except tomllib.TOMLDecodeError:
        placed = False
    if not placed:
        raise InstallError(
            f"{path} defines {key} in a way this cannot add to safely: add the entry by hand (oas-mcp config "
            f"{chosen.client_name} prints it). {_UNCHANGED}"
        )
    return _written(chosen, path, target, original, new_text, replaced=name in servers)


def _without_tables(text: str, table: str) -> str:
    """``text`` without the TOML tables ``[table]`` and ``[table.*]``: each from its header to the next header."""
    header = re.compile(r"\s*\[\s*([A-Za-z0-9_.\s-]+?)\s*\]\s*(?:#.*)?")
    kept, dropping = [], False
    for line in text.splitlines(keepends=True):
        found = header.fullmatch(line.rstrip("\r\n"))
        if found:
            dotted = re.sub(r"\s*\.\s*", ".", found.group(1))
            dropping = dotted == table or dotted.startswith(f"{table}.")
        if not dropping:
            kept.append(line)
    return "".join(kept)


def _destination(path: Path, *, project: bool) -> Path:
    """The file to write for ``path``: itself, or where its symlinks lead (some keep their dotfiles that way), when
    that is a regular file of the user's, or nothing yet; and for a project's file, inside the project (a cloned
    project may hold a symlink to ``~/.bashrc``). Raises InstallError."""
    try:
        target = path.resolve()  # every symlink followed, in the file's name and in its folders'
        linked = path.is_symlink()
        found = target.stat() if target.exists() else None
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop, before Python 3.13
        raise InstallError(f"cannot follow {path}: {getattr(exc, 'strerror', None) or exc}. {_UNCHANGED}") from None
    shown = f"{path} is a symlink to {target}, which" if linked else str(path)
    if project and not target.is_relative_to(Path.cwd().resolve()):
        raise InstallError(
            f"{path} leads out of this project folder, to {target}: a project's file is written only inside it. "
            f"{_UNCHANGED}"
        )
    if found is None and linked:
        raise InstallError(f"{shown} does not exist: create that file, or remove the symlink. {_UNCHANGED}")
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise InstallError(f"{shown} is {file_kind(found.st_mode)}, not a file. {_UNCHANGED}")
    if found is not None and linked and hasattr(os, "geteuid") and found.st_uid != os.geteuid():
        raise InstallError(
            f"{shown} belongs to another user: install writes through a symlink only to a file of yours. {_UNCHANGED}"
        )
    return target


def _read(path: Path, target: Path, *, jsonc: bool) -> tuple[bytes | None, dict[str, Any], bool, str | int]:
    """The bytes of ``target``, the file ``path`` names (None when there is none), the JSON object in it ({} when
    there is no such file, or it is blank), whether it had comments (allowed with ``jsonc``, as are trailing commas),
    and its indentation (2 spaces for a new file), so that a rewrite changes only what it must; raises InstallError."""
    original, text = _read_text(path, target)
    if original is None:
        return None, {}, False, 2
    commented = False
    indent = found.group(1) if (found := _INDENT.search(text)) else 2
    if jsonc:

        def blank(match: re.Match[str]) -> str:
            nonlocal commented
            commented = commented or match.group(1) is None
            return match.group(1) or " "

        text = _TRAILING_COMMA.sub(lambda match: match.group(1) or "", _COMMENT.sub(blank, text))
    try:
        document = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise InstallError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); fix it or move it "
            f"away, then run this again. {_UNCHANGED}"
        ) from None
    if not isinstance(document, dict):
        raise InstallError(f"{path} holds a JSON {type(document).__name__}, not an object. {_UNCHANGED}")
    return original, document, commented, indent


def _read_text(path: Path, target: Path) -> tuple[bytes | None, str]:
    """The bytes of ``target``, the file ``path`` names (None when there is none), and their text; raises
    InstallError."""
    try:
        original = target.read_bytes()
        return original, original.decode()
    except FileNotFoundError:
        return None, ""
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror or str(exc)
        raise InstallError(f"cannot read {path}: {reason}. {_UNCHANGED}") from None


def _merged(document: dict[str, Any], chosen: Placement, path: Path, force: bool) -> dict[str, Any]:
    """``document`` with the entry (and, for VS Code, the inputs it asks for) in it; raises InstallError when an
    entry or input of the same name differs and ``force`` is not given."""
    key, name = chosen.client.servers_key, chosen.name
    servers = document.get(key, {})
    inputs = document.get("inputs", [])
    if not isinstance(servers, dict) or not isinstance(inputs, list):
        wrong = key if not isinstance(servers, dict) else "inputs"
        raise InstallError(f'"{wrong}" in {path} is not what {chosen.client.title} expects. {_UNCHANGED}')
    differences = _differences(servers[name], chosen.entry) if name in servers else []
    merged = {**document, key: {**servers, name: chosen.entry}}
    if wanted := chosen.document.get("inputs"):
        merged["inputs"] = _merged_inputs(inputs, wanted, differences)
    if differences and not force:
        raise InstallError(
            f"{path} already has a server named {name} that differs: {'; '.join(differences)}. Run this again with "
            f"--force to replace it (the file is kept as a backup), or choose another --name. {_UNCHANGED}"
        )
    return merged


def _merged_inputs(inputs: list[Any], wanted: list[dict[str, Any]], differences: list[str]) -> list[Any]:
    """``inputs`` with each of ``wanted`` in it (by id); one that was there and differs is added to ``differences``."""
    merged = list(inputs)
    for item in wanted:
        found = next((n for n, old in enumerate(merged) if isinstance(old, dict) and old.get("id") == item["id"]), None)
        if found is None:
            merged.append(item)
        elif merged[found] != item:
            differences.append(f"its input {item['id']} differs")
            merged[found] = item
    return merged


def _differences(old: object, new: dict[str, Any]) -> list[str]:
    """What differs between an entry found and the one to write: each value, but of ``env`` and ``headers`` only the
    names (they may hold a secret)."""
    if not isinstance(old, dict):
        return [f"it is a JSON {type(old).__name__}"]
    found = []
    for key in dict.fromkeys([*new, *old]):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in ("env", "headers") and isinstance(before, dict | None) and isinstance(after, dict | None):
            before, after = before or {}, after or {}
            names = [name for name in dict.fromkeys([*after, *before]) if before.get(name) != after.get(name)]
            found.append(f"{key} {', '.join(names)}")
        else:
            found.append(f"{key} {_shown(before)} there, {_shown(after)} here")
    return found


def _shown(value: object) -> str:
    text = "(none)" if value is None else json.dumps(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def _write(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically: into a new temporary file beside it (readable by its owner alone, or
    as ``target`` was), then renamed over it, its folders made as needed. Raises OSError."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")  # O_EXCL, 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if target.exists():
            shutil.copymode(target, temporary)
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise


def backups_folder(environ: Mapping[str, str] = os.environ, platform: str = sys.platform) -> Path:
    """Where ``install`` keeps the files it replaced: ``oas-mcp/backups`` in the user's state folder
    (``$XDG_STATE_HOME``, else ``~/.local/state``; on Windows ``%LOCALAPPDATA%``), never beside a project's file,
    which others share."""
    if platform == "win32":
        return Path(environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "oas-mcp" / "backups"
    state = environ.get("XDG_STATE_HOME", "")
    return (Path(state) if Path(state).is_absolute() else Path.home() / ".local" / "state") / "oas-mcp" / "backups"


def _backup(target: Path, original: bytes) -> Path:
    """Keep ``original``, what ``target`` held, as a new file in :func:`backups_folder`, readable by its owner alone;
    its path. Raises InstallError."""
    folder = backups_folder()
    try:
        _private_folder(folder)
        stem = f"{_UNSAFE_IN_NAMES.sub('_', str(target)).strip('_')[-120:]}.{time.strftime('%Y%m%d-%H%M%S')}"
        for number in itertools.count():
            backup = folder / (f"{stem}.bak" if number == 0 else f"{stem}.{number}.bak")
            with suppress(FileExistsError):  # O_EXCL: never a file (or a symlink) that is there
                handle = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW | _BINARY, 0o600)
                break
        with os.fdopen(handle, "wb") as file:
            file.write(original)
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        raise InstallError(f"cannot keep a backup in {folder}: {exc.strerror or exc}. {_UNCHANGED}") from None
    return backup


def _private_folder(folder: Path) -> None:
    """Make ``folder`` and its parent (``oas-mcp``) when missing, for their owner alone, and check that each is a
    folder of the user's, not a symlink; raises OSError."""
    folder.parent.parent.mkdir(parents=True, exist_ok=True)
    for level in (folder.parent, folder):
        with suppress(FileExistsError):
            level.mkdir(mode=0o700)
        found = level.lstat()
        if not stat.S_ISDIR(found.st_mode):
            raise OSError(errno.ENOTDIR, f"{level} is {file_kind(found.st_mode)}, not a folder")
        if hasattr(os, "geteuid") and found.st_uid != os.geteuid():
            raise OSError(errno.EPERM, f"{level} belongs to another user")
        if os.name == "posix" and found.st_mode & 0o077:
            level.chmod(0o700)


def _with_claude(chosen: Placement, force: bool) -> str:
    """Add the entry to Claude Code's user configuration with its ``claude`` command; what was done, or
    InstallError."""
    command = chosen.add_json_command()
    claude = shutil.which(command[0])
    if claude is None:
        raise InstallError(f"the claude command is not on PATH; with Claude Code installed, run: {shlex.join(command)}")
    where = "Claude Code's configuration for your user"
    current = _claude_user_servers().get(chosen.name)
    if current is not None and _essential(current) == _essential(chosen.entry):
        return f"{where} already has {chosen.name} as this would write it. {_UNCHANGED}"
    if current is not None:
        differences = _differences(current, chosen.entry)
        if not force:
            raise InstallError(
                f"{where} already has a server named {chosen.name} that differs: {'; '.join(differences)}. Run this "
                f"again with --force to replace it, or choose another --name. {_UNCHANGED}"
            )
        _run([claude, "mcp", "remove", "--scope", "user", chosen.name])
    _run([claude, *command[1:]])
    done = "Replaced {} in" if current is not None else "Added {} to"
    return f"{done.format(chosen.name)} {where} ({shlex.join(command[:5])})."


def _essential(entry: object) -> object:
    """An entry as Claude Code may store it back: without values that say nothing (the stdio type, empty lists)."""
    if not isinstance(entry, dict):
        return entry
    empty: tuple[object, ...] = ({}, [], None)
    return {key: value for key, value in entry.items() if value not in empty and (key, value) != ("type", "stdio")}


def _claude_user_servers() -> dict[str, Any]:
    """The servers in Claude Code's user configuration (``~/.claude.json``, or in ``$CLAUDE_CONFIG_DIR``), as far
    as it can be read: only to compare, never to write."""
    path = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home()) / ".claude.json"
    with suppress(OSError, ValueError):
        servers = json.loads(path.read_text(encoding="utf-8")).get("mcpServers")
        if isinstance(servers, dict):
            return servers
    return {}


def _run(command: list[str]) -> None:
    """Run a ``claude`` command; raises InstallError with the last line it printed when it fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"{shlex.join(command[1:5])} failed: {exc}") from None
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}").splitlines()[-1]
        raise InstallError(f"claude {shlex.join(command[1:5])} failed: {said}")
