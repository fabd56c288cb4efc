"""What is made from the code and kept in the repo, so that it never changes unnoticed.

- ``tests/snapshots/tools.json``: what the model sees of the tools, ``tools/list`` as a real MCP client receives it
  (each tool's name, title, description, input and output schemas and annotations), in every mode that changes it.
  An edit, a new tool or an SDK upgrade that changes any of it fails here, with the difference.
- The settings tables of ``docs/settings.md`` and the README, made from the fields of
  :class:`~oas_mcp.settings.Settings` (their descriptions, defaults, limits and marks): a setting added, or a
  description changed, fails here until the page says it.

After a deliberate change, refresh both with :data:`REFRESH`, read the diff, and commit it with the change.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from cryptography.fernet import Fernet
from mcp import Client
from pydantic.fields import FieldInfo

from oas_mcp.accounts.mcp import LinkedAccounts
from oas_mcp.accounts.store import connect_store
from oas_mcp.cli.options import make_client
from oas_mcp.sandbox import Sandbox
from oas_mcp.server import build_server
from oas_mcp.settings import FLAGS, HTTP_SETTINGS, Settings, env_name, flag_name, is_secret

from support import settings_for

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parent.parent
SNAPSHOT = ROOT / "tests" / "snapshots" / "tools.json"
REFRESH = "UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/test_snapshots.py"
# Never in CI (where CI is set): there a refresh would hide the very change the comparison exists to show.
UPDATING = os.environ.get("UPDATE_SNAPSHOTS") == "1" and not os.environ.get("CI")
LIMITS = ("ge", "gt", "le")  # the bounds of a number a field may carry (annotated_types' Ge, Gt and Le)
# The settings the README shows; docs/settings.md shows them all.
ESSENTIAL = (
    "base_url",
    "api_key",
    "api_key_file",
    "username",
    "email",
    "password",
    "password_file",
    "read_only",
    "log_level",
)
# Each mode that changes what tools/list shows, and its settings. Linked accounts add unlink_account.
MODES: dict[str, dict[str, Any]] = {
    "default": {},
    "read_only": {"read_only": True},
    "per_request_credentials": {"per_request_credentials": True},
    "linked_accounts": {},
}


async def listed(mode: str, folder: Path) -> list[dict[str, Any]]:
    """``tools/list`` of oas-mcp in ``mode``, each tool as JSON, as an in-memory MCP client receives it; ``folder``
    holds the linked accounts' store."""
    settings = settings_for(**MODES[mode])
    linked = None
    if mode == "linked_accounts":
        keys = folder / "keys"
        keys.write_bytes(Fernet.generate_key())
        store = connect_store(settings_for(accounts_key_file=keys, accounts_path=folder / "accounts.sqlite3"))
        linked = LinkedAccounts(store, lambda token: f"https://mcp.example.com/link/{token}")
    sandbox = Sandbox()
    server = build_server(settings, lambda: make_client(settings, sandbox.transport()), linked=linked)
    try:
        async with Client(server) as client:
            tools = (await client.list_tools()).tools
    finally:
        if linked is not None:
            linked.store.close()
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def dumped(snapshot: object) -> str:
    return json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n"


async def test_what_tools_list_shows_in_each_mode_is_the_committed_snapshot(tmp_path: Path) -> None:
    now = {mode: await listed(mode, tmp_path) for mode in MODES}

    if UPDATING:
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(dumped(now))
    committed = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    if committed != now:
        fail("tools/list differs from tests/snapshots/tools.json (what the model sees)", dumped(committed), dumped(now))


def test_linked_accounts_add_unlink_account_and_read_only_drops_the_writers() -> None:
    snapshot = json.loads(SNAPSHOT.read_text())
    names = {mode: [tool["name"] for tool in tools] for mode, tools in snapshot.items()}

    assert set(names) == set(MODES)
    assert set(names["linked_accounts"]) == {*names["default"], "unlink_account"}
    assert set(names["default"]) - set(names["read_only"]) == {"create_organisation", "activate_organisation"}
    assert set(names["default"]) - set(names["per_request_credentials"]) == {"login"}


@pytest.mark.parametrize(("page", "block"), [("README.md", "essential-settings"), ("docs/settings.md", "settings")])
def test_the_settings_tables_are_made_from_the_settings_fields(page: str, block: str) -> None:
    text = (ROOT / page).read_text()
    start = f"<!-- {block}: made from oas_mcp/settings.py by {REFRESH}; edit the fields, not this -->\n"
    end = f"<!-- end of {block} -->\n"
    made = settings_table(ESSENTIAL) if block == "essential-settings" else settings_tables()
    first, last = text.index(start) + len(start), text.index(end)

    if UPDATING:
        (ROOT / page).write_text(text[:first] + made + text[last:])
    elif text[first:last] != made:
        fail(f"{page}'s {block} table differs from the Settings fields", text[first:last], made)


