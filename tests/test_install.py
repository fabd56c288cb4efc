"""``oas-mcp install CLIENT``: the entry ``config`` prints, merged into the client's own file (or added with Claude
Code's ``claude`` command), keeping the rest, atomically, with a backup; idempotent; never a file it cannot read.

Every test runs in a temporary home and project folder: the real home is never touched."""

from __future__ import annotations

import json
import os
import shlex
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oas_mcp.cli.clients import claude_desktop_config
from oas_mcp.cli.install import backups_folder
from oas_mcp.cli.main import main

FAKE_CLAUDE = f"""#!{sys.executable}
# Claude Code's `claude mcp add-json|remove --scope user`, as far as install uses it: ~/.claude.json's mcpServers.
import json, os, sys
from pathlib import Path

home = Path(os.environ["HOME"])
with (home / "claude-calls.jsonl").open("a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
config = home / ".claude.json"
data = json.loads(config.read_text()) if config.exists() else {{"numStartups": 3}}
servers = data.setdefault("mcpServers", {{}})
verb, name = sys.argv[2], sys.argv[5]
if verb == "add-json":
    if name in servers:
        sys.exit(f"MCP server {{name}} already exists in user config")
    servers[name] = json.loads(sys.argv[6])
else:
    del servers[name]
config.write_text(json.dumps(data))
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary home, a temporary project folder as the current one, and a PATH with neither claude nor oas-mcp."""
    home, project, bin_folder = tmp_path / "home", tmp_path / "project", tmp_path / "bin"
    for folder in (home, project, bin_folder):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    monkeypatch.setenv("PATH", str(bin_folder))
    clients = ("XDG_CONFIG_HOME", "CLAUDE_CONFIG_DIR", "APPDATA", "CODEX_HOME", "COPILOT_HOME", "UV_CACHE_DIR")
    inherited = (n for n in os.environ if n.startswith("OAS_"))
    for name in (*clients, "XDG_STATE_HOME", "XDG_CACHE_HOME", "LOCALAPPDATA", *inherited):
        monkeypatch.delenv(name, raising=False)
    return home


def install(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["install", *args])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def printed_config(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["config", *args]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def backups(home: Path) -> list[Path]:
    """The files install kept, in the user's state folder."""
    folder = home / ".local" / "state" / "oas-mcp" / "backups"
    return sorted(folder.iterdir()) if folder.exists() else []


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("darwin", {}, "HOME/Library/Application Support/Claude/claude_desktop_config.json"),
        ("win32", {"APPDATA": "/roaming"}, "/roaming/Claude/claude_desktop_config.json"),
        ("linux", {}, "HOME/.config/Claude/claude_desktop_config.json"),
        ("linux", {"XDG_CONFIG_HOME": "/xdg"}, "/xdg/Claude/claude_desktop_config.json"),
    ],
)
def test_claude_desktops_file_is_where_each_system_keeps_it(
    home: Path, platform: str, environ: dict[str, str], expected: str
) -> None:
    assert claude_desktop_config(platform, environ) == Path(expected.replace("HOME", str(home)))


@pytest.mark.parametrize(
    ("client", "args", "where"),
    [
        ("claude-desktop", (), "HOME/.config/Claude/claude_desktop_config.json"),
        ("claude-code", (), "PROJECT/.mcp.json"),
        ("vscode", (), "PROJECT/.vscode/mcp.json"),
        ("vscode", ("--user",), "HOME/.config/Code/User/mcp.json"),
        ("cursor", (), "HOME/.cursor/mcp.json"),
        ("cursor", ("--project",), "PROJECT/.cursor/mcp.json"),
        ("gemini", (), "PROJECT/.gemini/settings.json"),
        ("gemini", ("--user",), "HOME/.gemini/settings.json"),
        ("copilot", (), "HOME/.copilot/mcp-config.json"),
    ],
)
def test_it_writes_what_config_prints_where_the_client_reads_it_and_says_what_next(
    home: Path, capsys: pytest.CaptureFixture[str], client: str, args: tuple[str, ...], where: str
) -> None:
    path = Path(where.replace("HOME", str(home)).replace("PROJECT", str(Path.cwd())))

    code, out, err = install(capsys, client, "--sandbox", *args)

    assert (code, err) == (0, "")
    assert read(path) == printed_config(capsys, client, "--sandbox", *args)
    assert out.splitlines()[0] == f"Added oas to {path} (a new file)."
    assert out.splitlines()[1].startswith("Next: ")
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]  # no temporary file, no backup
    assert mode(path) == 0o600  # its owner's alone: they may fill in secrets


