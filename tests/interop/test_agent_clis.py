"""What ``oas-mcp install`` writes for the agent CLIs, read by each CLI itself: Claude Code, OpenAI's Codex, Google's
Gemini and GitHub's Copilot, from npm (``.ci/node-tools`` pins them; tests/conftest.py: the ``node_bin`` fixture).

Each test runs in a temporary home and project folder, with the CLI's own ``mcp list`` / ``mcp get``: Claude Code
and Gemini start each server and say whether it connected; Codex and Copilot read the entry (they connect only in a
session, which needs an account). The entries run oas-mcp ``--sandbox``: no network, no account.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oas_mcp.sandbox import DEMO_USERNAME

AGENTS = ("claude", "codex", "gemini", "copilot")
COMMAND = str(Path(sys.executable).with_name("oas-mcp"))  # what a user's entry runs: this installation
LIST_ATTEMPTS = 3  # a server that starts too slowly on a loaded machine shows as not connected; its next start may not


@dataclass(frozen=True)
class Machine:
    """A user's home and project folder, with the agent CLIs and oas-mcp on the PATH."""

    home: Path
    project: Path
    path: str

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": self.path, "NO_COLOR": "1"}

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in the project folder, failing the test on a non-zero exit code."""
        done = subprocess.run(
            command, cwd=self.project, env=self.env(), capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, f"{command[:3]} exited with {done.returncode}: {done.stdout}{done.stderr}"
        return done

    def said(self, *command: str) -> str:
        """What ``command`` printed, on stdout and stderr (where Gemini writes its lists)."""
        done = self.run(*command)
        return done.stdout + done.stderr

    def json(self, *command: str) -> Any:
        """The JSON ``command`` printed on stdout (Codex warns on stderr that its home is under /tmp)."""
        return json.loads(self.run(*command).stdout)

    def install(self, *args: str) -> None:
        self.run(sys.executable, "-m", "oas_mcp", "install", *args, "--sandbox")


@pytest.fixture
def machine(node_bin: Path, tmp_path: Path) -> Machine:
    missing = [agent for agent in AGENTS if not (node_bin / agent).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing from {node_bin}; .ci/node-tools installs them")
    home, project = tmp_path / "home", tmp_path / "project"
    for folder in (home, project):
        folder.mkdir()
    path = os.pathsep.join([str(node_bin), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return Machine(home, project, path)


def listed_until(machine: Machine, command: tuple[str, ...], done: re.Pattern[str]) -> str:
    """``command``'s output once ``done`` matches it, trying up to :data:`LIST_ATTEMPTS` times."""
    for _ in range(LIST_ATTEMPTS):
        output = machine.said(*command)
        if done.search(output):
            break
        time.sleep(1)
    return output


def test_claude_code_connects_to_the_users_entry_and_reads_the_projects(machine: Machine) -> None:
    machine.install("claude-code", "--user")  # through `claude mcp add-json --scope user`
    machine.install("claude-code", "--name", "oas-project")  # .mcp.json here

    listed = listed_until(machine, ("claude", "mcp", "list"), re.compile(r"^oas: .* - ✔ Connected$", re.MULTILINE))
    shown = machine.said("claude", "mcp", "get", "oas-project")

    assert f"oas: {COMMAND} --sandbox - ✔ Connected" in listed.splitlines()
    assert "oas-project: oas-mcp --sandbox - ⏸ Pending approval" in listed  # a project's, until approved in a session
    assert "Scope: Project config (shared via .mcp.json)" in shown
    assert "Command: oas-mcp" in shown


CODEX_CONFIG = """# mine
model = "o3"

[mcp_servers.docs]
command = "docs-server"
"""


def test_codex_reads_the_users_entry_beside_what_was_there(machine: Machine) -> None:
    config = machine.home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(CODEX_CONFIG)

    machine.install("codex", "--read-only")
    servers = {server["name"]: server for server in machine.json("codex", "mcp", "list", "--json")}

    assert set(servers) == {"docs", "oas"}
    assert servers["oas"]["enabled"] is True
    assert servers["oas"]["transport"] == {
        "type": "stdio",
        "command": COMMAND,
        "args": ["--sandbox", "--read-only"],
        "env": None,
        "env_vars": [],
        "cwd": None,
    }
    assert config.read_text().startswith(CODEX_CONFIG)


def test_codex_passes_on_the_credentials_named_in_env_vars(machine: Machine) -> None:
    machine.run(sys.executable, "-m", "oas_mcp", "install", "codex")  # for an account: credentials by name

    transport = machine.json("codex", "mcp", "get", "oas", "--json")["transport"]

    assert transport["env_vars"] == ["OAS_API_KEY", "OAS_USERNAME", "OAS_EMAIL", "OAS_PASSWORD"]
    assert tomllib.loads((machine.home / ".codex" / "config.toml").read_text())["mcp_servers"]["oas"]["command"] == (
        COMMAND
    )


def test_gemini_connects_to_the_projects_entry_and_the_users(machine: Machine) -> None:
    trusted = machine.home / ".gemini" / "trustedFolders.json"
    trusted.parent.mkdir()
    trusted.write_text(json.dumps({str(machine.project): "TRUST_FOLDER"}))  # Gemini runs no server in other folders

    machine.install("gemini")  # .gemini/settings.json here
    machine.install("gemini", "--user", "--name", "oas-user")  # ~/.gemini/settings.json
    both = re.compile(r"(?s)(?=.*✓ oas: .* - Connected)(?=.*✓ oas-user: .* - Connected)")
    listed = listed_until(machine, ("gemini", "mcp", "list"), both)

    assert "✓ oas: oas-mcp --sandbox (stdio) - Connected" in listed
    assert f"✓ oas-user: {COMMAND} --sandbox (stdio) - Connected" in listed


def test_copilot_reads_the_users_entry(machine: Machine) -> None:
    machine.install("copilot")

    listed = machine.json("copilot", "mcp", "list", "--json")["mcpServers"]
    shown = machine.said("copilot", "mcp", "get", "oas")

    assert listed["oas"] == {
        "type": "stdio",
        "command": COMMAND,
        "args": ["--sandbox"],
        "tools": ["*"],
        "source": "user",
        "enabled": True,
    }
    assert "Status: Enabled" in shown
    assert DEMO_USERNAME not in shown  # --sandbox: no credential in the entry