def test_the_settings_tables_name_every_setting_once_with_its_flag_default_and_limits() -> None:
    tables = settings_tables()
    rows = {row.split(" | ")[1].strip("`"): row for row in tables.splitlines() if row.startswith("| `")}

    assert list(rows) == list(Settings.model_fields)
    assert rows["log_level"] == (
        "| `OAS_LOG_LEVEL` | `log_level` | `--log-level` | `INFO` | Log level; logs go to stderr. "
        "One of `DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL`. |"
    )
    assert rows["list_limit"].endswith(
        " | `100` | Default number of organisations list_organisations returns. 1 to 10,000. |"
    )
    assert rows["timeout"].endswith(" | `30` | Seconds to wait for each HTTP request. More than 0, at most 600. |")
    assert "| `--allowed-host NAME` (repeat) |  |" in rows["allowed_hosts"]
    assert [cell.strip() for cell in rows["max_response_bytes"].split("|")][4] == "`8388608` (8 MiB)"
    assert rows["password"].endswith(" Secret. |")
    assert tables.index("`OAS_MAX_RESPONSE_BYTES`") < tables.index("\n### ") < tables.index("`OAS_TRANSPORT`")


def settings_tables() -> str:
    """Every setting, in two Markdown tables: those of any transport, and those of serving over HTTP."""
    names = list(Settings.model_fields)
    common = [name for name in names if name not in HTTP_SETTINGS]
    http = [name for name in names if name in HTTP_SETTINGS]
    return f"{settings_table(common)}\n### Serving over HTTP\n\n{settings_table(http)}"


def settings_table(names: Iterable[str]) -> str:
    """A Markdown table of settings ``names``, in that order."""
    header = "| Environment | TOML key | Flag | Default | Meaning |\n|---|---|---|---|---|\n"
    return header + "".join(row(name, Settings.model_fields[name]) for name in names)


def row(name: str, field: FieldInfo) -> str:
    return (
        f"| `{env_name(name)}` | `{name}` | {flag_of(name, field)} | {default_of(field)} | {meaning(name, field)} |\n"
    )


def flag_of(name: str, field: FieldInfo) -> str:
    if name not in FLAGS:
        return ""
    metavar = FLAGS[name].metavar
    flag = f"`{flag_name(name)}{f' {metavar}' if metavar else ''}`"
    return f"{flag} (repeat)" if get_origin(field.annotation) is list else flag


def default_of(field: FieldInfo) -> str:
    value = field.default
    if value is None or value == []:
        return ""
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and value >= 2**20 and value % 2**20 == 0:
        return f"`{value}` ({value // 2**20} MiB)"
    return f"`{value}`"


def meaning(name: str, field: FieldInfo) -> str:
    """The field's description, then what its type and limits say: its values, its range, that it is secret."""
    parts = [field.description or ""]
    if get_origin(field.annotation) is Literal:
        parts.append(f"One of {', '.join(f'`{value}`' for value in get_args(field.annotation))}.")
    ge, gt, le = (
        next((getattr(mark, kind) for mark in field.metadata if hasattr(mark, kind)), None) for kind in LIMITS
    )
    if ge is not None:
        parts.append(f"{number(ge)} to {number(le)}." if le is not None else f"At least {number(ge)}.")
    elif gt is not None:
        parts.append(f"More than {number(gt)}, at most {number(le)}." if le is not None else f"More than {number(gt)}.")
    elif le is not None:
        parts.append(f"At most {number(le)}.")
    if get_origin(field.annotation) is list:
        parts.append("Comma-separated, or a JSON array, in the environment.")
    if is_secret(name):
        parts.append("Secret.")
    return " ".join(parts).replace("|", "\\|")


def number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def fail(what: str, committed: str, now: str) -> None:
    """Fail the test with the difference between what is committed and what the code makes now, and the fix."""
    diff = difflib.unified_diff(committed.splitlines(), now.splitlines(), "committed", "made now", lineterm="")
    pytest.fail(
        f"{what}:\n" + "\n".join(diff) + f"\n\nIf the change is meant, refresh with\n    {REFRESH}\n"
        "then read the diff and commit it with the change.",
        pytrace=False,
    )