def test_a_projects_file_runs_oas_mcp_from_the_path_and_a_users_this_installation(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(capsys, "cursor", "--project")
    install(capsys, "cursor")

    project = read(Path(".cursor", "mcp.json"))["mcpServers"]["oas"]
    user = read(home / ".cursor" / "mcp.json")["mcpServers"]["oas"]
    assert project["command"] == "oas-mcp"
    assert user["command"] == str(Path(sys.executable).with_name("oas-mcp"))
    assert (
        project["env"]
        == user["env"]
        == {f"OAS_{name}": f"${{env:OAS_{name}}}" for name in ("API_KEY", "USERNAME", "EMAIL", "PASSWORD")}
    )


def test_a_project_install_says_when_oas_mcp_is_not_on_the_path(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = install(capsys, "claude-code")

    assert out.splitlines()[-1].startswith("Note: the entry runs oas-mcp from the PATH (so it works for everyone who")


def test_every_other_server_and_key_is_kept_and_the_previous_file_is_backed_up(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = home / ".cursor" / "mcp.json"
    path.parent.mkdir()
    before = '{\n    "mcpServers": {"other": {"command": "other-server", "args": ["--x"]}},\n    "theme": "dark"\n}\n'
    path.write_text(before)

    code, out, _ = install(capsys, "cursor", "--sandbox")

    after = read(path)
    assert code == 0
    assert after["theme"] == "dark"
    assert after["mcpServers"]["other"] == {"command": "other-server", "args": ["--x"]}
    assert list(after["mcpServers"]) == ["other", "oas"]
    assert path.read_text().startswith('{\n    "mcpServers": {\n        "other": {')  # its indentation kept
    [backup] = backups(home)
    assert backup.read_text() == before
    assert out.startswith(f"Added oas to {path}; the previous file is {backup}.")
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]


def test_running_it_twice_leaves_one_entry_and_changes_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(capsys, "claude-code", "--sandbox", "--read-only")
    path = Path.cwd() / ".mcp.json"
    first = path.read_bytes()

    code, out, _ = install(capsys, "claude-code", "--sandbox", "--read-only")

    assert code == 0
    assert out.startswith(f"{path} already has oas as this would write it. Nothing was changed.")
    assert path.read_bytes() == first
    assert list(read(path)["mcpServers"]) == ["oas"]
    assert backups(home) == []


def test_an_entry_of_the_same_name_that_differs_is_replaced_only_with_force(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install(capsys, "claude-code", "--sandbox")
    path = Path.cwd() / ".mcp.json"
    first = path.read_text()

    refused = install(capsys, "claude-code", "--sandbox", "--read-only")
    unchanged = path.read_text()
    forced = install(capsys, "claude-code", "--sandbox", "--read-only", "--force")

    assert refused == (
        1,
        "",
        f'oas-mcp: {path} already has a server named oas that differs: args ["--sandbox"] there, '
        '["--sandbox", "--read-only"] here. Run this again with --force to replace it (the file is kept as a '
        "backup), or choose another --name. Nothing was changed.\n",
    )
    assert unchanged == first
    assert forced[0] == 0
    [backup] = backups(home)
    assert forced[1].startswith(f"Replaced oas in {path}; the previous file is {backup}.")
    assert read(path)["mcpServers"]["oas"]["args"] == ["--sandbox", "--read-only"]
    assert backup.read_text() == first


def test_what_differs_in_env_is_named_never_shown(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "Mine0000.AKeyOnlyThisFileHoldsAndNoOneSees"
    path = home / ".cursor" / "mcp.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"mcpServers": {"oas": {"command": "oas-mcp", "env": {"OAS_API_KEY": secret}}}}))

    code, _, err = install(capsys, "cursor")

    assert code == 1
    assert "env OAS_API_KEY, OAS_USERNAME, OAS_EMAIL, OAS_PASSWORD" in err
    assert secret not in err


def test_what_differs_in_headers_is_named_never_shown(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "Bearer a-token-only-this-file-holds-0123456789"
    path = home / ".cursor" / "mcp.json"
    path.parent.mkdir()
    entry = {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": secret}}
    path.write_text(json.dumps({"mcpServers": {"oas": entry}}))

    code, _, err = install(capsys, "cursor")

    assert code == 1
    assert "headers Authorization" in err
    assert secret not in err


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            '{"mcpServers": {',
            "is not valid JSON (Expecting property name enclosed in double quotes at line 1, column 17)",
        ),
        (
            '{"mcpServers": {},}',
            "is not valid JSON (Expecting property name enclosed in double quotes at line 1, column 19)",
        ),
        ("// mine\n{}", "is not valid JSON (Expecting value at line 1, column 1)"),
        ("[1, 2]", "holds a JSON list, not an object"),
    ],
)
def test_a_file_it_cannot_read_as_json_is_left_untouched_with_one_line(
    home: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    Path(".mcp.json").write_text(text)

    code, out, err = install(capsys, "claude-code")

    assert (code, out) == (1, "")
    assert err.startswith(f"oas-mcp: {Path.cwd() / '.mcp.json'} {problem}")
    assert err.count("\n") == 1
    assert Path(".mcp.json").read_text() == text
    assert sorted(path.name for path in Path.cwd().iterdir()) == [".mcp.json"]


def test_a_servers_key_that_is_not_an_object_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path(".mcp.json").write_text('{"mcpServers": []}')

    code, _, err = install(capsys, "claude-code")

    assert code == 1
    path = Path.cwd() / ".mcp.json"
    assert err == f'oas-mcp: "mcpServers" in {path} is not what Claude Code expects. Nothing was changed.\n'


VSCODE_WITH_TRAILING_COMMAS = """{
\t"servers": {
\t\t"docs": {"type": "http", "url": "https://docs.example/mcp//x/*y*/",},
\t},
}
"""


def test_vscodes_file_may_have_trailing_commas(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path(".vscode").mkdir()
    Path(".vscode", "mcp.json").write_text(VSCODE_WITH_TRAILING_COMMAS)

    code, _, _ = install(capsys, "vscode", "--sandbox")

    written = Path(".vscode", "mcp.json").read_text()
    assert code == 0
    assert json.loads(written)["servers"]["docs"]["url"] == "https://docs.example/mcp//x/*y*/"  # not a comment
    assert written.startswith('{\n\t"servers": {\n\t\t"docs": {')


def test_vscodes_comments_are_read_but_never_dropped(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path(".vscode").mkdir()
    path = Path(".vscode", "mcp.json")
    path.write_text('// servers for this workspace\n{"servers": {/* none yet */}}\n')
    refused = install(capsys, "vscode", "--sandbox")
    entry = printed_config(capsys, "vscode", "--sandbox")["servers"]["oas"]
    path.write_text(f'// servers for this workspace\n{{"servers": {{"oas": {json.dumps(entry)}}}}}\n')
    again = install(capsys, "vscode", "--sandbox")

    assert refused == (
        1,
        "",
        f"oas-mcp: {path.absolute()} has comments, which writing it would lose: add the entry by hand (oas-mcp "
        "config vscode prints it), or delete the comments and run this again. Nothing was changed.\n",
    )
    assert again[0] == 0
    assert again[1].startswith(f"{path.absolute()} already has oas as this would write it.")


def test_vscodes_inputs_are_merged_by_id(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path(".vscode").mkdir()
    path = Path(".vscode", "mcp.json")
    mine = {"type": "promptString", "id": "github-token", "password": True}
    path.write_text(json.dumps({"servers": {}, "inputs": [mine]}))

    install(capsys, "vscode")

    ids = [item["id"] for item in read(path)["inputs"]]
    assert ids == ["github-token", "oas-api-key", "oas-username", "oas-email", "oas-password"]


def test_a_symlinked_file_is_updated_where_it_points(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dotfiles = home / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "cursor.json").write_text('{"mcpServers": {}}')
    (home / ".cursor").mkdir()
    (home / ".cursor" / "mcp.json").symlink_to(dotfiles / "cursor.json")

    code, out, _ = install(capsys, "cursor", "--sandbox")

    link = home / ".cursor" / "mcp.json"
    assert code == 0
    assert out.startswith(f"Added oas to {link} (a symlink to {dotfiles / 'cursor.json'}); the previous file is ")
    assert link.is_symlink()
    assert "oas" in read(dotfiles / "cursor.json")["mcpServers"]


PROJECT_FILES = [
    ("claude-code", (), ".mcp.json"),
    ("vscode", (), ".vscode/mcp.json"),
    ("cursor", ("--project",), ".cursor/mcp.json"),
]


@pytest.mark.parametrize(("client", "args", "file"), PROJECT_FILES)
def test_a_planted_backup_symlink_is_never_written_through_and_no_backup_is_left_in_the_project(
    home: Path, capsys: pytest.CaptureFixture[str], client: str, args: tuple[str, ...], file: str
) -> None:
    """A cloned project holds its file, JSON that is also a shell line, and FILE.bak -> ~/.bashrc."""
    victim = home / ".bashrc"
    victim.write_text("# my shell\n")
    path = Path.cwd() / file
    path.parent.mkdir(exist_ok=True)
    planted = '{"x": "$(echo pwned)"}\n'
    path.write_text(planted)
    path.chmod(0o644)
    path.with_name(f"{path.name}.bak").symlink_to(victim)

    code, out, err = install(capsys, client, *args)

    assert victim.read_text() == "# my shell\n"
    [backup] = backups(home)
    assert (code, err) == (0, "")
    assert out.startswith(f"Added oas to {path}; the previous file is {backup}.")
    assert sorted(entry.name for entry in path.parent.iterdir()) == [path.name, f"{path.name}.bak"]  # as found
    assert backup.read_text() == planted
    assert (mode(backup), mode(backup.parent), mode(backup.parent.parent)) == (0o600, 0o700, 0o700)
    assert mode(path) == 0o644  # the file's own mode is kept


@pytest.mark.parametrize(("client", "args", "file"), PROJECT_FILES)
def test_a_projects_file_that_is_a_symlink_out_of_the_project_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str], client: str, args: tuple[str, ...], file: str
) -> None:
    victim = home / ".cursor" / "mcp.json"  # a file of the user's, and JSON
    victim.parent.mkdir()
    victim.write_text("{}")
    path = Path.cwd() / file
    path.parent.mkdir(exist_ok=True)
    path.symlink_to(victim)

    code, out, err = install(capsys, client, *args)

    assert (code, out) == (1, "")
    assert err == (
        f"oas-mcp: {path} leads out of this project folder, to {victim}: a project's file is written only inside "
        "it. Nothing was changed.\n"
    )
    assert victim.read_text() == "{}"
    assert backups(home) == []


def test_a_projects_folder_that_is_a_symlink_out_of_the_project_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(".vscode").symlink_to(home)

    code, _, err = install(capsys, "vscode")

    assert code == 1
    assert err.startswith(f"oas-mcp: {Path.cwd() / '.vscode' / 'mcp.json'} leads out of this project folder, to ")
    assert list(home.iterdir()) == []


def someone_elses(path: Path) -> Path:
    """``path``, made a JSON file of another user's (root can give it away; others are not root)."""
    if os.geteuid() != 0:
        return Path("/etc/hosts")
    path.write_text("{}")
    os.chown(path, 65534, 65534)
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda home: home / "nowhere.json",
            "{link} is a symlink to {target}, which does not exist: create that file, or remove the symlink.",
        ),
        (lambda home: home, "{link} is a symlink to {target}, which is a folder, not a file."),
        (lambda home: Path("/dev/zero"), "{link} is a symlink to {target}, which is a character device, not a file."),
        (
            lambda home: someone_elses(home / "theirs.json"),
            "{link} is a symlink to {target}, which belongs to another "
            "user: install writes through a symlink only to a file of yours.",
        ),
    ],
    ids=["dangling", "folder", "device", "another user's"],
)
def test_a_users_file_is_followed_only_to_a_regular_file_of_the_users(
    home: Path, capsys: pytest.CaptureFixture[str], make: Callable[[Path], Path], expected: str
) -> None:
    target = make(home)
    before = target.read_bytes() if target.is_file() else None
    link = home / ".cursor" / "mcp.json"
    link.parent.mkdir()
    link.symlink_to(target)

    code, out, err = install(capsys, "cursor")

    assert (code, out) == (1, "")
    assert err == f"oas-mcp: {expected.format(link=link, target=target)} Nothing was changed.\n"
    assert (target.read_bytes() if target.is_file() else None) == before
    assert not (home / "nowhere.json").exists()


def test_a_backups_folder_planted_as_a_symlink_is_refused(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    (home / ".local" / "state" / "oas-mcp").mkdir(parents=True)
    (home / ".local" / "state" / "oas-mcp" / "backups").symlink_to(elsewhere)
    Path(".mcp.json").write_text("{}")

    code, _, err = install(capsys, "claude-code")

    folder = home / ".local" / "state" / "oas-mcp" / "backups"
    assert code == 1
    assert err == (
        f"oas-mcp: cannot keep a backup in {folder}: {folder} is a symlink, not a folder. Nothing was changed.\n"
    )
    assert (list(elsewhere.iterdir()), Path(".mcp.json").read_text()) == ([], "{}")


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {}, "HOME/.local/state/oas-mcp/backups"),
        ("darwin", {"XDG_STATE_HOME": "/state"}, "/state/oas-mcp/backups"),
        ("linux", {"XDG_STATE_HOME": "relative"}, "HOME/.local/state/oas-mcp/backups"),
        ("win32", {"LOCALAPPDATA": "/local"}, "/local/oas-mcp/backups"),
    ],
)
def test_backups_are_kept_in_the_users_state_folder(
    home: Path, platform: str, environ: dict[str, str], expected: str
) -> None:
    assert backups_folder(environ, platform) == Path(expected.replace("HOME", str(home)))


