"""oas-mcp driven by MCP clients we did not write: the MCP Inspector CLI and the MCP conformance suite.

They run on Node 22 from npm (tests/conftest.py: the ``node_bin`` fixture).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import http_server

COMMAND = str(Path(sys.executable).with_name("oas-mcp"))
CALLS: dict[str, dict[str, Any]] = {
    "hello": {},
    "login": {},
    "list_organisations": {"limit": 3, "currency": "USD"},
    "create_organisation": {"name": "Interop Ltd", "base_currency": "eur", "currencies": ["GBP"]},
    "activate_organisation": {"organisation_id": 2},
}
SCENARIOS = (
    "server-initialize",
    "ping",
    "tools-list",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
    "resources-list",
    "prompts-list",
    "completion-complete",
    "logging-set-level",
)


@pytest.fixture(scope="module")
def http_url(node_bin: Path) -> Iterator[str]:
    with http_server() as url:
        yield url


def node_tool(node_bin: Path, tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run an npm tool on Node 22 (first on PATH), with HOME in a scratch folder it may write to."""
    env = {"PATH": f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}", "HOME": str(cwd)}
    return subprocess.run(
        [str(node_bin / tool), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
    )


def inspector(node_bin: Path, target: list[str], *options: str, cwd: Path) -> Any:
    """One Inspector CLI request; its JSON result. Exit code 1 means a result did not match its schema."""
    result = node_tool(node_bin, "mcp-inspector", "--cli", *options, "--format", "json", "-q", *target, cwd=cwd)
    assert result.returncode == 0, f"Inspector exit code {result.returncode}: {result.stdout}{result.stderr}"
    return json.loads(result.stdout)["result"]


@pytest.fixture(params=["stdio", "http"])
def target(request: pytest.FixtureRequest, node_bin: Path) -> list[str]:
    """How the Inspector reaches oas-mcp on the sandbox: a command it starts, or the URL of a running server."""
    if request.param == "stdio":
        return ["--", COMMAND, "--sandbox"]
    return [request.getfixturevalue("http_url")]


def test_inspector_lists_portable_tool_schemas(node_bin: Path, target: list[str], tmp_path: Path) -> None:
    listed = inspector(node_bin, target, "--method", "tools/list", "--strict", cwd=tmp_path)

    assert [tool["name"] for tool in listed["tools"]] == list(CALLS)
    assert all(tool["outputSchema"] and tool["annotations"]["title"] for tool in listed["tools"])


@pytest.mark.parametrize("tool", CALLS)
def test_inspector_calls_each_tool_and_validates_its_result(
    node_bin: Path, target: list[str], tool: str, tmp_path: Path
) -> None:
    arguments = json.dumps(CALLS[tool])

    called = inspector(
        node_bin, target, "--method", "tools/call", "--tool-name", tool, "--tool-args-json", arguments, cwd=tmp_path
    )

    assert called["isError"] is False
    content = called["structuredContent"]
    text = called["content"][0]["text"]  # for the model: a listing as a table, else compact JSON without empties
    if tool == "list_organisations":
        assert text.startswith(f"{content['count']} organisations in the account; 3 listed")
    else:
        assert json.loads(text) == {key: value for key, value in content.items() if value not in (None, [])}
    expected = {
        "hello": ("username", "demo"),
        "login": ("expires_in_seconds", content.get("expires_in_seconds")),
        "list_organisations": ("returned", 3),
        "create_organisation": ("currencies", ["EUR", "GBP"]),
        "activate_organisation": ("organisation_id", 2),
    }[tool]
    assert content[expected[0]] == expected[1]
    assert 0 < content.get("expires_in_seconds", 1) <= 900


def test_inspector_reads_the_session_and_gets_the_prompt(node_bin: Path, tmp_path: Path) -> None:
    stdio = ["--", COMMAND, "--sandbox"]

    session = inspector(node_bin, stdio, "--method", "resources/read", "--uri", "oas://session", cwd=tmp_path)
    prompt = inspector(
        node_bin,
        stdio,
        *("--method", "prompts/get", "--prompt-name", "onboard_organisation", "--prompt-args"),
        *("name=Acme", "base_currency=USD", "currencies=USD,EUR"),
        cwd=tmp_path,
    )

    assert json.loads(session["contents"][0]["text"])["credentials"]["api_key"] is True
    assert 'currencies=["USD", "EUR"]' in prompt["messages"][0]["content"]["text"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_conformance_scenario_passes(node_bin: Path, http_url: str, scenario: str, tmp_path: Path) -> None:
    result = node_tool(node_bin, "conformance", "server", "--url", http_url, "--scenario", scenario, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout
