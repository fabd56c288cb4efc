"""The pages of docs/ (and CONTRIBUTING, the CHANGELOG, bench/README) say what the code does: their examples run,
their links lead somewhere, and they say what is, not what was."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path

import pytest

import oas_mcp.client
from oas_mcp.cli.clients import CLIENTS as CLIENT_FORMATS
from oas_mcp.cli.clients import config_file
from oas_mcp.sandbox import DEMO_API_KEY, DEMO_EMAIL, DEMO_PASSWORD, DEMO_USERNAME, SANDBOX_URL, Sandbox

from support import DOCS, ROOT, block_after

CLIENTS = DOCS["docs/clients.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A path in one of the repository's folders, as a page names it (not inside a URL or another path).
REPOSITORY_PATH = re.compile(
    r"(?<![\w./~$%@:-])((?:oas_mcp|tests|bench|deploy|bundle|docs|\.ci|\.github)/[\w./*-]*[\w/*])"
)
MADE_BY_SCRIPTS = {".ci/interop/"}  # git-ignored: .ci/node-tools installs the interop tests' npm tools there
# How a page tells history instead of what is; the CHANGELOG is where that goes.
HISTORY = re.compile(
    r"before this work|main's commit|at commit|the default before|used to be|previously|the issue measured|issue \d+",
    re.IGNORECASE,
)


@pytest.mark.parametrize(("client", "title"), [(name, client.title) for name, client in CLIENT_FORMATS.items()])
def test_each_client_section_adds_it_with_the_install_command(client: str, title: str) -> None:
    commands = block_after(f"\n### {title}\n", CLIENTS)

    assert commands.startswith(f"oas-mcp install {client}")
    assert " > " not in commands  # a redirect would replace the client's file, and every other server in it


@pytest.mark.parametrize("client", sorted(CLIENT_FORMATS))
def test_the_clients_table_says_where_install_writes_for_each_client_and_scope(
    client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("XDG_CONFIG_HOME", "CODEX_HOME", "COPILOT_HOME"):
        monkeypatch.delenv(variable, raising=False)
    table = CLIENTS.split("<!-- clients:")[1].split("\n\n")[0]
    rows = dict(re.findall(r"^\| ([^|]+?) \| (.+) \|$", table, re.M))
    where = rows.get(CLIENT_FORMATS[client].title, "")
    default, *other = CLIENT_FORMATS[client].scopes

    for scope in (default, *other):
        file = config_file(client, scope)
        if file is None:  # Claude Code's user scope: its claude command writes it
            named = ["claude mcp add-json --scope user"]
        elif scope == "project":
            named = [f"`{file.relative_to(Path.cwd())}`"]
        else:
            named = [f"`~/{file.parent.relative_to(Path.home())}/", file.name]
        assert all(part in where for part in named), f"{client} --{scope}: the table does not say it writes {named}"
        if scope == default and other:  # the default first, then the other scope by its flag
            assert where.index(named[0]) < where.index(f"with `--{other[0]}`")


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
    example = block_after("<!-- pipeline-example", DOCS["docs/scripts.md"])

    for _ in range(2):  # safe to run again: the second run finds the organisation it created
        with pytest.raises(SystemExit) as exited:
            exec(compile(example, "docs/scripts.md", "exec"), {"__name__": "__main__"})
        assert exited.value.code == 0

    assert [org["name"] for org in sandbox.store.organisations.values()].count("Wayne Enterprises") == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["8 Organization Wayne Enterprises is now the active organization."] * 2  # demo data: 1 to 7
    assert sandbox.store.active[1] == 8


@pytest.mark.parametrize("page", sorted(DOCS))
def test_every_link_to_a_page_or_heading_of_the_repository_leads_to_one(page: str) -> None:
    folder = (ROOT / page).parent
    broken = []
    for link in LINK.findall(DOCS[page]):
        if link.startswith(("https://", "http://", "mailto:")):
            continue
        path, _, anchor = link.partition("#")
        target = (folder / path).resolve() if path else ROOT / page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target.read_text()):
            broken.append(f"{link}: no such heading in {target.relative_to(ROOT)}")

    assert broken == []


@pytest.mark.parametrize("page", sorted(DOCS))
def test_every_path_of_the_repository_a_page_names_exists(page: str) -> None:
    named = set(REPOSITORY_PATH.findall(DOCS[page])) - MADE_BY_SCRIPTS

    assert {path for path in named if not any(ROOT.glob(path))} == set()


@pytest.mark.parametrize("page", sorted(set(DOCS) - {"CHANGELOG.md"}))
def test_no_page_tells_history(page: str) -> None:
    assert HISTORY.findall(DOCS[page]) == []


def test_the_docs_pages_are_all_linked_from_the_readme() -> None:
    pages = {page for page in DOCS if page.startswith("docs/")}

    assert pages
    assert {page for page in pages if f"/blob/main/{page})" not in DOCS["README.md"]} == set()


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}
