"""The README says what the server does: its tables and examples are checked against the real thing, and it stays
short, with links that work where it is read (GitHub, and PyPI, whose long description it is)."""

from __future__ import annotations

import re

from oas_mcp.cli.clients import CLIENTS
from oas_mcp.problems import PROBLEMS

from support import README, ROOT, block_after, command

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
REPOSITORY = "https://github.com/oas-mcp/oas-mcp/blob/main/"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_tools_table_is_what_the_server_lists() -> None:
    result = command("tools", "--markdown", "--sandbox")

    assert result.returncode == 0
    table = result.stdout.strip()
    assert table.count("\n") == 6
    assert table in README, f"README's Tools table differs from `oas-mcp tools --markdown`:\n{table}"


def test_troubleshooting_lists_every_failure_check_reports_with_its_fix() -> None:
    rows = "\n".join(f"| ✗ {problem.symptom} | {problem.fix} |" for problem in PROBLEMS)

    assert f"| `oas-mcp check` says | What to do |\n|---|---|\n{rows}\n" in README, f"expected rows:\n{rows}"


def test_the_check_example_is_what_check_prints_on_the_sandbox() -> None:
    printed = command("check", "--sandbox").stdout
    example = block_after("Its exit code is 0 only when all four pass")

    for line in example.splitlines():
        assert TIMESTAMP.sub("TIME", line) in TIMESTAMP.sub("TIME", printed)


def test_the_quick_start_installs_a_client_and_says_how_to_get_oas_mcp_on_the_path() -> None:
    quick_start = README[README.index("## Quick start") : README.index("## Connect a client")]

    assert ".venv/bin/oas-mcp install claude-desktop --sandbox" in quick_start
    assert "source .venv/bin/activate" in quick_start
    assert "npx @modelcontextprotocol/inspector .venv/bin/oas-mcp --sandbox" in quick_start
    assert quick_start.index("source .venv/bin/activate") < README.index("\noas-mcp ")  # before any bare oas-mcp


def test_the_connect_section_installs_each_client_without_a_redirect() -> None:
    commands = block_after("## Connect a client")

    assert [line.split()[2] for line in commands.splitlines()] == list(CLIENTS)  # every client install supports
    assert " > " not in commands  # a redirect would replace the client's file, and every other server in it


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) <= 250


def test_every_link_works_on_pypi_too_and_names_a_file_of_the_repository() -> None:
    links = LINK.findall(README)
    assert 'readme = "README.md"' in (ROOT / "pyproject.toml").read_text()  # the long description on PyPI
    ours = [link.removeprefix(REPOSITORY) for link in links if link.startswith(REPOSITORY)]

    assert [link for link in links if not link.startswith("https://")] == []  # PyPI resolves no relative link
    assert {"docs/clients.md", "docs/settings.md", "CONTRIBUTING.md", "bench/README.md"} <= set(ours)
    assert [link for link in ours if not (ROOT / link.split("#")[0]).is_file()] == []
