"""The README says what the server does: its tables and examples are checked against the real thing."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest

import oas_mcp.client
from oas_mcp.problems import PROBLEMS
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, SANDBOX_URL, Sandbox

from support import run

README = (Path(__file__).parent.parent / "README.md").read_text()
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")


def block_after(marker: str) -> str:
    """The fenced code block that follows ``marker`` in the README."""
    rest = README[README.index(marker) :]
    start = rest.index("```")
    body = rest[rest.index("\n", start) + 1 :]
    return body[: body.index("```")]


def test_the_tools_table_is_what_the_server_lists() -> None:
    result = run("tools", "--markdown", "--sandbox")

    assert result.returncode == 0
    table = result.stdout.strip()
    assert table.count("\n") == 6
    assert table in README, f"README's Tools table differs from `oas-mcp tools --markdown`:\n{table}"


def test_troubleshooting_lists_every_failure_check_reports_with_its_fix() -> None:
    rows = "\n".join(f"| ✗ {problem.symptom} | {problem.fix} |" for problem in PROBLEMS)

    assert f"| `oas-mcp check` says | What to do |\n|---|---|\n{rows}\n" in README, f"expected rows:\n{rows}"


def test_the_check_example_is_what_check_prints_on_the_sandbox() -> None:
    printed = run("check", "--sandbox").stdout
    example = block_after("Its exit code is 0 only when all four pass")

    for line in example.splitlines():
        assert TIMESTAMP.sub("TIME", line) in TIMESTAMP.sub("TIME", printed)


@pytest.mark.parametrize(
    ("client", "title"),
    [("claude-desktop", "Claude Desktop"), ("claude-code", "Claude Code"), ("vscode", "VS Code"), ("cursor", "Cursor")],
)
def test_each_client_section_adds_it_with_the_install_command(client: str, title: str) -> None:
    commands = block_after(f"\n### {title}\n")

    assert commands.startswith(f"oas-mcp install {client}")
    assert " > " not in commands  # a redirect would replace the client's file, and every other server in it


def test_the_quick_start_installs_a_client_and_says_how_to_get_oas_mcp_on_the_path() -> None:
    quick_start = README[README.index("## Quick start") : README.index("## Connect a client")]

    assert ".venv/bin/oas-mcp install claude-desktop --sandbox" in quick_start
    assert "source .venv/bin/activate" in quick_start
    assert "npx @modelcontextprotocol/inspector .venv/bin/oas-mcp --sandbox" in quick_start
    assert quick_start.index("source .venv/bin/activate") < README.index("\noas-mcp ")  # before any bare oas-mcp


def test_the_pipeline_example_runs_against_the_sandbox(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = Sandbox()
    monkeypatch.setattr(oas_mcp.client, "OASClient", partial(oas_mcp.client.OASClient, transport=sandbox.transport()))
    environment = {
        "OAS_BASE_URL": SANDBOX_URL,
        "OAS_API_KEY": DEMO_API_KEY,
        "OAS_USERNAME": DEMO_USERNAME,
        "OAS_EMAIL": DEMO_EMAIL,
        "OAS_PASSWORD": DEMO_PASSWORD,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    example = block_after("<!-- pipeline-example")

    for _ in range(2):  # safe to run again: the second run finds the organisation it created
        with pytest.raises(SystemExit) as exited:
            exec(compile(example, "README.md", "exec"), {"__name__": "__main__"})
        assert exited.value.code == 0

    assert [org["name"] for org in sandbox.store.organisations.values()].count("Wayne Enterprises") == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["8 Organization Wayne Enterprises is now the active organization."] * 2  # demo data: 1 to 7
    assert sandbox.store.active[1] == 8