def test_a_failed_write_leaves_the_file_as_it_was(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Path(".mcp.json").write_text('{"mcpServers": {}}')

    def disk_full(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    code, _, err = install(capsys, "claude-code")

    assert code == 1
    assert err == f"oas-mcp: cannot write {Path.cwd() / '.mcp.json'}: No space left on device. Nothing was changed.\n"
    assert Path(".mcp.json").read_text() == '{"mcpServers": {}}'
    assert [path.name for path in Path.cwd().iterdir()] == [".mcp.json"]


@pytest.mark.parametrize("name", ["my oas's server", "a;rm -rf ~", "", "x" * 65])
def test_a_name_that_is_not_letters_digits_dashes_and_underscores_is_refused(
    home: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["install", "claude-code", "--name", name])

    assert exited.value.code == 2
    assert f"argument --name: {name!r} is not a server name: use letters, digits, - and _" in capsys.readouterr().err
    assert not Path(".mcp.json").exists()


def test_another_name_adds_a_second_entry(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install(capsys, "claude-code", "--sandbox")
    install(capsys, "claude-code", "--name", "oas-read_only2", "--read-only")

    assert list(read(Path(".mcp.json"))["mcpServers"]) == ["oas", "oas-read_only2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("claude-desktop", "--project"), "--project: Claude Desktop has no configuration for a project"),
        (("copilot", "--project"), "--project: Copilot CLI has no configuration for a project"),
        (("cursor", "--project", "--config", "oas.toml"), "--config: a project's configuration is shared"),
    ],
)
def test_a_scope_the_client_does_not_have_exits_2(
    home: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, _, err = install(capsys, *args)

    assert code == 2
    assert err.startswith(f"oas-mcp: {message}")


def fake_claude(home: Path) -> Path:
    script = home.parent / "bin" / "claude"
    script.write_text(FAKE_CLAUDE)
    script.chmod(0o755)
    return home / "claude-calls.jsonl"


def claude_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_claude_codes_user_scope_goes_through_the_claude_command(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = fake_claude(home)
    entry = printed_config(capsys, "claude-code", "--user", "--sandbox")["mcpServers"]["oas"]

    added = install(capsys, "claude-code", "--user", "--sandbox")
    again = install(capsys, "claude-code", "--user", "--sandbox")
    calls = claude_calls(log)

    assert added[1].startswith("Added oas to Claude Code's configuration for your user (claude mcp add-json --scope")
    assert again[1].startswith("Claude Code's configuration for your user already has oas as this would write it.")
    assert calls == [["mcp", "add-json", "--scope", "user", "oas", json.dumps(entry)]]
    assert read(home / ".claude.json") == {"numStartups": 3, "mcpServers": {"oas": entry}}


def test_claude_codes_user_entry_that_differs_is_replaced_only_with_force(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = fake_claude(home)
    install(capsys, "claude-code", "--user", "--sandbox")

    refused = install(capsys, "claude-code", "--user", "--sandbox", "--read-only")
    forced = install(capsys, "claude-code", "--user", "--sandbox", "--read-only", "--force")

    assert refused[0] == 1
    assert "already has a server named oas that differs: args" in refused[2]
    assert forced[0] == 0
    assert [call[:2] for call in claude_calls(log)] == [["mcp", "add-json"], ["mcp", "remove"], ["mcp", "add-json"]]
    assert read(home / ".claude.json")["mcpServers"]["oas"]["args"] == ["--sandbox", "--read-only"]


def test_without_claude_on_the_path_it_prints_the_command_to_run_quoted_for_the_shell(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OAS_USERNAME", "o'brien; echo pwned")  # carried over as it is: the line must quote it

    code, _, err = install(capsys, "claude-code", "--user")

    command = shlex.split(
        err.removeprefix("oas-mcp: the claude command is not on PATH; with Claude Code installed, run: ")
    )
    assert code == 1
    assert command[:6] == ["claude", "mcp", "add-json", "--scope", "user", "oas"]
    assert json.loads(command[6])["env"]["OAS_USERNAME"] == "o'brien; echo pwned"


def test_an_entry_claude_code_stored_in_its_own_way_counts_as_the_same(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = fake_claude(home)
    install(capsys, "claude-code", "--user", "--sandbox")
    stored = read(home / ".claude.json")
    del stored["mcpServers"]["oas"]["type"]  # stdio, its default
    stored["mcpServers"]["oas"]["env"] = {}
    (home / ".claude.json").write_text(json.dumps(stored))

    code, out, _ = install(capsys, "claude-code", "--user", "--sandbox")

    assert code == 0
    assert "already has oas as this would write it" in out
    assert len(claude_calls(log)) == 1


def test_copilots_and_codexs_files_follow_their_home_variables(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPILOT_HOME", str(home / "elsewhere" / "copilot"))
    monkeypatch.setenv("CODEX_HOME", str(home / "elsewhere" / "codex"))

    install(capsys, "copilot", "--sandbox")
    install(capsys, "codex", "--sandbox")

    assert "oas" in read(home / "elsewhere" / "copilot" / "mcp-config.json")["mcpServers"]
    assert "oas" in tomllib.loads((home / "elsewhere" / "codex" / "config.toml").read_text())["mcp_servers"]


CODEX_CONFIG = """# Codex, as I like it
model = "o3"   # the model
approval_policy = "on-request"

[mcp_servers.docs]
command = "docs-server"
args = ["--port", "4000"]

[mcp_servers.docs.env]
DOCS_TOKEN = "mine"

[tui]
notifications = true
"""


def codex(home: Path) -> Path:
    path = home / ".codex" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    return path


def test_codexs_toml_keeps_every_byte_of_the_rest_and_gets_a_table_of_its_own(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = codex(home)
    path.write_text(CODEX_CONFIG)

    code, out, err = install(capsys, "codex", "--read-only")
    printed = main(["config", "codex", "--read-only"]) == 0 and capsys.readouterr().out
    again = install(capsys, "codex", "--read-only")

    text = path.read_text()
    assert (code, err) == (0, "")
    [backup] = backups(home)
    assert out.startswith(f"Added oas to {path}; the previous file is {backup}.")
    assert text == f"{CODEX_CONFIG}\n{printed}"
    assert tomllib.loads(text)["mcp_servers"]["oas"]["env_vars"] == [
        "OAS_API_KEY",
        "OAS_USERNAME",
        "OAS_EMAIL",
        "OAS_PASSWORD",
    ]
    assert again[1].startswith(f"{path} already has oas as this would write it. Nothing was changed.")
    assert backup.read_text() == CODEX_CONFIG


def test_codexs_entry_that_differs_is_replaced_only_with_force_and_the_rest_stays(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = codex(home)
    path.write_text(CODEX_CONFIG)
    install(capsys, "codex", "--sandbox")
    first = path.read_text()
    path.write_text(first + '\n[mcp_servers.oas.env]\nOAS_TIMEOUT = "5"\n\n[history]\npersistence = "none"\n')
    edited = path.read_text()

    refused = install(capsys, "codex", "--sandbox")
    forced = install(capsys, "codex", "--sandbox", "--force")

    assert refused[0] == 1
    assert "already has a server named oas that differs: env OAS_TIMEOUT" in refused[2]
    assert forced[1].startswith(f"Replaced oas in {path}")
    assert tomllib.loads(path.read_text())["mcp_servers"]["oas"] == {
        "command": str(Path(sys.executable).with_name("oas-mcp")),
        "args": ["--sandbox"],
    }
    assert tomllib.loads(path.read_text())["history"] == {"persistence": "none"}  # after the old entry: kept
    assert path.read_text().startswith(CODEX_CONFIG)
    backup = Path(forced[1].split("; the previous file is ")[1].split(".\n")[0])
    assert backup.read_text() == edited


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("model = ", "is not valid TOML (Invalid value (at end of document))"),
        ('mcp_servers = "none"\n', '"mcp_servers" in PATH is not what Codex CLI expects'),
        ('mcp_servers = { docs = { command = "docs" } }\n', "defines mcp_servers in a way this cannot add to safely"),
    ],
)
def test_a_codex_file_it_cannot_add_to_safely_is_left_as_it_was(
    home: Path, capsys: pytest.CaptureFixture[str], text: str, problem: str
) -> None:
    path = codex(home)
    path.write_text(text)

    code, _, err = install(capsys, "codex", "--sandbox")

    assert code == 1
    assert problem.replace("PATH", str(path)) in err
    assert err.endswith("Nothing was changed.\n")
    assert path.read_text() == text
    assert sorted(entry.name for entry in path.parent.iterdir()) == ["config.toml"]


def test_claude_codes_approval_is_said_of_a_projects_file_only(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_claude(home)

    project = install(capsys, "claude-code", "--sandbox")
    user = install(capsys, "claude-code", "--user", "--sandbox")

    assert "approve a project's servers" in project[1]
    assert "approve" not in user[1]
    assert "/mcp in Claude Code then shows oas as connected" in user[1]


def test_install_help_names_each_clients_default_and_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["install", "--help"])

    shown = " ".join(capsys.readouterr().out.split())
    assert "each client's default is its first" not in shown
    assert (
        "--user your own configuration, for every project: the default of claude-desktop, cursor, codex, copilot;"
        in shown
    )
    assert "codex: ~/.codex/config.toml (in $CODEX_HOME when set), or with --project .codex/config.toml here" in shown


@pytest.mark.parametrize(
    ("client", "fills"),
    [
        ("claude-desktop", "placeholder"),
        ("claude-code", "fills ${OAS_...}"),
        ("vscode", "asks for the values"),
        ("cursor", "fills ${env:OAS_...}"),
        ("codex", "env_vars"),
        ("gemini", "fills ${OAS_...}"),
        ("copilot", "fills ${OAS_...}"),
    ],
)
def test_how_the_client_fills_in_the_credentials_is_said_only_when_the_entry_leaves_some_to_fill(
    home: Path, capsys: pytest.CaptureFixture[str], client: str, fills: str
) -> None:
    fake_claude(home)
    settings = home / "oas.toml"
    settings.write_text('api_key = "k"\nusername = "u"\nemail = "u@example.com"\npassword = "p"\n')
    settings.chmod(0o600)

    account = install(capsys, client, "--name", "account")
    sandbox = install(capsys, client, "--name", "sandbox", "--sandbox")
    configured = install(capsys, client, "--name", "configured", "--user", "--config", str(settings))

    assert account[0] == sandbox[0] == configured[0] == 0
    assert fills in account[1]
    assert fills not in sandbox[1]  # nothing to fill: the sandbox needs no credential
    assert fills not in configured[1]  # the settings file has them
